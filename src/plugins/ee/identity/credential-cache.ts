import { inject, injectable } from 'inversify';
import { EngineConfig } from '../../../core/index.js';
import { EnterpriseSettings } from './enterprise-options.js';

interface Entry<T> {
  readonly tenant: string;
  readonly value: T;
  readonly until: number;
}

const MAX_ENTRIES = 10_000;

/**
 * Short-lived, bounded memory of identity lookups (verified tokens, agents, a tenant's providers).
 * Its lifetime is the revocation delay for changes made on other instances; the stores clear it
 * for a tenant whenever they change that tenant's agents or providers here.
 */
@injectable()
export class CredentialCache {
  readonly ttlMs: number;
  private readonly entries = new Map<string, Entry<unknown>>();

  constructor(
    @inject(EngineConfig) config: EngineConfig,
    @inject(EnterpriseSettings) settings: EnterpriseSettings,
  ) {
    this.ttlMs = settings.credentialCacheTtlMs ?? config.credentialCacheTtlMs;
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

  /** Forget everything known about `tenant`. */
  invalidateTenant(tenant: string): void {
    for (const [key, entry] of this.entries) if (entry.tenant === tenant) this.entries.delete(key);
  }
}
