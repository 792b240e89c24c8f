/**
 * A statement that waits on a lock someone holds (an operator's `LOCK TABLE`, a long migration on
 * another instance) or on a database too busy to answer used to hold its request, and its pooled
 * connection, until the client gave up: a call with a key the engine had not seen yet hung for as
 * long as the lock on `api_keys` was held. Statements are now cancelled by the server after
 * `database.statementTimeoutMs` and the request is answered 503 with `Retry-After`; a database that
 * stops answering at the network level is given up on 5 s later, and the connection with it.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import knexFactory, { type Knex } from 'knex';
import { AuditSink, Authenticator, ConfigError, Policy, definePlugin, defineTool, openDatabase, runMigrations, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { RecordingAuditSink, StaticTokenAuthenticator, createTestEngine, testPrincipal, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { pgProxy, type PgProxy } from '../support/pg-proxy.js';

const URL_ = process.env.DATABASE_URL;

/** One JSON-RPC request with `token`, as any MCP client posts it; a hang fails within 30 s. */
function rpc(engine: TestEngine, token: string, method: string, params?: unknown): Promise<Response> {
  return fetch(engine.engine.mcpUrl(), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, ...(params === undefined ? {} : { params }) }),
    signal: AbortSignal.timeout(30_000),
  });
}

const listTools = (engine: TestEngine, key: string): Promise<Response> => rpc(engine, key, 'tools/list');

/** Governance of the test's own: `token` names one principal, `policy` decides, `audit` records. */
function recordingEdition(token: string, policy: Policy): { edition: ReturnType<typeof definePlugin>; audit: RecordingAuditSink } {
  const audit = new RecordingAuditSink();
  const principal = testPrincipal({ tenant: 'default', id: token, label: token });
  const edition = definePlugin({
    id: 'recording',
    register({ bind }) {
      bind(Authenticator).toConstantValue(new StaticTokenAuthenticator({ [token]: principal }));
      bind(Policy).toConstantValue(policy);
      bind(AuditSink).toConstantValue(audit);
    },
  });
  return { edition, audit };
}

describe('Database timeouts: a statement stuck on a lock, or a database that stops answering, fails its request with 503, not a hang', function () {
  this.timeout(60_000);
  let admin: Knex;
  let schema: string;

  before(function () {
    if (!URL_) this.skip();
    schema = `gh_timeout_${randomBytes(4).toString('hex')}`;
    admin = knexFactory({ client: 'pg', connection: URL_, searchPath: [schema], pool: { min: 0, max: 2 } });
  });
  after(async () => {
    await admin?.raw('drop schema if exists ?? cascade', [schema]).catch(() => undefined);
    await admin?.destroy();
  });

  it('a lock held on the keys table: calls with keys not seen yet get 503 with Retry-After within the timeout, and are served once the lock goes', async () => {
    const t = await createTestEngine({ plugins: [communityEdition()], connect: false, database: { url: URL_, schema, statementTimeoutMs: 400, pool: { max: 4 } } });
    try {
      // More calls than the pool holds: stuck statements must not keep their connections.
      const keys = await Promise.all(Array.from({ length: 8 }, () => t.createKey()));
      const lock = await admin.transaction();
      let answers: Response[];
      const started = Date.now();
      try {
        await lock.raw('lock table api_keys in access exclusive mode');
        answers = await Promise.all(keys.map((key) => listTools(t, key.secret)));
      } finally {
        await lock.rollback();
      }
      const elapsed = Date.now() - started;
      for (const answer of answers) {
        expect(answer.status).to.equal(503);
        expect(answer.headers.get('retry-after')).to.equal('5');
        const body = (await answer.json()) as { error: { message: string } };
        expect(body.error.message).to.equal('The database did not answer in time; try again shortly.');
      }
      // Four connections, eight calls each waiting 0.4 s at most, one after another per connection.
      expect(elapsed).to.be.below(10_000);
      for (const key of keys) expect((await listTools(t, key.secret)).status).to.equal(200);
    } finally {
      await t.close();
    }
  });

  it('a database that stops answering at the network level (no reset): calls get 503 once the statement timeout and its grace have passed, and are served again when it answers', async () => {
    const proxy = await pgProxy(new URL(URL_!));
    const t = await createTestEngine({ plugins: [communityEdition()], connect: false, database: { url: proxy.url(URL_!), schema, statementTimeoutMs: 200, pool: { max: 2 } } });
    try {
      const keys = await Promise.all([t.createKey(), t.createKey()]);
      proxy.blackhole(true);
      const started = Date.now();
      let answers: Response[];
      try {
        answers = await Promise.all(keys.map((key) => listTools(t, key.secret)));
      } finally {
        proxy.blackhole(false);
      }
      const elapsed = Date.now() - started;
      const messages: string[] = [];
      for (const answer of answers) {
        expect(answer.status).to.equal(503);
        expect(answer.headers.get('retry-after')).to.equal('5');
        messages.push(((await answer.json()) as { error: { message: string } }).error.message);
      }
      // A call given up on is told the database did not answer; one whose query waited behind it on
      // the same connection is told of the connection closed under it. Both are the outage.
      expect(messages).to.include('The database did not answer in time; try again shortly.');
      for (const message of messages) expect(message).to.be.oneOf(['The database did not answer in time; try again shortly.', 'A backing service is unavailable; try again shortly.']);
      // The statement timeout (0.2 s) and the grace (5 s) for the reply. A read whose connection was
      // closed under it runs once more on a new connection, which waits at most the pool's 10 s for
      // one: at most about 15.2 s, not the client's 30 s.
      expect(elapsed).to.be.within(5_000, 18_000);
      for (const key of keys) expect((await listTools(t, key.secret)).status).to.equal(200);
    } finally {
      await t.close();
      await proxy.close();
    }
  });

  it('a connection attempt that the database never answers is given up and its socket closed, not left open while the outage lasts', async () => {
    const proxy = await pgProxy(new URL(URL_!));
    const db = await openDatabase({ url: proxy.url(URL_!), schema, statementTimeoutMs: 200, pool: { max: 2 } });
    try {
      expect(proxy.openConnections(), 'the connection of the first statement').to.equal(1);
      proxy.blackhole(true);
      const started = Date.now();
      // One statement on the pooled connection (given up after its reply bound), one on a new connection.
      const outcomes = await Promise.allSettled([db.knex.raw('select 1'), db.knex.raw('select 2')]);
      expect(outcomes.map((outcome) => outcome.status)).to.deep.equal(['rejected', 'rejected']);
      expect(Date.now() - started).to.be.below(12_000);
      // Both sockets closed while the database is still silent: the pooled one once its reply was given
      // up (5.2 s), the new one once the server had not answered it for 10 s. Before, the new one stayed
      // open for as long as the server kept it.
      for (const deadline = started + 12_000; proxy.openConnections() > 0 && Date.now() < deadline; ) await delay(50);
      expect(proxy.openConnections(), 'connections open through the proxy').to.equal(0);
      proxy.blackhole(false);
      expect((await db.knex.raw('select 3 as n')).rows).to.deep.equal([{ n: 3 }]);
    } finally {
      proxy.blackhole(false);
      await db.close();
      await proxy.close();
    }
  });

  /** An engine on `schema` through a proxy, whose `tickets.write` tool runs `write` as a handler would. */
  async function writerEngine(write: (db: Knex, proxy: PgProxy, ids: string[]) => Promise<void>): Promise<{ t: TestEngine; proxy: PgProxy; audit: RecordingAuditSink }> {
    await admin.raw('create schema if not exists ??', [schema]);
    await admin.raw('create table if not exists ticket_notes (id text primary key)');
    const proxy = await pgProxy(new URL(URL_!));
    const { edition, audit } = recordingEdition('writer-token', { decide: () => ({ allow: true, reason: 'allowed' }) });
    let db: Knex | undefined;
    const tool = defineTool({
      name: 'tickets.write',
      description: 'Writes notes.',
      permission: 'tickets:write',
      input: z.object({ ids: z.array(z.string()) }),
      handler: async ({ ids }) => {
        await write(db!, proxy, ids);
        return 'written';
      },
    });
    // A pool of one: a connection handed out again is the one the last call used.
    const t = await createTestEngine({ plugins: [edition, definePlugin({ id: 'notes', tools: [tool] })], connect: false, database: { url: proxy.url(URL_!), schema, statementTimeoutMs: 100, pool: { max: 1 } } });
    db = t.engine.database.knex;
    return { t, proxy, audit };
  }

  const UNKNOWN_OUTCOME = /^tickets\.write: the outcome is unknown — the database stopped answering while the call was writing, so its change may or may not have been applied; check before retrying \(request [0-9a-f-]{36}\)\.$/;
  const notes = async (ids: string[]): Promise<string[]> => ((await admin('ticket_notes').whereIn('id', ids).orderBy('id')) as { id: string }[]).map((row) => row.id);

  it('a handler whose write commits but gets no reply: the call is recorded as outcome unknown and the client is told so, not that it failed', async () => {
    let cut = true;
    const { t, proxy, audit } = await writerEngine(async (db, proxy, ids) => {
      // The insert reaches PostgreSQL and commits; its answer never comes back.
      if (cut) proxy.blackhole(true, 'replies');
      cut = false;
      await db('ticket_notes').insert(ids.map((id) => ({ id })));
    });
    const id = `note-${randomBytes(4).toString('hex')}`;
    try {
      const client = await t.connect({ token: 'writer-token' });
      const result = await client.callTool({ name: 'tickets.write', arguments: { ids: [id] } });
      expect(result.isError).to.equal(true);
      expect((result.content as { text: string }[])[0]!.text).to.match(UNKNOWN_OUTCOME);
      expect(audit.events.map((event) => [event.target, event.outcome, event.reason])).to.deep.equal([['tickets.write', 'unknown', 'the database stopped answering while the call was writing']]);
      // The note was written: "failed" would have been wrong.
      expect(await notes([id])).to.deep.equal([id]);
      proxy.blackhole(false);
      expect((await client.callTool({ name: 'tickets.write', arguments: { ids: [`${id}-2`] } })).content).to.deep.equal([{ type: 'text', text: 'written' }]);
      expect(await notes([`${id}-2`])).to.deep.equal([`${id}-2`]);
    } finally {
      proxy.blackhole(false);
      await t.close();
      await proxy.close();
    }
  });

  it('a transaction whose reply was given up: its connection is closed, not handed out again inside the still-open transaction (where the next call’s COMMIT committed the writes given up on)', async () => {
    let cut = true;
    const { t, proxy } = await writerEngine(async (db, proxy, ids) => {
      await db.transaction(async (trx) => {
        await trx('ticket_notes').insert({ id: ids[0] });
        if (cut) proxy.blackhole(true, 'replies');
        cut = false;
        for (const id of ids.slice(1)) await trx('ticket_notes').insert({ id });
      });
    });
    const [first, second, later] = ['a', 'b', 'c'].map((suffix) => `txn-${randomBytes(4).toString('hex')}-${suffix}`) as [string, string, string];
    try {
      const client = await t.connect({ token: 'writer-token' });
      const held = Date.now();
      const result = await client.callTool({ name: 'tickets.write', arguments: { ids: [first, second] } });
      // Given up on the reply, or on the connection closed under the transaction's ROLLBACK: unknown either way.
      expect((result.content as { text: string }[])[0]!.text).to.match(/^tickets\.write: the outcome is unknown — (?:the database stopped answering|the connection to the database was lost) while the call was writing/);
      // Longer than the engine waits for the reply and then for its ROLLBACK: a connection still in
      // use by then would come back from the pool inside the transaction.
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, held + 11_000 - Date.now())));
      proxy.blackhole(false);
      expect((await client.callTool({ name: 'tickets.write', arguments: { ids: [later] } })).content).to.deep.equal([{ type: 'text', text: 'written' }]);
      // The transaction was rolled back when its connection closed; the later write committed.
      expect(await notes([first, second, later])).to.deep.equal([later]);
    } finally {
      proxy.blackhole(false);
      await t.close();
      await proxy.close();
    }
  });

  it('a policy whose rules table is locked: the call is refused with 503, audited as “the policy could not decide: a backing service was unavailable”, and never runs', async () => {
    await admin.raw('create schema if not exists ??', [schema]);
    await admin.raw('create table if not exists policy_rules (permission text primary key)');
    await admin('policy_rules').insert({ permission: 'tickets:read' }).onConflict('permission').ignore();
    let rules: Knex | undefined;
    // A host's policy that reads its rules from the engine's database when a call is about to run.
    const policy: Policy = {
      async decide(_principal, request) {
        const listed = (await rules!('policy_rules').where({ permission: request.permission ?? '' })).length > 0;
        return listed ? { allow: true, reason: 'listed in policy_rules' } : { allow: false, reason: `${request.permission} is not in policy_rules` };
      },
    };
    const { edition, audit } = recordingEdition('reader-token', policy);
    let ran = 0;
    const peek = defineTool({ name: 'tickets.peek', description: 'Reads.', permission: 'tickets:read', input: z.object({}), handler: () => `ran ${++ran}` });
    const t = await createTestEngine({ plugins: [edition, definePlugin({ id: 'tickets', tools: [peek] })], connect: false, database: { url: URL_, schema, statementTimeoutMs: 300 } });
    rules = t.engine.database.knex;
    const call = (): Promise<Response> => rpc(t, 'reader-token', 'tools/call', { name: 'tickets.peek', arguments: {} });
    try {
      const lock = await admin.transaction();
      let answer: Response;
      try {
        await lock.raw('lock table policy_rules in access exclusive mode');
        answer = await call();
      } finally {
        await lock.rollback();
      }
      expect(answer.status).to.equal(503);
      expect(((await answer.json()) as { error: { message: string } }).error.message).to.equal('The database did not answer in time; try again shortly.');
      expect(ran).to.equal(0);
      expect(audit.events.map((event) => [event.target, event.outcome, event.reason])).to.deep.equal([['tickets.peek', 'refused', 'the policy could not decide: a backing service was unavailable']]);
      expect((await call()).status).to.equal(200);
      expect(ran).to.equal(1);
    } finally {
      await t.close();
    }
  });

  it('each pooled connection carries the timeout (10 s by default); 0 leaves the server’s own setting', async () => {
    const byDefault = await openDatabase({ url: URL_, schema, pool: { max: 1 } });
    const off = await openDatabase({ url: URL_, schema, pool: { max: 1 }, statementTimeoutMs: 0 });
    try {
      expect((await byDefault.knex.raw('show statement_timeout')).rows[0].statement_timeout).to.equal('10s');
      expect((await off.knex.raw('show statement_timeout')).rows[0].statement_timeout).to.equal((await admin.raw('show statement_timeout')).rows[0].statement_timeout);
    } finally {
      await byDefault.close();
      await off.close();
    }
  });

  it('refuses a timeout that is not a whole number of milliseconds, from the options or DATABASE_STATEMENT_TIMEOUT_MS', async () => {
    for (const statementTimeoutMs of [-1, 1.5, Number.NaN]) {
      const error = await openDatabase({ url: URL_, schema, statementTimeoutMs }).then(
        (db) => db.close().then(() => undefined),
        (e: unknown) => e,
      );
      expect(error, String(statementTimeoutMs)).to.be.instanceOf(ConfigError);
      expect((error as Error).message).to.equal(`database.statementTimeoutMs must be a whole number of milliseconds (0 for no limit), not ${statementTimeoutMs}.`);
    }
    const saved = process.env.DATABASE_STATEMENT_TIMEOUT_MS;
    process.env.DATABASE_STATEMENT_TIMEOUT_MS = '10s';
    try {
      const error = await openDatabase({ url: URL_, schema }).catch((e: unknown) => e);
      expect(error).to.be.instanceOf(ConfigError);
      expect((error as Error).message).to.equal('DATABASE_STATEMENT_TIMEOUT_MS must be a whole number of milliseconds (0 for no limit), not "10s".');
      process.env.DATABASE_STATEMENT_TIMEOUT_MS = '250';
      const db = await openDatabase({ url: URL_, schema, pool: { max: 1 } });
      try {
        expect((await db.knex.raw('show statement_timeout')).rows[0].statement_timeout).to.equal('250ms');
      } finally {
        await db.close();
      }
    } finally {
      if (saved === undefined) delete process.env.DATABASE_STATEMENT_TIMEOUT_MS;
      else process.env.DATABASE_STATEMENT_TIMEOUT_MS = saved;
    }
  });

  it('a migration that runs longer than the timeout is applied, not cancelled (and one without down(), which the migrator refused, applies)', async () => {
    const directory = await mkdtemp(path.join(tmpdir(), 'gatehouse-slow-migration-'));
    // Past the statement timeout (0.1 s) and the wait for a reply (0.1 s + 5 s grace).
    const db = await openDatabase({ url: URL_, schema, pool: { max: 2 }, statementTimeoutMs: 100 });
    try {
      await writeFile(
        path.join(directory, '20260101000000_slow.mjs'),
        "export async function up(knex) { await knex.raw('select pg_sleep(5.5)'); await knex.schema.createTable('slow_migration_done', (t) => t.integer('id')); }\n",
      );
      const applied = await runMigrations(db.knex, [{ id: 'slow', directory }]);
      expect(applied).to.deep.equal(['slow/20260101000000_slow']);
      expect(await db.knex.schema.hasTable('slow_migration_done')).to.equal(true);
      // Outside migrations the timeout holds.
      const error = await db.knex.raw('select pg_sleep(0.3)').catch((e: unknown) => e);
      expect((error as { code?: string }).code).to.equal('57014');
    } finally {
      await db.close();
      await rm(directory, { recursive: true, force: true });
    }
  });
});
