import { inject, injectable } from 'inversify';
import { ChangeFeed, EngineConfig, Logger } from '../../../core/index.js';
import { EnterpriseSettings } from './enterprise-options.js';

interface Entry<T> {
  readonly tenant: string;
  readonly value: T;
  readonly until: number;
}

const MAX_ENTRIES = 10_000;

/** Published when a tenant's agents, agent keys or identity providers change. */
export const IDENTITY_CHANGED = 'ee.identity.changed';

/**
 * Short-lived, bounded memory of identity lookups (verified tokens, agents, a tenant's providers).
 * The stores clear it for a tenant whenever they change that tenant's agents or providers, and the
 * change feed carries that to every instance; its lifetime bounds the delay only while an
 * instance's change listener is down (or for changes made behind the engine's back).
 */
@injectable()
export class CredentialCache {
  readonly ttlMs: number;
  private readonly entries = new Map<string, Entry<unknown>>();

  constructor(
    @inject(EngineConfig) config: EngineConfig,
    @inject(EnterpriseSettings) settings: EnterpriseSettings,
    @inject(ChangeFeed) private readonly changes: ChangeFeed,
    @inject(Logger) private readonly logger: Logger,
  ) {
    this.ttlMs = settings.credentialCacheTtlMs ?? config.credentialCacheTtlMs;
    changes.subscribe(
      IDENTITY_CHANGED,
      (payload) => {
        if (typeof payload.tenant === 'string') this.forgetTenant(payload.tenant);
      },
      () => this.entries.clear(),
    );
  }

  get<T>(key: string): T | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.until <= Date.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.value as T;
  }

  /** Remember `value` for the cache lifetime, or until `notAfter` (epoch ms) when that is sooner. */
  set<T>(tenant: string, key: string, value: T, notAfter?: number): void {
    if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    const until = Math.min(Date.now() + this.ttlMs, notAfter ?? Number.POSITIVE_INFINITY);
    this.entries.set(key, { tenant, value, until });
  }

  /** Forget everything known about `tenant`, here and on every other instance. */
  invalidateTenant(tenant: string): void {
    this.forgetTenant(tenant);
    this.changes.publish(IDENTITY_CHANGED, { tenant }).catch((error: unknown) => {
      this.logger.warn({ err: error, tenant }, 'could not tell other instances about an identity change; they notice within the cache time-to-live');
    });
  }

  private forgetTenant(tenant: string): void {
    for (const [key, entry] of this.entries) if (entry.tenant === tenant) this.entries.delete(key);
  }
}
