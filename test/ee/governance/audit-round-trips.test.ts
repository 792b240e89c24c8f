import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { AuditSink, Logger, Telemetry, defineTool, definePlugin, z, type AuditEvent } from '@gatehouse-mcp/engine';
import { AuditVerifier } from '@gatehouse-mcp/engine/ee';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { DbAuditSink } from '../../../src/plugins/ee/audit/db-audit-sink.js';
import { AuditSinkSettings } from '../../../src/plugins/ee/audit/audit-sink-settings.js';
import { anotherAuditSink, governanceEngine, orderEvent, type GovernanceTestEngine } from './support.js';
import { pgProxy, type PgProxy } from '../../support/pg-proxy.js';

const url = process.env.DATABASE_URL;

function event(tenant: string, i: number, outcome: AuditEvent['outcome'] = 'success', intentId?: string): AuditEvent {
  return orderEvent(tenant, { outcome, arguments: { i }, latencyMs: outcome === 'intent' ? undefined : 1, requestId: `rt-${i}`, ...(intentId ? { intentId } : {}) });
}

/** Warnings and errors an audit sink logs. */
function complaints(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const make = (): Logger => ({ debug() {}, info() {}, warn: (_fields, message) => void lines.push(message), error: (_fields, message) => void lines.push(message), child: () => make() });
  return Object.assign(make(), { lines });
}

describe('EE audit writes: round trips', function () {
  this.timeout(120_000);

  it('continues the chain without a failed write when another writer moved the head since this one last wrote', async () => {
    const t = await governanceEngine();
    try {
      const tenant = uniqueTenant('moved');
      const logger = complaints();
      const make = () => anotherAuditSink(t, logger);
      const first = make();
      const second = make();
      let i = 0;
      // Each writer knows the head it left; the other one moves it in between, again and again.
      for (let round = 0; round < 5; round++) {
        for (const sink of [first, second]) {
          for (let k = 0; k < 7; k++) sink.record(event(tenant, i++));
          await sink.flush();
        }
      }
      await Promise.all([first.close(), second.close()]);
      expect(logger.lines).to.deep.equal([]);
      const verified = await t.engine.resolve(AuditVerifier).verify(tenant);
      expect(verified.ok, JSON.stringify(verified.break)).to.equal(true);
      expect(verified.rows).to.equal(70);
    } finally {
      await t.close();
    }
  });

  (url ? describe : describe.skip)('on a PostgreSQL server, through a proxy', () => {
    const schema = `i14_rt_${randomBytes(4).toString('hex')}`;
    let admin: pg.Client;
    let proxy: PgProxy;
    let proxied: Knex;
    let direct: Knex;
    let t: GovernanceTestEngine | undefined;
    before(async () => {
      admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(`create schema ${schema}`);
    });
    beforeEach(async () => {
      proxy = await pgProxy(new URL(url!));
      proxied = knexFactory({ client: 'pg', connection: proxy.url(url!), searchPath: [schema], pool: { min: 0, max: 4 } });
      direct = knexFactory({ client: 'pg', connection: url!, searchPath: [schema], pool: { min: 0, max: 4 } });
    });
    afterEach(async () => {
      await t?.close();
      t = undefined;
      await proxied.destroy();
      await direct.destroy();
      await proxy.close();
    });
    after(async () => {
      await admin.query(`drop schema if exists ${schema} cascade`);
      await admin.end();
    });

    /** An audit sink of its own whose every statement goes through the proxy. */
    function proxiedSink(engine: GovernanceTestEngine, logger: Logger = engine.engine.resolve(Logger)): DbAuditSink {
      const database = { knex: proxied, kind: 'postgres' as const, forTenant: () => { throw new Error('unused'); } };
      return new DbAuditSink(database as never, engine.engine.resolve(AuditSinkSettings), logger, engine.engine.resolve(Telemetry));
    }

    it('group-commits the intents that arrive together in one round trip, and their outcomes in one more', async () => {
      t = await governanceEngine({ database: { knex: direct } });
      const sink = proxiedSink(t);
      const tenant = uniqueTenant('rt');
      sink.record(event(tenant, 0));
      await sink.flush();

      let before = proxy.roundTrips();
      const intents = await Promise.all(Array.from({ length: 20 }, (_, i) => sink.recordIntent(event(tenant, i + 1, 'intent'))));
      expect(proxy.roundTrips() - before, 'round trips for 20 intents').to.equal(1);
      expect((await admin.query(`select count(*)::int as n from ${schema}.mcp_audit_open_intents where tenant = $1`, [tenant])).rows[0].n).to.equal(20);

      before = proxy.roundTrips();
      intents.forEach((id, i) => sink.record(event(tenant, i + 1, 'success', id)));
      await sink.flush();
      expect(proxy.roundTrips() - before, 'round trips for 20 outcomes').to.equal(1);

      await sink.close();
      expect((await admin.query(`select count(*)::int as n from ${schema}.mcp_audit_open_intents where tenant = $1`, [tenant])).rows[0].n).to.equal(0);
      const verified = await t.engine.resolve(AuditVerifier).verify(tenant);
      expect(verified.ok, JSON.stringify(verified.break)).to.equal(true);
      expect(verified.rows).to.equal(41);
    });

    it('stores awkward text and JSON exactly as given in a one-statement write, and the chain verifies', async () => {
      t = await governanceEngine({ database: { knex: direct } });
      const logger = complaints();
      const sink = proxiedSink(t, logger);
      const tenant = uniqueTenant('odd');
      sink.record(event(tenant, 0));
      await sink.flush();
      const awkward = ['quote " and \\ backslash', '{braces}, commas, NULL', 'null', '', 'ünïcödé ✓ 𝄞', 'tab\tnew\nline', 'the text \\u0000 and \\\\u0000 (not a NUL)'];
      const before = proxy.roundTrips();
      const ids = await Promise.all(
        awkward.map((text, i) => sink.recordIntent({ ...event(tenant, i + 1, 'intent'), target: text, reason: text, arguments: { text, nested: { [text]: [text, null, 1.5] } }, details: { text } })),
      );
      expect(proxy.roundTrips() - before, 'round trips for the intents').to.equal(1);
      ids.forEach((id, i) => sink.record({ ...event(tenant, i + 1, 'success', id), target: awkward[i], arguments: { text: awkward[i], nested: { [awkward[i]!]: [awkward[i], null, 1.5] } } }));
      await sink.close();
      expect(logger.lines).to.deep.equal([]);
      const rows = (await admin.query(`select target, reason, arguments, details, outcome from ${schema}.mcp_agent_audit where tenant = $1 and seq > 1 order by seq`, [tenant])).rows;
      expect(rows.map((row) => row.outcome)).to.deep.equal([...awkward.map(() => 'intent'), ...awkward.map(() => 'success')]);
      awkward.forEach((text, i) => {
        for (const row of [rows[i], rows[awkward.length + i]]) {
          expect(row.target).to.equal(text);
          expect(row.arguments).to.deep.equal({ text, nested: { [text]: [text, null, 1.5] } });
        }
        expect(rows[i].reason).to.equal(text);
        expect(rows[i].details).to.deep.equal({ text });
      });
      const verified = await t.engine.resolve(AuditVerifier).verify(tenant);
      expect(verified.ok, JSON.stringify(verified.break)).to.equal(true);
      expect(verified.rows).to.equal(1 + 2 * awkward.length);
    });

    it('stores every event exactly once when the connection drops right after a one-statement write committed', async () => {
      t = await governanceEngine({ database: { knex: direct }, edition: { audit: { batchSize: 25, retryDelayMs: 20, maxRetryDelayMs: 100 } } });
      const logger = complaints();
      const sink = proxiedSink(t, logger);
      const tenant = uniqueTenant('cut1');
      sink.record(event(tenant, 0));
      await sink.flush();
      // The next writes are single statements (the writer knows its head); a cut one is committed.
      proxy.arm(3, /insert into "mcp_agent_audit"/);
      for (let i = 1; i < 200; i++) {
        sink.record(event(tenant, i));
        if (i % 40 === 0) await sink.flush();
      }
      await sink.flush();
      await sink.close();
      expect(proxy.cuts()).to.deep.equal(['statement', 'statement', 'statement']);
      expect(logger.lines.filter((line) => /audit write failed/.test(line))).to.have.length.greaterThan(0);
      const counts = await admin.query(`select count(*)::int as n, count(distinct event_id)::int as events, count(distinct request_id)::int as requests from ${schema}.mcp_agent_audit where tenant = $1`, [tenant]);
      expect(counts.rows[0]).to.deep.equal({ n: 200, events: 200, requests: 200 });
      const verified = await t.engine.resolve(AuditVerifier).verify(tenant);
      expect(verified.ok, JSON.stringify(verified.break)).to.equal(true);
      expect(verified.lastSeq).to.equal(200);
    });

    for (const how of ['a transaction', 'a single statement'] as const) {
      it(`records outcome unknown and tells the client so when the handler's own commit (${how}) is lost with its connection`, async () => {
        await admin.query(`create table if not exists ${schema}.orders (id text primary key)`);
        const orders = definePlugin({
          id: 'orders',
          tools: [
            defineTool({
              name: 'orders.place',
              description: 'Places an order in the shop database.',
              permission: 'orders:write',
              durability: 'before',
              input: z.object({ id: z.string() }),
              handler: async ({ id }) => {
                if (how === 'a transaction') await proxied.transaction((trx) => trx('orders').insert({ id }));
                else await proxied('orders').insert({ id });
                return `placed ${id}`;
              },
            }),
          ],
        });
        t = await governanceEngine({ plugins: [orders], database: { knex: direct } });
        const role = await t.role('orders', ['orders:write']);
        const client = await t.connect({ token: (await t.agent({ roleIds: [role] })).key });
        const id = `O-${randomBytes(4).toString('hex')}`;

        if (how === 'a transaction') proxy.arm(1);
        else proxy.arm(1, /insert into "orders"/);
        const result = (await client.callTool({ name: 'orders.place', arguments: { id } })) as { isError?: boolean; content: { type: string; text: string }[] };
        expect(proxy.cuts()).to.deep.equal([how === 'a transaction' ? 'commit' : 'statement']);

        // The order exists: the commit went through although the handler saw its connection drop.
        expect((await admin.query(`select id from ${schema}.orders where id = $1`, [id])).rows).to.deep.equal([{ id }]);
        // The client is told the outcome is unknown, not that the call failed.
        expect(result.isError).to.equal(true);
        const message = result.content.map((part) => part.text).join('\n');
        expect(message).to.match(/outcome is unknown/);
        expect(message).to.match(/may or may not have been applied; check before retrying/);
        expect(message).not.to.match(/failed with an internal error/);

        // The audit says unknown, completing the call's intent.
        await t.engine.resolve<AuditSink>(AuditSink).flush();
        const rows = await t.knex('mcp_agent_audit').where({ tenant: t.tenant, target: 'orders.place' }).orderBy('seq');
        expect(rows.map((row) => row.outcome)).to.deep.equal(['intent', 'unknown']);
        expect(rows[1].reason).to.equal('the database connection was lost while the call was writing');
        expect(rows[1].details.intentId).to.equal(rows[0].event_id);
        expect(await t.knex('mcp_audit_open_intents').where({ tenant: t.tenant })).to.deep.equal([]);
        expect((await t.engine.resolve(AuditVerifier).verify(t.tenant)).ok).to.equal(true);
      });
    }
  });
});
