import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { AuditSink, AuditUnavailableError, Logger, Telemetry, type AuditEvent } from '@gatehouse-mcp/engine';
import { AuditVerifier } from '@gatehouse-mcp/engine/ee';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { DbAuditSink } from '../../../src/plugins/ee/audit/db-audit-sink.js';
import { AuditSinkSettings, DEFAULT_AUDIT_SINK_SETTINGS } from '../../../src/plugins/ee/audit/audit-sink-settings.js';
import { governanceEngine, type GovernanceTestEngine } from './support.js';
import { pgProxy } from '../../support/pg-proxy.js';

const url = process.env.DATABASE_URL;

function event(tenant: string, i: number): AuditEvent {
  return {
    time: new Date(),
    tenant,
    principal: undefined,
    action: 'tools/call',
    target: 'tickets.write',
    decision: 'allowed',
    reason: undefined,
    outcome: 'success',
    arguments: { i },
    latencyMs: 1,
    requestId: `fault-${i}`,
    clientAddress: undefined,
  };
}

/** Log lines an engine writes, for assertions. */
function recordingLogger(): Logger & { lines: { level: string; fields: Record<string, unknown>; message: string }[] } {
  const lines: { level: string; fields: Record<string, unknown>; message: string }[] = [];
  const make = (): Logger => ({
    debug: (fields, message) => void lines.push({ level: 'debug', fields, message }),
    info: (fields, message) => void lines.push({ level: 'info', fields, message }),
    warn: (fields, message) => void lines.push({ level: 'warn', fields, message }),
    error: (fields, message) => void lines.push({ level: 'error', fields, message }),
    child: () => make(),
  });
  return Object.assign(make(), { lines });
}

describe('EE audit writes under faults', function () {
  this.timeout(120_000);

  (url ? describe : describe.skip)('on a PostgreSQL server', () => {
    const schema = `i14_faults_${randomBytes(4).toString('hex')}`;
    let admin: pg.Client;
    before(async () => {
      admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(`create schema ${schema}`);
    });
    after(async () => {
      await admin.query(`drop schema if exists ${schema} cascade`);
      await admin.end();
    });

    it('stores every event exactly once when the connection drops right after PostgreSQL committed a batch', async () => {
      const proxy = await pgProxy(new URL(url!));
      const knex: Knex = knexFactory({ client: 'pg', connection: proxy.url(url!), searchPath: [schema], pool: { min: 0, max: 4 } });
      let t: GovernanceTestEngine | undefined;
      try {
        t = await governanceEngine({ database: { knex }, edition: { audit: { batchSize: 25, retryDelayMs: 20, maxRetryDelayMs: 100 } } });
        const tenant = uniqueTenant('cut');
        const sink = t.engine.resolve<AuditSink>(AuditSink);
        proxy.arm(6);
        for (let i = 0; i < 300; i++) {
          sink.record(event(tenant, i));
          if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 30));
        }
        await sink.flush();
        expect(proxy.cuts()).to.deep.equal(Array(6).fill('commit'));
        const counts = await admin.query(`select count(*)::int as n, count(distinct event_id)::int as events, count(distinct request_id)::int as requests from ${schema}.mcp_agent_audit where tenant = $1`, [tenant]);
        expect(counts.rows[0]).to.deep.equal({ n: 300, events: 300, requests: 300 });
        const verified = await t.engine.resolve(AuditVerifier).verify(tenant);
        expect(verified.ok, JSON.stringify(verified.break)).to.equal(true);
        expect(verified.lastSeq).to.equal(300);
      } finally {
        await t?.close();
        await knex.destroy();
        await proxy.close();
      }
    });

    it('gives up within flushTimeoutMs at shutdown while a lock is held on the audit table: cancels the write, logs progress and the events lost', async () => {
      const knex: Knex = knexFactory({ client: 'pg', connection: url!, searchPath: [schema], pool: { min: 0, max: 4 } });
      const logger = recordingLogger();
      const locker = new pg.Client({ connectionString: url });
      await locker.connect();
      try {
        const t = await governanceEngine({
          database: { knex },
          edition: { audit: { flushTimeoutMs: 1_500, progressLogMs: 400 } },
          logger,
        });
        const sink = t.engine.resolve<DbAuditSink>(DbAuditSink);
        const tenant = uniqueTenant('locked');
        sink.record(event(tenant, 0));
        await sink.flush();
        await locker.query('begin');
        await locker.query(`lock table ${schema}.mcp_agent_audit in access exclusive mode`);
        const lockerPid = (await locker.query('select pg_backend_pid() as pid')).rows[0].pid as number;
        for (let i = 1; i <= 40; i++) sink.record(event(tenant, i));
        await new Promise((resolve) => setTimeout(resolve, 300));
        const started = Date.now();
        await t.close();
        const elapsed = Date.now() - started;
        expect(elapsed).to.be.lessThan(1_500 + 3_000);
        const progress = logger.lines.filter((l) => l.message === 'still writing audit events');
        expect(progress.length).to.be.greaterThanOrEqual(2);
        const lost = logger.lines.find((l) => /audit events lost at shutdown/.test(l.message));
        expect(lost?.fields.lost).to.equal(40);
        // The blocked statement was cancelled, not left waiting behind the lock. (Asked of the lock's
        // holder, not of every audit writer on the server: an engine of another test may be writing.)
        const waiting = await admin.query(`select count(*)::int as n from pg_stat_activity where $1::int = any(pg_blocking_pids(pid))`, [lockerPid]);
        expect(waiting.rows[0].n).to.equal(0);
      } finally {
        await locker.query('rollback').catch(() => undefined);
        await locker.end();
        await knex.destroy();
      }
    });
  });

  it('hard-caps its buffer during an outage: refuses rather than grows (flood)', async () => {
    const logger = recordingLogger();
    const unreachable = knexFactory({ client: 'pg', connection: 'postgres://postgres@127.0.0.1:1/none', pool: { min: 0, max: 1 }, acquireConnectionTimeout: 500, log: { error: () => undefined, warn: () => undefined } });
    const settings: AuditSinkSettings = { ...DEFAULT_AUDIT_SINK_SETTINGS, maxBuffered: 100, batchSize: 20, flushTimeoutMs: 200, retryDelayMs: 10, maxRetryDelayMs: 50 };
    const database = { knex: unreachable, kind: 'postgres' as const, forTenant: () => { throw new Error('unused'); } };
    const sink = new DbAuditSink(database as never, settings, logger, new Telemetry({ logger, tenantLabels: 1 }));
    let refused = 0;
    let peak = 0;
    try {
      for (let i = 0; i < 20_000; i++) {
        try {
          sink.record(event('flood', i));
        } catch (error) {
          expect(error).to.be.instanceOf(AuditUnavailableError);
          refused++;
        }
        peak = Math.max(peak, sink.pending());
        if (i % 1000 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      expect(peak).to.equal(sink.hardCap);
      expect(sink.hardCap).to.equal(110);
      expect(refused).to.equal(20_000 - 110);
      expect(sink.accepting()).to.equal(false);
      expect(logger.lines.some((l) => /hard cap/.test(l.message) && l.fields.refused === 1)).to.equal(true);
    } finally {
      await sink.close();
      await unreachable.destroy();
    }
    expect(logger.lines.find((l) => /audit events lost at shutdown/.test(l.message))?.fields.lost).to.equal(110);
  });
});
