import { expect } from 'chai';
import { BoundedCache } from '@gatehouse-mcp/engine';

/** A clock the test moves by hand: no sleeps, no timing luck. */
function manualClock(start = 1_000) {
  let now = start;
  return { now: () => now, advance: (ms: number) => { now += ms; } };
}

describe('BoundedCache: the one in-process cache (LRU, TTL, entries and bytes bounded)', () => {
  it('an entry expires once its time to live has passed, by the injected clock', () => {
    const clock = manualClock();
    const cache = new BoundedCache<string>({ maxEntries: 10, ttlMs: 1_000, clock });
    cache.set('a', 'alpha');
    clock.advance(1_000);
    expect(cache.get('a')).to.equal('alpha');
    clock.advance(1);
    expect(cache.get('a')).to.equal(undefined);
  });

  it('a per-entry ttl can shorten an entry’s life but never lengthen it past the cache’s', () => {
    const clock = manualClock();
    const cache = new BoundedCache<string>({ maxEntries: 10, ttlMs: 1_000, clock });
    cache.set('short', 'x', { ttlMs: 100 });
    cache.set('long', 'y', { ttlMs: 60_000 });
    clock.advance(101);
    expect(cache.get('short')).to.equal(undefined);
    expect(cache.get('long')).to.equal('y');
    clock.advance(900);
    expect(cache.get('long')).to.equal(undefined);
  });

  it('flooded with 50,000 entries it holds maxEntries, and the most recently used survive', () => {
    const cache = new BoundedCache<string>({ maxEntries: 1_000, ttlMs: 60_000 });
    cache.set('hot', 'kept');
    for (let i = 0; i < 50_000; i++) {
      cache.set(`junk-${i}`, 'x');
      if (i % 500 === 0) cache.get('hot');
    }
    expect(cache.size).to.equal(1_000);
    expect(cache.get('hot')).to.equal('kept');
    expect(cache.get('junk-0')).to.equal(undefined);
  });

  it('flooded with large keys it stays within maxBytes, counting the keys', () => {
    const cache = new BoundedCache<string>({ maxEntries: 100_000, maxBytes: 1_000_000, ttlMs: 60_000, sizeOf: (value) => value.length * 2 });
    for (let i = 0; i < 2_000; i++) cache.set(`${i}:${'k'.repeat(15_000)}`, 'v');
    expect(cache.bytes).to.be.at.most(1_000_000);
    expect(cache.size).to.be.below(40);
    expect(cache.size).to.be.above(0);
  });

  it('an entry larger than the whole byte budget is not stored', () => {
    const cache = new BoundedCache<string>({ maxEntries: 10, maxBytes: 1_000, ttlMs: 60_000, sizeOf: (value) => value.length * 2 });
    cache.set('big', 'x'.repeat(1_000));
    expect(cache.get('big')).to.equal(undefined);
    expect(cache.size).to.equal(0);
  });

  it('deleteWhere removes what matches; onRemove hears evictions and deletions but not overwrites', () => {
    const removed: string[] = [];
    const cache = new BoundedCache<string>({ maxEntries: 3, ttlMs: 60_000, onRemove: (value, key) => removed.push(`${key}=${value}`) });
    cache.set('t1\u0000a', '1');
    cache.set('t1\u0000a', '1b');
    cache.set('t1\u0000b', '2');
    cache.set('t2\u0000a', '3');
    expect(cache.deleteWhere((_, key) => key.startsWith('t1\u0000'))).to.equal(2);
    expect(cache.values()).to.deep.equal(['3']);
    cache.set('x', '4');
    cache.set('y', '5');
    cache.set('z', '6');
    expect(removed.sort()).to.deep.equal(['t1\u0000a=1b', 't1\u0000b=2', 't2\u0000a=3']);
  });
});
