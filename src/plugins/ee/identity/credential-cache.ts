import { inject, injectable } from 'inversify';
import { BoundedCache, ChangeFeed, EngineConfig, Logger, safeLog, approximateBytes } from '../../../core/index.js';
import { EnterpriseSettings } from './enterprise-options.js';

interface Entry {
  readonly tenant: string;
  readonly value: unknown;
}

const MAX_ENTRIES = 10_000;
const MAX_BYTES = 32 * 1024 * 1024;

/** Published when a tenant's agents, agent keys or identity providers change. */
export const IDENTITY_CHANGED = 'ee.identity.changed';

/**
 * Short-lived, bounded memory of identity lookups (verified tokens, agents, a tenant's providers).
 * The stores clear it for a tenant whenever they change that tenant's agents or providers, and the
 * change feed carries that to every instance; its lifetime bounds the delay only while an
 * instance's change listener is down (or for changes made behind the engine's back). Only what was
 * verified or found is stored: a credential that fails to parse or verify is never cached.
 */
@injectable()
export class CredentialCache {
  readonly ttlMs: number;
  private readonly entries: BoundedCache<Entry>;

  constructor(
    @inject(EngineConfig) config: EngineConfig,
    @inject(EnterpriseSettings) settings: EnterpriseSettings,
    @inject(ChangeFeed) private readonly changes: ChangeFeed,
    @inject(Logger) private readonly logger: Logger,
  ) {
    this.ttlMs = settings.credentialCacheTtlMs ?? config.credentialCacheTtlMs;
    this.entries = new BoundedCache<Entry>({ maxEntries: MAX_ENTRIES, maxBytes: MAX_BYTES, ttlMs: this.ttlMs, sizeOf: (entry) => approximateBytes(entry.value) });
    changes.subscribe(
      IDENTITY_CHANGED,
      (payload) => {
        if (typeof payload.tenant === 'string') this.forgetTenant(payload.tenant);
      },
      () => this.entries.clear(),
    );
  }

  get<T>(key: string): T | undefined {
    return this.entries.get(key)?.value as T | undefined;
  }

  /** Entries and estimated bytes held (bounded by 10 000 and 32 MiB). */
  get usage(): { readonly entries: number; readonly bytes: number } {
    return { entries: this.entries.size, bytes: this.entries.bytes };
  }

  /**
   * Remember `value` for the cache lifetime, or until `notAfter` (epoch ms) when that is sooner.
   * A `notAfter` that is no number of milliseconds (NaN) stores nothing; an infinite one means the
   * cache lifetime.
   */
  set<T>(tenant: string, key: string, value: T, notAfter?: number): void {
    if (Number.isNaN(notAfter)) return;
    const ttlMs = notAfter === undefined || notAfter === Number.POSITIVE_INFINITY ? undefined : notAfter - Date.now();
    if (ttlMs !== undefined && ttlMs <= 0) return;
    this.entries.set(key, { tenant, value }, { ttlMs });
  }

  /** Forget everything known about `tenant`, here and on every other instance. */
  invalidateTenant(tenant: string): void {
    this.forgetTenant(tenant);
    this.changes.publish(IDENTITY_CHANGED, { tenant }).catch((error: unknown) => {
      safeLog(this.logger, 'warn', { err: error, tenant }, 'could not tell other instances about an identity change; they notice within the cache time-to-live');
    });
  }

  private forgetTenant(tenant: string): void {
    this.entries.deleteWhere((entry) => entry.tenant === tenant);
  }
}
