import { inject, injectable } from 'inversify';
import { trace } from '@opentelemetry/api';
import { ApiKeyStore, type ApiKeyCheck } from './api-key-store.js';
import { EngineConfig } from '../kernel/config.js';
import { Logger, safeLog } from '../log/logger.js';
import { ChangeFeed } from '../ports/change-feed.js';
import { BoundedCache } from '../cache/bounded-cache.js';
import { BackgroundWork } from '../fleet/background-work.js';

/** The background job that writes the batched `last_used_at` of API keys. */
export const API_KEY_USAGE_JOB = 'api-keys.last-used';

/** Published when an API key is revoked or its owner changes: every instance forgets cached checks. */
export const API_KEYS_CHANGED = 'api-keys.changed';

const MAX_ENTRIES = 10_000;
// A cached answer is a small record; keys are well-formed (60 characters): malformed ones are never cached.
const ENTRY_BYTES = 512;
const NEGATIVE_TTL_MS = 5_000;
const TOUCH_INTERVAL_MS = 10_000;

/**
 * Checks API keys with a short-lived, bounded cache in front of {@link ApiKeyStore}, so a warm
 * request does no database round trip. A key revoked through this process stops working at once;
 * one revoked through another instance as soon as the change feed delivers it (well under a
 * second); one changed behind the engine's back (the database directly) within `credentialCacheTtlMs`.
 * Only well-formed keys are cached (an unknown one for 5 s): junk in the header costs nothing to keep.
 * `last_used_at` is written in batches off the request path.
 */
@injectable()
export class ApiKeyVerifier {
  private readonly cache: BoundedCache<ApiKeyCheck>;
  private readonly used = new Set<string>();
  private touchTimer: NodeJS.Timeout | undefined;
  // Bumped on every invalidation, so a check that raced with a revocation is not cached.
  private generation = 0;

  constructor(
    @inject(ApiKeyStore) private readonly store: ApiKeyStore,
    @inject(EngineConfig) private readonly config: EngineConfig,
    @inject(Logger) private readonly logger: Logger,
    @inject(ChangeFeed) private readonly changes: ChangeFeed,
    @inject(BackgroundWork) private readonly work: BackgroundWork,
  ) {
    this.cache = new BoundedCache({ maxEntries: MAX_ENTRIES, ttlMs: config.credentialCacheTtlMs, sizeOf: () => ENTRY_BYTES });
    store.onRevoke((id) => this.invalidate({ id }));
    const forget = (): void => this.forget();
    changes.subscribe(API_KEYS_CHANGED, forget, forget);
  }

  async check(presented: string): Promise<ApiKeyCheck> {
    return this.checkNow(presented);
  }

  /**
   * {@link check}, answered at once (no promise) from the cache: a promise only when the store is
   * asked. For the hot path, where every promise costs (and more so with async context tracking).
   */
  checkNow(presented: string): ApiKeyCheck | Promise<ApiKeyCheck> {
    // Keyed by the presented string itself: this cache lives in this process only, and hashing
    // every request just to look it up costs more than the rest of the check.
    let check = this.cache.get(presented);
    if (check === undefined) return this.miss(presented);
    if (check.status === 'valid' && check.key.expiresAt && check.key.expiresAt.getTime() <= Date.now()) {
      check = { status: 'expired', key: check.key };
    }
    return this.checked(check, 'hit');
  }

  private async miss(presented: string): Promise<ApiKeyCheck> {
    const generation = this.generation;
    const check = await this.store.check(presented);
    if (generation === this.generation && check.status !== 'malformed') {
      this.cache.set(presented, check, check.status === 'valid' ? {} : { ttlMs: NEGATIVE_TTL_MS });
    }
    return this.checked(check, 'miss');
  }

  private checked(check: ApiKeyCheck, cache: 'hit' | 'miss'): ApiKeyCheck {
    trace.getActiveSpan()?.setAttribute('gatehouse.auth.cache', cache);
    if (check.status === 'valid') this.markUsed(check.key.id);
    return check;
  }

  /**
   * Forget every cached answer (after a revocation or a change of a key's owner), here and on
   * every other instance.
   */
  invalidate(change: { readonly id?: string } = {}): void {
    this.forget();
    this.changes.publish(API_KEYS_CHANGED, change.id ? { id: change.id } : {}).catch((error: unknown) => {
      safeLog(this.logger, 'warn', { err: error }, 'could not tell other instances about an API key change; they notice within the cache time-to-live');
    });
  }

  private forget(): void {
    this.generation++;
    this.cache.clear();
  }

  private markUsed(id: string): void {
    this.used.add(id);
    this.touchTimer ??= setTimeout(() => void this.flushUsage(), TOUCH_INTERVAL_MS).unref();
  }

  /**
   * Write the batched `last_used_at` of keys used here, under the fleet's advisory lock for this
   * job (waiting for it): two instances never write these rows at once.
   */
  async flushUsage(): Promise<void> {
    if (this.touchTimer) clearTimeout(this.touchTimer);
    this.touchTimer = undefined;
    const ids = [...this.used];
    this.used.clear();
    if (ids.length === 0) return;
    const at = new Date();
    try {
      await this.work.runSerialized(API_KEY_USAGE_JOB, (trx) => this.store.touch(ids, at, trx));
    } catch (error) {
      safeLog(this.logger, 'warn', { err: error }, 'could not record API key usage');
    }
  }
}
