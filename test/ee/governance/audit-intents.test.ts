import { expect } from 'chai';
import knexFactory, { type Knex } from 'knex';
import type pg from 'pg';
import { AuditSink, AuditUnavailableError, Database, Logger, Telemetry, defineTool, definePlugin, z, type AuditEvent } from '@gatehouse-mcp/engine';
import { AuditVerifier } from '@gatehouse-mcp/engine/ee';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { DbAuditSink } from '../../../src/plugins/ee/audit/db-audit-sink.js';
import { AuditSinkSettings } from '../../../src/plugins/ee/audit/audit-sink-settings.js';
import { anotherAuditSink, governanceEngine, orderEvent, type GovernanceTestEngine } from './support.js';
import { watchOverlappingQueries } from '../../support/overlapping-queries.js';

/** Whether the call's intent was stored when its handler ran. */
const intentCommitted = async (ctx: { db: { table(name: string): any }; requestId: string }): Promise<boolean> =>
  (await ctx.db.table('mcp_agent_audit').where({ request_id: ctx.requestId, outcome: 'intent' }).first()) !== undefined;

/** Tools that report whether their own intent was already stored when they ran. */
const durableTools = definePlugin({
  id: 'durable-tools',
  tools: [
    defineTool({
      name: 'orders.place',
      description: 'Places an order (durable before execute).',
      permission: 'orders:write',
      durability: 'before',
      input: z.object({ id: z.string() }),
      handler: async ({ id }, ctx) => {
        return { id, intentStored: await intentCommitted(ctx) };
      },
    }),
    defineTool({
      name: 'orders.update',
      description: 'Changes data; durable only when the edition makes it the default.',
      permission: 'orders:write',
      input: z.object({ id: z.string() }),
      handler: async (_args, ctx) => ({ intentStored: await intentCommitted(ctx) }),
    }),
    defineTool({
      name: 'orders.read',
      description: 'Reads only.',
      permission: 'orders:write',
      annotations: { readOnlyHint: true },
      input: z.object({ id: z.string() }),
      handler: async (_args, ctx) => ({ intentStored: await intentCommitted(ctx) }),
    }),
  ],
});

/** An intent with no principal, as a sink test records it. */
const plainIntent = (tenant: string, i: number): AuditEvent =>
  orderEvent(tenant, { outcome: 'intent', arguments: { id: `O-${i}` }, requestId: `intent-${i}`, clientAddress: '198.51.100.7' });

describe('EE audit: durable before execute', function () {
  this.timeout(60_000);
  let t: GovernanceTestEngine;
  afterEach(async () => {
    await t?.close();
  });

  async function agentClient(): Promise<Awaited<ReturnType<GovernanceTestEngine['connect']>>> {
    const role = await t.role('orders', ['orders:write']);
    const agent = await t.agent({ roleIds: [role] });
    return t.connect({ token: agent.key });
  }

  it('an outcome names its intent even when the redaction rule masks every id-shaped value', async () => {
    // The intent id is the engine's own link between the two rows, not the caller's data.
    t = await governanceEngine({ plugins: [durableTools], edition: { audit: { redaction: { values: [/^[0-9a-f-]{36}$/] } } } });
    const client = await agentClient();
    await client.callTool({ name: 'orders.place', arguments: { id: '0f8e4a52-6a55-4c2b-9f3e-2b1c7d9e8a10' } });
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const rows = await t.knex('mcp_agent_audit').where({ tenant: t.tenant, target: 'orders.place' }).orderBy('seq');
    const [intent, done] = rows;
    expect(intent.arguments).to.deep.equal({ id: '[REDACTED]' });
    expect(done.outcome).to.equal('success');
    expect(done.details).to.deep.equal({ intentId: intent.event_id });
    expect((await t.engine.resolve(AuditVerifier).verify(t.tenant)).ok).to.equal(true);
  });

  (process.env.DATABASE_URL ? it : it.skip)('the writer lends its connection back between writes when other work waits for the pool (a pool of one was starved while intents kept coming)', async () => {
    t = await governanceEngine();
    const config = (t.knex.client as { config: Knex.Config }).config;
    const single = knexFactory({ ...config, pool: { min: 0, max: 1, acquireTimeoutMillis: 5_000 } });
    const settings: AuditSinkSettings = { ...t.engine.resolve<AuditSinkSettings>(AuditSinkSettings), batchSize: 8 };
    const sink = new DbAuditSink({ kind: 'postgres', knex: single } as Database, settings, t.engine.resolve(Logger), t.engine.resolve(Telemetry));
    const tenant = uniqueTenant('lend');
    let running = true;
    let calls = 0;
    const caller = async (): Promise<void> => {
      while (running) {
        const n = calls++;
        const intentId = await sink.recordIntent(plainIntent(tenant, n));
        sink.record(orderEvent(tenant, { outcome: 'success', arguments: { id: `O-${n}` }, requestId: `intent-${n}`, intentId }));
      }
    };
    try {
      await sink.start();
      // Twice as many callers as a write takes: when a write is done, the next one is waiting.
      const callers = Array.from({ length: 16 }, caller);
      while (calls < 200) await new Promise((resolve) => setTimeout(resolve, 10));
      // Served once the write in flight is done; a writer that kept the connection would let this time out.
      const other = await single.raw('select 1 as one').finally(() => (running = false));
      await Promise.all(callers);
      await sink.close();
      expect(other.rows).to.deep.equal([{ one: 1 }]);
      expect((await t.engine.resolve(AuditVerifier).verify(tenant)).rows).to.equal(2 * calls);
    } finally {
      running = false;
      await single.destroy();
    }
  });

  (process.env.DATABASE_URL ? it : it.skip)('a connection the writer held between two writes and lost meanwhile is replaced before the next write (a terminated backend)', async () => {
    t = await governanceEngine();
    const config = (t.knex.client as { config: Knex.Config }).config;
    const pool = knexFactory({ ...config, pool: { min: 0, max: 2 } });
    const real = t.engine.resolve<Telemetry>(Telemetry);
    let sink: DbAuditSink | undefined;
    let terminated: number | undefined;
    let failedWrites = 0;
    /** The connection the writer holds from its last write, if any. */
    const held = (): (pg.Client & { processID?: number; __knex__disposed?: unknown }) | undefined => (sink as unknown as { appendConnection?: pg.Client }).appendConnection;
    // Between two writes of one round, once: the backend of the held connection is terminated, and
    // the write starts only when the connection has seen it die.
    const telemetry = {
      observe: real.observe.bind(real),
      auditWrite: real.auditWrite.bind(real),
      auditWriteFailed: () => void failedWrites++,
      span: async <R>(name: string, observation: undefined, work: () => R, attributes?: Parameters<Telemetry['span']>[3]): Promise<Awaited<R>> => {
        const connection = held();
        if (name === 'gatehouse.audit.flush' && terminated === undefined && connection?.processID) {
          terminated = connection.processID;
          await t.knex.raw('select pg_terminate_backend(?)', [terminated]);
          for (let waited = 0; !connection.__knex__disposed && waited < 5_000; waited += 10) await new Promise((resolve) => setTimeout(resolve, 10));
          expect(connection.__knex__disposed, 'the held connection saw its backend end').to.not.equal(undefined);
        }
        return (await real.span(name, observation, work, attributes)) as Awaited<R>;
      },
    } as unknown as Telemetry;
    const settings: AuditSinkSettings = { ...t.engine.resolve<AuditSinkSettings>(AuditSinkSettings), batchSize: 8 };
    sink = new DbAuditSink({ kind: 'postgres', knex: pool } as Database, settings, t.engine.resolve(Logger), telemetry);
    const tenant = uniqueTenant('held');
    let calls = 0;
    const caller = async (): Promise<void> => {
      // Until a held connection was terminated (or long past when one should have been), then at least 100 calls.
      while ((terminated === undefined && calls < 20_000) || calls < 100) {
        const n = calls++;
        const intentId = await sink!.recordIntent(plainIntent(tenant, n));
        sink!.record(orderEvent(tenant, { outcome: 'success', arguments: { id: `O-${n}` }, requestId: `intent-${n}`, intentId }));
      }
    };
    try {
      await sink.start();
      // Twice as many callers as a write takes: writes follow one another, on the connection held between them.
      await Promise.all(Array.from({ length: 16 }, caller));
      await sink.close();
      expect(terminated, 'a held connection was terminated').to.be.a('number');
      // The next write went out on a new connection: no write failed, so no call waited for a retry.
      expect(failedWrites).to.equal(0);
      expect((await t.engine.resolve(AuditVerifier).verify(tenant)).rows).to.equal(2 * calls);
    } finally {
      await pool.destroy();
    }
  });

  it("commits a durable tool's intent before its handler runs, then completes it with the outcome", async () => {
    t = await governanceEngine({ plugins: [durableTools] });
    const client = await agentClient();
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => client.callTool({ name: 'orders.place', arguments: { id: `O-${i}` } })));
    for (const result of results) expect(result.structuredContent).to.include({ intentStored: true });
    const plain = await client.callTool({ name: 'orders.update', arguments: { id: 'O-1' } });
    expect(plain.structuredContent).to.deep.equal({ intentStored: false });
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const rows = await t.knex('mcp_agent_audit').where({ tenant: t.tenant, target: 'orders.place' }).orderBy('seq');
    const intents = rows.filter((r) => r.outcome === 'intent');
    const done = rows.filter((r) => r.outcome === 'success');
    expect(intents).to.have.length(12);
    expect(done).to.have.length(12);
    expect(done.map((r) => r.details.intentId).sort()).to.deep.equal(intents.map((r) => r.event_id).sort());
    expect(await t.knex('mcp_audit_open_intents').where({ tenant: t.tenant })).to.deep.equal([]);
    expect((await t.engine.resolve(AuditVerifier).verify(t.tenant)).ok).to.equal(true);
  });

  it('makes tools that change data durable by default with audit.durableWrites, but not read-only ones', async () => {
    t = await governanceEngine({ plugins: [durableTools], edition: { audit: { durableWrites: true } } });
    const client = await agentClient();
    expect((await client.callTool({ name: 'orders.update', arguments: { id: 'O-1' } })).structuredContent).to.deep.equal({ intentStored: true });
    expect((await client.callTool({ name: 'orders.read', arguments: { id: 'O-1' } })).structuredContent).to.deep.equal({ intentStored: false });
  });

  it('refuses durable calls whose intents cannot be committed in time, runs none of them, and records each refusal', async function () {
    t = await governanceEngine({ plugins: [durableTools], edition: { audit: { intentTimeoutMs: 400 } } });
    // A lock held on the open intents makes the audit writes hang; the embedded database has one connection.
    if (t.engine.database.kind !== 'postgres') this.skip();
    const client = await agentClient();
    const lock = await t.knex.transaction();
    await lock.raw('lock table mcp_audit_open_intents in access exclusive mode');
    type Answer = { isError?: boolean; content: { type: string; text: string }[]; structuredContent?: unknown };
    const call = async (id: string): Promise<{ waited: number; answer: string; structured: unknown }> => {
      const started = Date.now();
      let result: Answer | undefined;
      let refusal: unknown;
      try {
        result = (await client.callTool({ name: 'orders.place', arguments: { id } })) as Answer;
      } catch (error) {
        refusal = error;
      }
      return { waited: Date.now() - started, answer: String(refusal ?? result?.content[0]?.text), structured: result?.structuredContent };
    };
    // The first call's intent is on its way in a write that hangs; the second one's waits behind it.
    const first = call('O-carried');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const answers = await Promise.all([first, call('O-waiting')]);
    await lock.commit();
    for (const { waited, answer, structured } of answers) {
      expect(waited).to.be.within(400, 5_000);
      expect(answer).to.match(/audit intent could not be written within 400 ms; the call was not run/);
      expect(structured).to.equal(undefined);
    }

    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const rows = await t.knex('mcp_agent_audit').where({ tenant: t.tenant, target: 'orders.place' }).orderBy('seq');
    // Each row as [order, outcome, reason, the order of the intent it completes]; a completion stores no arguments.
    const order = (eventId: unknown): string | undefined => rows.find((r) => r.event_id === eventId)?.arguments?.id;
    const summary = rows.map((r) => [r.arguments?.id ?? order(r.details?.intentId), r.outcome, r.reason, r.details?.intentId === undefined ? 'no intent' : order(r.details.intentId)]);
    expect(summary).to.deep.equal([
      // Carried by the write that hung: stored once the lock was gone, then completed as not run.
      ['O-carried', 'intent', null, 'no intent'],
      // Never carried: its intent became the record of the refusal.
      ['O-waiting', 'refused', 'the audit intent could not be written within 400 ms; the call did not run', 'no intent'],
      ['O-carried', 'refused', 'the intent was written after the call had been refused for waiting too long; the call did not run', 'O-carried'],
    ]);
    expect(await t.knex('mcp_audit_open_intents').where({ tenant: t.tenant })).to.deep.equal([]);
    expect((await t.engine.resolve(AuditVerifier).verify(t.tenant)).ok).to.equal(true);
  });

  it('refuses the intent of a durable call in time when the database cannot be reached', async () => {
    t = await governanceEngine({ plugins: [durableTools] });
    const quiet = (): void => undefined;
    const unreachable = knexFactory({ client: 'pg', connection: 'postgres://postgres@127.0.0.1:9/none', pool: { min: 0, max: 2 }, log: { warn: quiet, error: quiet, debug: quiet, deprecate: quiet } });
    try {
      const database = { knex: unreachable, kind: 'postgres' as const, forTenant: () => { throw new Error('unused'); } };
      const settings = { ...t.engine.resolve<AuditSinkSettings>(AuditSinkSettings), intentTimeoutMs: 300, retryDelayMs: 20, maxRetryDelayMs: 50 };
      const sink = new DbAuditSink(database as never, settings, t.engine.resolve(Logger), t.engine.resolve(Telemetry));
      const started = Date.now();
      const refused = await sink.recordIntent(plainIntent(uniqueTenant('down'), 1)).then(() => undefined, (error: unknown) => error);
      expect(Date.now() - started).to.be.within(300, 3_000);
      expect(refused).to.be.instanceOf(AuditUnavailableError);
      expect(String((refused as Error).message)).to.match(/could not be written within 300 ms; the call was not run/);
    } finally {
      await unreachable.destroy();
    }
  });

  it('marks the open intents of an instance that died as outcome unknown at start-up, and leaves a live instance alone', async () => {
    t = await governanceEngine({ plugins: [durableTools] });
    const tenant = uniqueTenant('crashed');
    const make = () => anotherAuditSink(t);
    const intent = (i: number): AuditEvent => ({ ...plainIntent(tenant, i), requestId: `crashed-${i}` });
    // On a PostgreSQL server: a live instance (holding its liveness lock) with an intent in flight.
    // The embedded database serves one process, so there every other instance is gone.
    const server = t.engine.database.kind === 'postgres';
    const live = server ? make() : undefined;
    await live?.start();
    await live?.recordIntent({ ...intent(0), requestId: 'live-0' });
    // An instance that wrote two intents and then died (never completed them, never holds a lock now).
    const dead = make();
    await dead.recordIntent(intent(1));
    await dead.recordIntent(intent(2));
    (dead as unknown as { stopped: boolean }).stopped = true;

    const recovered = await (t.engine.resolve<DbAuditSink>(DbAuditSink)).recoverIntents();
    expect(recovered).to.equal(2);
    const rows = await t.knex('mcp_agent_audit').where({ tenant }).orderBy('seq');
    const unknown = rows.filter((r) => r.outcome === 'unknown');
    expect(unknown.map((r) => r.request_id).sort()).to.deep.equal(['crashed-1', 'crashed-2']);
    expect(unknown[0].reason).to.match(/stopped before recording its outcome/);
    expect(unknown[0].client_address).to.equal('198.51.100.7');
    const open = await t.knex('mcp_audit_open_intents').where({ tenant });
    expect(open).to.have.length(server ? 1 : 0);
    await live?.close();
    expect((await t.engine.resolve(AuditVerifier).verify(tenant)).ok).to.equal(true);
  });

  it('recoveries run at once ask about dead instances one query at a time on the liveness connection (it was sent a query while running another)', async function () {
    t = await governanceEngine({ plugins: [durableTools] });
    if (t.engine.database.kind !== 'postgres') this.skip();
    const tenant = uniqueTenant('recovered-at-once');
    // Three instances that wrote an intent each and then died.
    for (let i = 0; i < 3; i++) {
      const dead = anotherAuditSink(t);
      await dead.recordIntent({ ...plainIntent(tenant, i), requestId: `at-once-${i}` });
      (dead as unknown as { stopped: boolean }).stopped = true;
    }
    const sink = t.engine.resolve<DbAuditSink>(DbAuditSink);
    const watch = watchOverlappingQueries();
    let recovered: number[];
    try {
      recovered = await Promise.all([sink.recoverIntents(), sink.recoverIntents(), sink.recoverIntents()]);
    } finally {
      watch.stop();
    }
    expect(watch.overlaps, 'queries sent on a busy connection').to.deep.equal([]);
    expect(watch.warnings).to.deep.equal([]);
    // Each intent is recovered once, by whichever recovery claimed it.
    expect(recovered.reduce((sum, n) => sum + n, 0)).to.equal(3);
    const unknown = await t.knex('mcp_agent_audit').where({ tenant, outcome: 'unknown' });
    expect(unknown.map((r) => r.request_id).sort()).to.deep.equal(['at-once-0', 'at-once-1', 'at-once-2']);
    expect((await t.engine.resolve(AuditVerifier).verify(tenant)).ok).to.equal(true);
  });

  it('recovers a dead instance that left more open intents than the audit buffer holds (start-up failed at the buffer cap)', async () => {
    t = await governanceEngine({ plugins: [durableTools], edition: { audit: { maxBuffered: 20, batchSize: 10 } } });
    const tenant = uniqueTenant('many');
    const dead = anotherAuditSink(t);
    // Stored a few at a time: the dead instance's own buffer holds 22 events at most.
    const ids: string[] = [];
    for (let i = 0; i < 150; i += 10) {
      ids.push(...(await Promise.all(Array.from({ length: 10 }, (_, j) => dead.recordIntent({ ...plainIntent(tenant, i + j), requestId: `many-${i + j}` })))));
    }
    (dead as unknown as { stopped: boolean }).stopped = true;

    const recovered = await t.engine.resolve<DbAuditSink>(DbAuditSink).recoverIntents();
    expect(recovered).to.equal(150);
    const unknown = await t.knex('mcp_agent_audit').where({ tenant, outcome: 'unknown' });
    expect(unknown.map((r) => r.details.intentId).sort()).to.deep.equal([...ids].sort());
    expect(await t.knex('mcp_audit_open_intents').where({ tenant })).to.deep.equal([]);
    expect((await t.engine.resolve(AuditVerifier).verify(tenant)).ok).to.equal(true);
  });

  it('keeps a live instance from looking dead when its liveness connection is lost: the lock is taken again', async function () {
    t = await governanceEngine({ plugins: [durableTools], edition: { audit: { retryDelayMs: 20, maxRetryDelayMs: 100 } } });
    if (t.engine.database.kind !== 'postgres') this.skip();
    const tenant = uniqueTenant('alive');
    const make = () => anotherAuditSink(t);
    const live = make();
    await live.start();
    try {
      await live.recordIntent({ ...plainIntent(tenant, 1), requestId: 'alive-1' });
      // The database ends the liveness connection (a restart, an administrator, a network cut).
      const lockClient = (): { processID?: number } | undefined => (live as unknown as { lockClient?: { processID?: number } }).lockClient;
      const lost = lockClient()!.processID!;
      await t.knex.raw('select pg_terminate_backend(?)', [lost]);
      const deadline = Date.now() + 10_000;
      while (!(lockClient() && lockClient()!.processID !== lost)) {
        if (Date.now() > deadline) throw new Error('the liveness lock was not taken again');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }

      // An instance that starts now finds the live one alive and leaves its call alone.
      const starting = make();
      await starting.start();
      await starting.close();
      const rows = await t.knex('mcp_agent_audit').where({ tenant });
      expect(rows.map((r) => r.outcome)).to.deep.equal(['intent']);
      expect(await t.knex('mcp_audit_open_intents').where({ tenant })).to.have.length(1);
    } finally {
      await live.close();
    }
  });

  it('records each open intent of a dead instance as outcome unknown exactly once when two instances start at the same time', async function () {
    t = await governanceEngine({ plugins: [durableTools] });
    // Two instances start at once only on a PostgreSQL server; the embedded database serves one process.
    if (t.engine.database.kind !== 'postgres') this.skip();
    const tenant = uniqueTenant('twice');
    const make = () => anotherAuditSink(t);
    // An instance whose calls ran (their intents are stored) and that died before recording outcomes.
    const dead = make();
    const ids = await Promise.all(Array.from({ length: 30 }, (_, i) => dead.recordIntent({ ...plainIntent(tenant, i), requestId: `twice-${i}` })));
    (dead as unknown as { stopped: boolean }).stopped = true;

    for (let round = 0; round < 3; round++) {
      const starting = [make(), make()];
      await Promise.all(starting.map((sink) => sink.start()));
      await Promise.all(starting.map((sink) => sink.close()));
    }

    const rows = await t.knex('mcp_agent_audit').where({ tenant }).orderBy('seq');
    const unknown = rows.filter((r) => r.outcome === 'unknown');
    expect(unknown.map((r) => r.details.intentId).sort()).to.deep.equal([...ids].sort());
    expect(rows).to.have.length(60);
    expect(await t.knex('mcp_audit_open_intents').where({ tenant })).to.deep.equal([]);
    expect((await t.engine.resolve(AuditVerifier).verify(tenant)).ok).to.equal(true);
  });
});
