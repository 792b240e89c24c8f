import { inject, injectable } from 'inversify';
import { ApiKeyStore, type ApiKeyCheck } from './api-key-store.js';
import { EngineConfig } from '../kernel/config.js';
import { Logger } from '../log/logger.js';
import { BoundedCache } from '../cache/bounded-cache.js';

const MAX_ENTRIES = 10_000;
// A cached answer is a small record; keys are well-formed (60 characters): malformed ones are never cached.
const ENTRY_BYTES = 512;
const NEGATIVE_TTL_MS = 5_000;
const TOUCH_INTERVAL_MS = 10_000;

/**
 * Checks API keys with a short-lived, bounded cache in front of {@link ApiKeyStore}, so a warm
 * request does no database round trip. A key revoked through this process stops working at once;
 * one revoked elsewhere (another instance, the database directly) within `credentialCacheTtlMs`.
 * Only well-formed keys are cached (an unknown one for 5 s): junk in the header costs nothing to keep.
 * `last_used_at` is written in batches off the request path.
 */
@injectable()
export class ApiKeyVerifier {
  private readonly cache: BoundedCache<ApiKeyCheck>;
  private readonly used = new Set<string>();
  private touchTimer: NodeJS.Timeout | undefined;

  constructor(
    @inject(ApiKeyStore) private readonly store: ApiKeyStore,
    @inject(EngineConfig) private readonly config: EngineConfig,
    @inject(Logger) private readonly logger: Logger,
  ) {
    this.cache = new BoundedCache({ maxEntries: MAX_ENTRIES, ttlMs: config.credentialCacheTtlMs, sizeOf: () => ENTRY_BYTES });
    store.onRevoke(() => this.invalidate());
  }

  async check(presented: string): Promise<ApiKeyCheck> {
    // Keyed by the presented string itself: this cache lives in this process only, and hashing
    // every request just to look it up costs more than the rest of the check.
    let check = this.cache.get(presented);
    if (check) {
      if (check.status === 'valid' && check.key.expiresAt && check.key.expiresAt.getTime() <= Date.now()) {
        check = { status: 'expired', key: check.key };
      }
    } else {
      check = await this.store.check(presented);
      if (check.status === 'valid') this.cache.set(presented, check);
      else if (check.status !== 'malformed') this.cache.set(presented, check, { ttlMs: NEGATIVE_TTL_MS });
    }
    if (check.status === 'valid') this.markUsed(check.key.id);
    return check;
  }

  /** Forget every cached answer (after a revocation or a change of a key's owner). */
  invalidate(): void {
    this.cache.clear();
  }

  private markUsed(id: string): void {
    this.used.add(id);
    this.touchTimer ??= setTimeout(() => void this.flushUsage(), TOUCH_INTERVAL_MS).unref();
  }

  async flushUsage(): Promise<void> {
    if (this.touchTimer) clearTimeout(this.touchTimer);
    this.touchTimer = undefined;
    const ids = [...this.used];
    this.used.clear();
    try {
      await this.store.touch(ids, new Date());
    } catch (error) {
      this.logger.warn({ err: error }, 'could not record API key usage');
    }
  }
}
