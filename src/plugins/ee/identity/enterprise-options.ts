import { checkDurationMs, ConfigError, TENANT_ID } from '../../../core/index.js';
import type { GovernanceOptions } from '../governance.js';

/** Options of `enterpriseEdition(options)`. */
export interface EnterpriseOptions extends GovernanceOptions {
  /**
   * How tenants reach their MCP endpoint.
   * - `path` (default): each tenant has its own canonical MCP URL,
   *   `{publicUrl}{basePath}/t/{tenant}/api/mcp`; tokens must carry that URL as audience.
   * - `host`: each tenant has its own host, `https://{tenant}.mcp.example.com{basePath}/api/mcp`,
   *   from the engine option `tenantHost: '{tenant}.mcp.example.com'` (required for this mode).
   * - `single`: one tenant (`tenant`) served at the plain `{publicUrl}{basePath}/api/mcp`.
   */
  readonly tenancy?: 'path' | 'host' | 'single';
  /** The only tenant, in `single` tenancy. */
  readonly tenant?: string;
  /**
   * How long a verified agent credential (token, agent key, agent lookup) may be reused before
   * the agent's state is read again: the revocation delay for changes made on another instance.
   * Changes made through this instance take effect at once. Default: the engine's
   * `credentialCacheTtlMs` (30 s).
   */
  readonly credentialCacheTtlMs?: number;
  /**
   * Minimum time between two JWKS refetches of one IdP triggered by tokens with an unknown `kid`.
   * Default 30 s.
   */
  readonly jwksRefetchCooldownMs?: number;
  /** How long one JWKS or discovery fetch may take before it counts as failed. Default 5 s. */
  readonly jwksFetchTimeoutMs?: number;
  /**
   * How long an IdP's OpenID discovery document (where its keys are) is reused before it is read
   * again. When reading it again fails for an outage, the last one read stays in use (and the keys
   * fetched from it), and it is tried again after `jwksRefetchCooldownMs`. Default 1 hour.
   */
  readonly discoveryCacheTtlMs?: number;
  /**
   * While an IdP's keys cannot be fetched (or it publishes a key that cannot be used), the log
   * gets one warning when this begins, then at most one summary per this interval with the number
   * of verifications refused meanwhile, and one line when it ends. Default 60 s.
   */
  readonly idpFaultLogIntervalMs?: number;
}

/** {@link EnterpriseOptions} after validation. */
export interface EnterpriseSettings {
  readonly tenancy: 'path' | 'host' | 'single';
  readonly tenant: string | undefined;
  readonly credentialCacheTtlMs: number | undefined;
  readonly jwksRefetchCooldownMs: number;
  readonly jwksFetchTimeoutMs: number;
  readonly discoveryCacheTtlMs: number;
  readonly idpFaultLogIntervalMs: number;
}

export const EnterpriseSettings = Symbol.for('gatehouse.ee.EnterpriseSettings');

// The governance options (adminAuthenticator, audit, rbac, approvals, policies) are validated by registerGovernance.
const OPTION_NAMES = new Set(['tenancy', 'tenant', 'credentialCacheTtlMs', 'jwksRefetchCooldownMs', 'jwksFetchTimeoutMs', 'discoveryCacheTtlMs', 'idpFaultLogIntervalMs', 'adminAuthenticator', 'audit', 'rbac', 'approvals', 'policies']);

/** Validate `enterpriseEdition` options; throws `ConfigError` naming the offending option. */
export function resolveEnterpriseOptions(options: EnterpriseOptions = {}): EnterpriseSettings {
  if (typeof options !== 'object' || options === null) throw new ConfigError('enterpriseEdition(options): options must be an object.');
  for (const name of Object.keys(options)) {
    if (!OPTION_NAMES.has(name)) throw new ConfigError(`enterpriseEdition(options): unknown option "${name}".`);
  }
  const tenancy = options.tenancy ?? 'path';
  if (tenancy !== 'path' && tenancy !== 'host' && tenancy !== 'single') {
    throw new ConfigError(`enterpriseEdition(options): tenancy must be "path", "host" or "single", not "${String(tenancy)}".`);
  }
  if (tenancy === 'single') {
    if (options.tenant === undefined) throw new ConfigError('enterpriseEdition(options): tenancy "single" needs tenant: "<tenant id>".');
    if (typeof options.tenant !== 'string' || !TENANT_ID.test(options.tenant)) {
      throw new ConfigError(`enterpriseEdition(options): tenant "${String(options.tenant)}" is not a valid tenant id (1-63 lowercase letters, digits and inner hyphens).`);
    }
  } else if (options.tenant !== undefined) {
    throw new ConfigError(`enterpriseEdition(options): tenant is only used with tenancy "single"; in "${tenancy}" tenancy the URL names the tenant.`);
  }
  const duration = (value: number | undefined, name: string): number | undefined => {
    if (value === undefined) return undefined;
    return checkDurationMs(value, `enterpriseEdition(options): ${name}`);
  };
  return Object.freeze({
    tenancy,
    tenant: tenancy === 'single' ? options.tenant : undefined,
    credentialCacheTtlMs: duration(options.credentialCacheTtlMs, 'credentialCacheTtlMs'),
    jwksRefetchCooldownMs: duration(options.jwksRefetchCooldownMs, 'jwksRefetchCooldownMs') ?? 30_000,
    jwksFetchTimeoutMs: duration(options.jwksFetchTimeoutMs, 'jwksFetchTimeoutMs') ?? 5_000,
    discoveryCacheTtlMs: duration(options.discoveryCacheTtlMs, 'discoveryCacheTtlMs') ?? 60 * 60_000,
    idpFaultLogIntervalMs: duration(options.idpFaultLogIntervalMs, 'idpFaultLogIntervalMs') ?? 60_000,
  });
}
