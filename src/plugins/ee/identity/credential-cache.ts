import { inject, injectable } from 'inversify';
import { BoundedCache, EngineConfig, approximateBytes } from '../../../core/index.js';
import { EnterpriseSettings } from './enterprise-options.js';

interface Entry {
  readonly tenant: string;
  readonly value: unknown;
}

const MAX_ENTRIES = 10_000;
const MAX_BYTES = 32 * 1024 * 1024;

/**
 * Short-lived, bounded memory of identity lookups (verified tokens, agents, a tenant's providers).
 * Its lifetime is the revocation delay for changes made on other instances; the stores clear it
 * for a tenant whenever they change that tenant's agents or providers here. Only what was verified
 * or found is stored: a credential that fails to parse or verify is never cached.
 */
@injectable()
export class CredentialCache {
  readonly ttlMs: number;
  private readonly entries: BoundedCache<Entry>;

  constructor(
    @inject(EngineConfig) config: EngineConfig,
    @inject(EnterpriseSettings) settings: EnterpriseSettings,
  ) {
    this.ttlMs = settings.credentialCacheTtlMs ?? config.credentialCacheTtlMs;
    this.entries = new BoundedCache<Entry>({ maxEntries: MAX_ENTRIES, maxBytes: MAX_BYTES, ttlMs: this.ttlMs, sizeOf: (entry) => approximateBytes(entry.value) });
  }

  get<T>(key: string): T | undefined {
    return this.entries.get(key)?.value as T | undefined;
  }

  /** Remember `value` for the cache lifetime, or until `notAfter` (epoch ms) when that is sooner. */
  set<T>(tenant: string, key: string, value: T, notAfter?: number): void {
    const ttlMs = notAfter === undefined ? undefined : notAfter - Date.now();
    if (ttlMs !== undefined && ttlMs <= 0) return;
    this.entries.set(key, { tenant, value }, { ttlMs });
  }

  /** Forget everything known about `tenant`. */
  invalidateTenant(tenant: string): void {
    this.entries.deleteWhere((entry) => entry.tenant === tenant);
  }
}
