import { expect } from 'chai';
import { ApiKeyStore, ChangeFeed, type ChangePayload } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, testDatabase, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { PinoLogger } from '@gatehouse-mcp/engine';
import { PostgresChangeFeed } from '../../src/core/changes/postgres-change-feed.js';
import { watchOverlappingQueries } from '../support/overlapping-queries.js';
import { pgProxy } from '../support/pg-proxy.js';

const onServer = process.env.DATABASE_URL !== undefined;

async function listTools(t: TestEngine, key: string): Promise<number> {
  const res = await fetch(t.engine.mcpUrl(), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${key}` },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
  });
  await res.body?.cancel();
  return res.status;
}

async function health(t: TestEngine): Promise<{ status: string; changes: { mode: string; status: string; detail: string } }> {
  const res = await fetch(`${t.url}/healthz`);
  return (await res.json()) as never;
}

async function until(what: string, check: () => Promise<boolean>, withinMs: number): Promise<number> {
  const start = performance.now();
  for (;;) {
    if (await check()) return performance.now() - start;
    if (performance.now() - start > withinMs) throw new Error(`${what} did not happen within ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('Change feed', () => {
  describe('on the embedded database (chosen with embedded: true, even where DATABASE_URL is set)', function () {
    // Booting the embedded database (WebAssembly) takes a while on a loaded machine.
    this.timeout(120_000);
    let t: TestEngine;
    before(async () => {
      // Embedded whether or not this run has a PostgreSQL server (DATABASE_URL).
      t = await createTestEngine({ plugins: [communityEdition()], connect: false, database: { embedded: true, dataDir: 'memory://' } });
    });
    after(() => t?.close());

    it('says it serves a single instance and delivers changes within the process', async () => {
      const body = await health(t);
      expect(body.status).to.equal('ok');
      expect(body.changes).to.include({ mode: 'in-process', status: 'single-instance' });
      expect(body.changes.detail).to.match(/single instance/);
      const feed = t.engine.resolve<ChangeFeed>(ChangeFeed);
      const heard: ChangePayload[] = [];
      const stop = feed.subscribe('test.thing', (payload) => heard.push(payload));
      await feed.publish('test.thing', { id: 'a' });
      stop();
      await feed.publish('test.thing', { id: 'b' });
      expect(heard).to.deep.equal([{ id: 'a' }]);
    });
  });

  describe('on PostgreSQL, two instances on one database', function () {
    if (!onServer) before(function () { this.skip(); });
    let a: TestEngine;
    let b: TestEngine;
    before(async () => {
      a = await createTestEngine({ plugins: [communityEdition()], connect: false });
      b = await createTestEngine({ plugins: [communityEdition()], connect: false, tenant: a.tenant });
    });
    after(async () => {
      await a?.close();
      await b?.close();
    });

    it('both listen, and a change published on one reaches the other', async () => {
      expect((await health(a)).changes).to.include({ mode: 'postgres', status: 'listening' });
      expect((await health(b)).changes).to.include({ mode: 'postgres', status: 'listening' });
      const heard: ChangePayload[] = [];
      const stop = b.engine.resolve<ChangeFeed>(ChangeFeed).subscribe('test.ping', (payload) => heard.push(payload));
      try {
        await a.engine.resolve<ChangeFeed>(ChangeFeed).publish('test.ping', { n: 1 });
        await until('delivery', async () => heard.length === 1, 1000);
        expect(heard).to.deep.equal([{ n: 1 }]);
      } finally {
        stop();
      }
    });

    it('this instance’s own subscribers hear a change when it is published, not a database round trip later (an agent’s changed attributes were missed by its next call)', async () => {
      const feed = a.engine.resolve<ChangeFeed>(ChangeFeed);
      const heard: ChangePayload[] = [];
      const stop = feed.subscribe('test.now', (payload) => heard.push(payload));
      try {
        const publishing = feed.publish('test.now', { n: 1 });
        expect(heard).to.deep.equal([{ n: 1 }]);
        await publishing;
        // Its own notification, coming back from the database, is not delivered a second time.
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect(heard).to.deep.equal([{ n: 1 }]);
      } finally {
        stop();
      }
    });

    it('a key revoked on one instance is refused by the other within a second, although the other had it cached', async () => {
      const { id, secret } = await a.createKey();
      expect(await listTools(b, secret)).to.equal(200); // now cached on b
      expect(await a.engine.resolve(ApiKeyStore).revoke(a.tenant, id)).to.equal(true);
      const took = await until('refusal on the other instance', async () => (await listTools(b, secret)) === 401, 1000);
      expect(took).to.be.below(1000);
    });

    it('a lost listening connection clears the caches, shows in health, and comes back', async () => {
      const { id, secret } = await a.createKey();
      expect(await listTools(b, secret)).to.equal(200);
      // Revoked behind the engine's back: no notification, so b keeps its cached answer...
      const knex = await testDatabase();
      await knex('api_keys').where({ id }).update({ revoked_at: knex.fn.now() });
      expect(await listTools(b, secret)).to.equal(200);
      // ...until b loses its listener: then it forgets what it cached.
      const instance = (await health(b)) as unknown as { instance: string };
      const killed = (await knex.raw('select pg_terminate_backend(pid) as ok from pg_stat_activity where application_name = ?', [`gatehouse-listen-${instance.instance.slice(0, 8)}`])) as { rows: unknown[] };
      expect(killed.rows).to.have.length(1);
      await until('the cache is cleared', async () => (await listTools(b, secret)) === 401, 2000);
      await until('the listener is back', async () => (await health(b)).changes.status === 'listening', 5000);
      expect((await health(b)).status).to.equal('ok');
    });
  });

  describe('on PostgreSQL, with a listening connection that stops answering', function () {
    if (!onServer) before(function () { this.skip(); });

    it('checks it one select 1 at a time: a check due while the last one is unanswered sends nothing (it was sent on a connection still running one)', async () => {
      const proxy = await pgProxy(new URL(process.env.DATABASE_URL!));
      const lines: string[] = [];
      const feed = new PostgresChangeFeed({
        knex: await testDatabase(),
        listenConnection: proxy.url(process.env.DATABASE_URL!),
        logger: new PinoLogger('error', { write: (line) => lines.push(line) }),
        instanceId: crypto.randomUUID(),
        checkIntervalMs: 20,
      });
      let watch: ReturnType<typeof watchOverlappingQueries> | undefined;
      try {
        await feed.start();
        expect(feed.state().status).to.equal('listening');
        watch = watchOverlappingQueries();
        proxy.blackhole(true);
        // Many checks come due while the first one waits for its answer (given up after 5 s).
        await new Promise((resolve) => setTimeout(resolve, 400));
        expect(feed.state().status).to.equal('listening');
      } finally {
        watch?.stop();
        await proxy.close();
        await feed.stop();
      }
      expect(watch.overlaps, 'queries sent on a busy connection').to.deep.equal([]);
      expect(watch.warnings).to.deep.equal([]);
    });
  });

  describe('on PostgreSQL, with a listening connection that cannot connect', function () {
    if (!onServer) before(function () { this.skip(); });
    let t: TestEngine;
    before(async () => {
      // A closed port: what a listen URL pointing at a pooler that is down looks like.
      t = await createTestEngine({ plugins: [communityEdition()], database: { knex: await testDatabase(), listenUrl: 'postgres://postgres@127.0.0.1:1/test' } });
    });
    after(() => t?.close());

    it('serves on its cache time-to-live and says so in health', async () => {
      const body = await health(t);
      expect(body.status).to.equal('degraded');
      expect(body.changes).to.include({ mode: 'postgres', status: 'lost' });
      expect(body.changes.detail).to.match(/time-to-live/);
      expect((await t.client.listTools()).tools).to.be.an('array');
    });
  });
});
