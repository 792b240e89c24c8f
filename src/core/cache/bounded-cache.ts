import { LRUCache } from 'lru-cache';
import type { Clock } from '../ports/clock.js';

export interface BoundedCacheOptions<V> {
  /** Most entries held; the least recently used goes first. */
  readonly maxEntries: number;
  /**
   * Most bytes held, as estimated by `sizeOf` (keys count too). An entry larger than the whole
   * budget is not stored at all. Default: 16 MiB.
   */
  readonly maxBytes?: number;
  /** How long an entry lives after it is set, in ms. `0` = no expiry (only eviction). */
  readonly ttlMs: number;
  /**
   * The estimated size of a value in bytes, without its key. Default: 256 (a small record); give
   * one when values can be large or vary (strings, arrays, objects built from input).
   */
  readonly sizeOf?: (value: V) => number;
  /** Called when an entry leaves for any reason but `set` over it (evicted, expired, deleted, cleared). */
  readonly onRemove?: (value: V, key: string) => void;
  /** A source of milliseconds (monotonic is best); tests pass a fake one. Default: `performance`. */
  readonly clock?: Clock;
}

/** About what a JavaScript string key costs in memory (UTF-16 plus the string's header). */
const keyBytes = (key: string): number => key.length * 2 + 32;
const DEFAULT_VALUE_BYTES = 256;
const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;

/**
 * The engine's one in-process cache: string keys, least-recently-used eviction, a time to live,
 * and a bound in both entries and (estimated) bytes, on `lru-cache`. Every in-memory lookup cache
 * (API keys, credentials, permissions, sessions, client log levels) is one of these, so none can
 * grow past what it was given, whatever callers send.
 *
 * ```ts
 * const cache = new BoundedCache<Agent>({ maxEntries: 10_000, ttlMs: 30_000 });
 * cache.set(key, agent);                 // lives 30 s, or until evicted
 * cache.set(key, agent, { ttlMs: 5_000 }); // a shorter life for this entry
 * cache.get(key);                        // undefined once expired or evicted
 * cache.deleteWhere((value, key) => key.startsWith(`${tenant}\u0000`));
 * ```
 */
export class BoundedCache<V extends NonNullable<unknown>> {
  private readonly lru: LRUCache<string, V>;
  readonly ttlMs: number;

  constructor(options: BoundedCacheOptions<V>) {
    if (!(options.maxEntries >= 1)) throw new RangeError('BoundedCache needs maxEntries >= 1.');
    const sizeOf = options.sizeOf ?? (() => DEFAULT_VALUE_BYTES);
    this.ttlMs = options.ttlMs;
    const onRemove = options.onRemove;
    this.lru = new LRUCache<string, V>({
      max: options.maxEntries,
      maxSize: options.maxBytes ?? DEFAULT_MAX_BYTES,
      sizeCalculation: (value, key) => Math.max(1, Math.ceil(sizeOf(value) + keyBytes(key))),
      ttl: options.ttlMs > 0 ? options.ttlMs : undefined,
      ttlAutopurge: false,
      perf: options.clock,
      ttlResolution: options.clock ? 0 : 1,
      dispose: onRemove ? (value, key, reason) => {
        if (reason !== 'set') onRemove(value, key);
      } : undefined,
    });
  }

  /** The live value under `key`, or undefined (absent, expired or evicted). Marks it recently used. */
  get(key: string): V | undefined {
    return this.lru.get(key);
  }

  has(key: string): boolean {
    return this.lru.has(key);
  }

  /** Store `value`; `ttlMs` shortens (never lengthens past the cache's own) this entry's life. */
  set(key: string, value: V, options: { ttlMs?: number } = {}): void {
    const ttl = options.ttlMs === undefined ? undefined : Math.max(1, this.ttlMs > 0 ? Math.min(options.ttlMs, this.ttlMs) : options.ttlMs);
    this.lru.set(key, value, ttl === undefined ? undefined : { ttl });
  }

  delete(key: string): boolean {
    return this.lru.delete(key);
  }

  /** Delete every entry the predicate matches (e.g. one tenant's). */
  deleteWhere(predicate: (value: V, key: string) => boolean): number {
    let removed = 0;
    for (const [key, value] of [...this.lru.entries()]) {
      if (predicate(value, key)) {
        this.lru.delete(key);
        removed++;
      }
    }
    return removed;
  }

  clear(): void {
    this.lru.clear();
  }

  /** Live values, most recently used first. */
  values(): V[] {
    return [...this.lru.values()];
  }

  /** Entries held (expired ones not yet swept included). */
  get size(): number {
    return this.lru.size;
  }

  /** Estimated bytes held. */
  get bytes(): number {
    return this.lru.calculatedSize;
  }
}

/** A rough size of a JSON-like value in bytes, for `sizeOf`. Bounded work: stops at `limit`. */
export function approximateBytes(value: unknown, limit = 1024 * 1024): number {
  let total = 0;
  const stack: unknown[] = [value];
  const seen = new Set<object>();
  while (stack.length && total < limit) {
    const item = stack.pop();
    if (typeof item === 'string') total += item.length * 2 + 16;
    else if (typeof item === 'number' || typeof item === 'boolean' || typeof item === 'bigint') total += 16;
    else if (item instanceof Date) total += 32;
    else if (typeof item === 'object' && item !== null && !seen.has(item)) {
      seen.add(item);
      total += 32;
      for (const [key, child] of Object.entries(item)) {
        total += key.length * 2 + 16;
        stack.push(child);
      }
    }
  }
  return total;
}
