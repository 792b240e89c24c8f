import { checkDurationMs, ConfigError } from '../../../core/index.js';

/** Settings of tenant policies, from `enterpriseEdition({ policies })`. */
export interface PolicySettings {
  /**
   * The IANA time zone of `context.time` (`hour`, `minute`, `weekday`, `date`), e.g.
   * `Europe/Berlin`. Default `UTC`. `context.time.now` is the instant itself, whatever the zone.
   */
  readonly timeZone: string;
  /**
   * How long an instance reuses a tenant's compiled policy set before it checks the set's version
   * in the database. Changes reach every instance at once through the change feed; this bounds the
   * delay only while an instance's listener is down. Default 10 s.
   */
  readonly cacheTtlMs: number;
}

export const PolicySettings = Symbol.for('gatehouse.ee.PolicySettings');

export const DEFAULT_POLICY_SETTINGS: PolicySettings = Object.freeze({ timeZone: 'UTC', cacheTtlMs: 10_000 });

export function policySettings(options: Partial<PolicySettings> = {}): PolicySettings {
  if (typeof options !== 'object' || options === null) throw new ConfigError('enterpriseEdition(options): policies must be an object.');
  for (const [name, value] of Object.entries(options)) {
    if (name === 'timeZone') {
      let valid = typeof value === 'string';
      try {
        if (valid) new Intl.DateTimeFormat('en-US', { timeZone: value as string });
      } catch {
        valid = false;
      }
      if (!valid) throw new ConfigError('enterpriseEdition(options): policies.timeZone must be an IANA time zone such as "Europe/Berlin".');
    } else if (name === 'cacheTtlMs') {
      checkDurationMs(value, 'enterpriseEdition(options): policies.cacheTtlMs');
    } else throw new ConfigError(`enterpriseEdition(options): unknown option "policies.${name}".`);
  }
  return Object.freeze({ ...DEFAULT_POLICY_SETTINGS, ...options });
}
