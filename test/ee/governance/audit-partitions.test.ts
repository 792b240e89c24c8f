import { copyFileSync, mkdtempSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { AuditSink, createEngine, runMigrations, type AuditEvent } from '@gatehouse-mcp/engine';
import { AuditRetention, AuditVerifier, enterpriseEdition } from '@gatehouse-mcp/engine/ee';
import { freshDatabase, uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { RecordingLogger } from '../../support/recording-logger.js';
import { governanceEngine, insertChainedAuditRows, type GovernanceTestEngine } from './support.js';

const partitionsOf = async (knex: import('knex').Knex): Promise<string[]> =>
  (
    (await knex.raw(`select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = to_regclass('mcp_agent_audit') order by 1`)) as {
      rows: { name: string }[];
    }
  ).rows.map((r) => r.name);

function liveEvent(tenant: string, i: number): AuditEvent {
  return {
    time: new Date(),
    tenant,
    principal: undefined,
    action: 'tools/call',
    target: 'tickets.read',
    decision: 'allowed',
    reason: undefined,
    outcome: 'success',
    arguments: { i },
    latencyMs: 1,
    requestId: `live-${i}`,
    clientAddress: undefined,
  };
}

describe('EE audit table partitioned by month', function () {
  this.timeout(120_000);

  it('converts an existing unpartitioned audit table without losing or changing a row, and chains what it had', async () => {
    const db = await freshDatabase();
    try {
      // The Enterprise schema as it was before the audit chain: only the first migration.
      const before = mkdtempSync(path.join(tmpdir(), 'ee-migrations-'));
      const first = fileURLToPath(new URL('../../../ee-migrations/20261124100001_governance.ts', import.meta.url));
      copyFileSync(first, path.join(before, path.basename(first)));
      await runMigrations(db.knex, [{ id: 'core', directory: fileURLToPath(new URL('../../../migrations/', import.meta.url)) }, { id: 'enterprise-edition', directory: before }]);
      const tenants = [uniqueTenant('legacy'), uniqueTenant('legacy')];
      const legacy = Array.from({ length: 1500 }, (_, i) => ({
        tenant: tenants[i % 2],
        occurred_at: new Date(Date.UTC(2026, 7 + (i % 3), 1 + (i % 27), 12, 0, 0, i % 1000)),
        action: 'tools/call',
        target: 'tickets.read',
        decision: i % 7 ? 'allowed' : 'denied',
        outcome: i % 7 ? 'success' : 'denied',
        arguments: JSON.stringify({ i, nested: { z: 1, a: [i] } }),
        details: i % 5 ? null : JSON.stringify({ tool: 'tickets.read' }),
        latency_ms: i / 7,
        request_id: `legacy-${i}`,
      }));
      for (let i = 0; i < legacy.length; i += 500) await db.knex('mcp_agent_audit').insert(legacy.slice(i, i + 500));
      const oldRows = (await db.knex('mcp_agent_audit').orderBy('id')) as Record<string, unknown>[];

      const engine = await createEngine({ plugins: [enterpriseEdition()], database: { knex: db.knex }, logLevel: 'silent' });
      try {
        const newRows = (await db.knex('mcp_agent_audit').orderBy('id')) as Record<string, unknown>[];
        expect(newRows).to.have.length(oldRows.length);
        const strip = ({ seq: _s, prev_hash: _p, hash: _h, event_id: _e, ...rest }: Record<string, unknown>) => rest;
        expect(newRows.map(strip)).to.deep.equal(oldRows);
        const partitions = await partitionsOf(db.knex);
        expect(partitions).to.include.members(['mcp_agent_audit_y2026m08', 'mcp_agent_audit_y2026m09', 'mcp_agent_audit_y2026m10']);
        for (const tenant of tenants) {
          const result = await engine.resolve(AuditVerifier).verify(tenant);
          expect(result.ok, JSON.stringify(result.break)).to.equal(true);
          expect(result.rows).to.equal(750);
        }
        // New events continue each chain, and take fresh ids.
        const sink = engine.resolve<AuditSink>(AuditSink);
        sink.record(liveEvent(tenants[0]!, 1));
        await sink.flush();
        const live = await db.knex('mcp_agent_audit').where({ request_id: 'live-1' }).first();
        expect(Number(live.seq)).to.equal(751);
        expect(Number(live.id)).to.be.greaterThan(Math.max(...oldRows.map((r) => Number(r.id))));
        expect((await engine.resolve(AuditVerifier).verify(tenants[0]!)).ok).to.equal(true);
      } finally {
        await engine.close();
      }
    } finally {
      await db.close();
    }
  });

  describe('retention', () => {
    let t: GovernanceTestEngine;
    const signing = generateKeyPairSync('ed25519');
    afterEach(async () => {
      await t?.close();
    });

    async function seedOldAndNew(knex: import('knex').Knex, tenant: string): Promise<void> {
      const now = Date.now();
      const rows = [
        ...[900, 800, 700, 420].map((days, i) => ({ days, i })),
        ...[30, 1].map((days, i) => ({ days, i: i + 10 })),
      ].map(({ days, i }) => ({
        tenant,
        occurred_at: new Date(now - days * 86_400_000),
        action: 'tools/call',
        target: 'tickets.read',
        decision: 'allowed',
        outcome: 'success',
        arguments: JSON.stringify({ i }),
        request_id: `old-${i}`,
      }));
      await insertChainedAuditRows(knex, rows);
    }

    it('drops whole months older than the limit and leaves a signed checkpoint where each chain now starts', async () => {
      t = await governanceEngine({ edition: { audit: { checkpoints: { signingKey: signing.privateKey } } } });
      const tenant = t.tenant;
      await seedOldAndNew(t.knex, tenant);
      const before = await partitionsOf(t.knex);
      const result = await t.engine.resolve(AuditRetention).prune(400);
      expect(result.ran).to.equal(true);
      expect(result.dropped.length).to.be.greaterThanOrEqual(3);
      for (const name of result.dropped) expect(before).to.include(name);
      const after = await partitionsOf(t.knex);
      for (const name of result.dropped) expect(after).to.not.include(name);
      const remaining = await t.knex('mcp_agent_audit').where({ tenant }).orderBy('seq');
      for (const gone of ['old-0', 'old-1', 'old-2']) expect(remaining.map((r) => r.request_id)).to.not.include(gone);
      expect(remaining.map((r) => r.request_id)).to.include.members(['old-10', 'old-11']);
      const anchor = result.anchors.find((a) => a.tenant === tenant)!;
      expect(anchor.seq).to.equal(Number(remaining[0].seq) - 1);
      const verified = await t.engine.resolve(AuditVerifier).verify(tenant);
      expect(verified.ok, JSON.stringify(verified.break)).to.equal(true);
      expect(verified.anchored).to.equal(true);

      // Without the anchor, the cut chain no longer verifies: rows before it look deleted.
      await t.knex('mcp_audit_checkpoints').where({ tenant, seq: anchor.seq }).delete();
      const unanchored = await t.engine.resolve(AuditVerifier).verify(tenant);
      expect(unanchored.ok).to.equal(false);
      expect(unanchored.break?.reason).to.equal('missing-rows');
    });

    it('refuses to prune without a signing key, so the rest of the chain cannot become unverifiable', async () => {
      t = await governanceEngine();
      await seedOldAndNew(t.knex, t.tenant);
      let error: unknown;
      try {
        await t.engine.resolve(AuditRetention).prune(400);
      } catch (caught) {
        error = caught;
      }
      expect((error as Error).message).to.match(/signing key/);
      expect(await t.knex('mcp_agent_audit').where({ tenant: t.tenant })).to.have.length(6);
    });

    it('prunes daily when asked to, starting at start-up', async () => {
      const db = await freshDatabase();
      try {
        const seeder = await governanceEngine({ database: { knex: db.knex } });
        await seedOldAndNew(seeder.knex, seeder.tenant);
        const tenant = seeder.tenant;
        await seeder.close();
        t = await governanceEngine({
          database: { knex: db.knex },
          edition: { audit: { checkpoints: { signingKey: signing.privateKey }, retention: { olderThanDays: 400, daily: true } } },
        });
        const deadline = Date.now() + 10_000;
        const left = async (): Promise<string[]> => (await t.knex('mcp_agent_audit').where({ tenant })).map((r) => r.request_id as string);
        while ((await left()).includes('old-0') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        for (const gone of ['old-0', 'old-1', 'old-2']) expect(await left()).to.not.include(gone);
        expect(await left()).to.include.members(['old-10', 'old-11']);
        expect((await t.engine.resolve(AuditVerifier).verify(tenant)).ok).to.equal(true);
      } finally {
        await t?.close();
        t = undefined as unknown as GovernanceTestEngine;
        await db.close();
      }
    });

    it('a daily prune that found the retention lock held was skipped without a word: it is logged, with when it is tried again, and nothing is dropped', async function () {
      // The lock is held on a second connection, which the embedded database does not have.
      if (!process.env.DATABASE_URL) this.skip();
      const db = await freshDatabase();
      const logger = new RecordingLogger();
      let holder: import('knex').Knex.Transaction | undefined;
      try {
        const seeder = await governanceEngine({ database: { knex: db.knex } });
        await seedOldAndNew(seeder.knex, seeder.tenant);
        const tenant = seeder.tenant;
        await seeder.close();
        // Another session is pruning (or stuck doing it): it holds the retention lock.
        holder = await db.knex.transaction();
        await holder.raw('select pg_advisory_xact_lock(7240014002)');
        const startedAt = Date.now();
        t = await governanceEngine({
          database: { knex: db.knex },
          logger,
          edition: { audit: { checkpoints: { signingKey: signing.privateKey }, retention: { olderThanDays: 400, daily: true } } },
        });
        const message = 'audit retention skipped: another session holds the retention lock (another instance pruning); the next daily round tries again';
        const deadline = Date.now() + 10_000;
        while (!logger.lines.some((line) => line.message === message) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
        const skipped = logger.lines.filter((line) => line.message === message);
        expect(skipped, 'the skipped prune').to.have.length(1);
        expect(skipped[0]!.level).to.equal('warn');
        const fields = JSON.parse(skipped[0]!.json) as { olderThanDays: number; nextAttemptAt: string };
        expect(fields.olderThanDays).to.equal(400);
        expect(Date.parse(fields.nextAttemptAt) - startedAt).to.be.closeTo(86_400_000, 60_000);
        expect((await t.knex('mcp_agent_audit').where({ tenant })).map((r) => r.request_id)).to.include.members(['old-0', 'old-1', 'old-2']);
      } finally {
        await holder?.rollback();
        await t?.close();
        t = undefined as unknown as GovernanceTestEngine;
        await db.close();
      }
    });
  });
});
