import { expect } from 'chai';
import { BackgroundWork, InstanceRegistry } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';

describe('Background work and the instance registry', () => {
  let a: TestEngine;
  let b: TestEngine;
  before(async () => {
    a = await createTestEngine({ plugins: [communityEdition()], connect: false });
    b = await createTestEngine({ plugins: [communityEdition()], connect: false });
  });
  after(async () => {
    await a?.close();
    await b?.close();
  });

  it('runs a job on one instance at a time: the other skips the round while the first holds the lock', async () => {
    let running = 0;
    let most = 0;
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const firstIn = new Promise<void>((resolve) => (entered = resolve));
    const job = (wait?: Promise<void>) => async () => {
      running++;
      most = Math.max(most, running);
      entered();
      await wait;
      running--;
    };
    // The first holds the lock until the second has had its round.
    const first = a.engine.resolve(BackgroundWork).runExclusive('test.exclusive', job(held));
    await firstIn;
    const second = b.engine.resolve(BackgroundWork).runExclusive('test.exclusive', job());
    // On PostgreSQL the second skips at once; the embedded database (one connection per process)
    // makes it wait for the first's transaction instead.
    if (process.env.DATABASE_URL !== undefined) await second;
    release();
    const ran = [await first, await second];
    if (process.env.DATABASE_URL !== undefined) expect(ran).to.deep.equal([true, false]);
    expect(most).to.equal(1);
    // Once released, the next round runs.
    expect(await b.engine.resolve(BackgroundWork).runExclusive('test.exclusive', job())).to.equal(true);
  });

  it('runs serialized work on every instance that asks, one at a time: the second waits for the first instead of skipping', async () => {
    let running = 0;
    let most = 0;
    const order: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let entered!: () => void;
    const firstIn = new Promise<void>((resolve) => (entered = resolve));
    const job = (name: string, wait?: Promise<void>) => async () => {
      running++;
      most = Math.max(most, running);
      order.push(`${name} in`);
      entered();
      await wait;
      order.push(`${name} out`);
      running--;
      return name;
    };
    const first = a.engine.resolve(BackgroundWork).runSerialized('test.serialized', job('first', held));
    await firstIn;
    const second = b.engine.resolve(BackgroundWork).runSerialized('test.serialized', job('second'));
    // The second waits while the first holds the lock (on the embedded database each engine has its own).
    await new Promise((resolve) => setImmediate(resolve));
    release();
    expect(await Promise.all([first, second])).to.deep.equal(['first', 'second']);
    expect(most).to.equal(1);
    expect(order).to.deep.equal(['first in', 'first out', 'second in', 'second out']);
  });

  it('lists running instances with their heartbeat, and forgets one that stopped', async () => {
    const c = await createTestEngine({ plugins: [communityEdition()], connect: false });
    const ids = async () => (await a.engine.resolve(InstanceRegistry).live()).map((instance) => instance.id);
    const id = (await (await fetch(`${c.url}/healthz`)).json()) as { instance: string };
    expect(await ids()).to.include(id.instance);
    await c.close();
    expect(await ids()).to.not.include(id.instance);
  });
});
