/**
 * Item 3 of the hardening work: the audit export never lies. A failure after the first byte aborts
 * the response (no clean end of stream) and JSONL ends with an error record; filters that would
 * fail are refused with 400 before streaming starts.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import knexFactory, { type Knex } from 'knex';
import { AuditSink, openDatabase } from '@gatehouse-mcp/engine';
import { AuditCheckpointer } from '@gatehouse-mcp/engine/ee';
import { AuditQuery } from '../../../src/plugins/ee/audit/audit-query.js';
import { governanceEngine, type GovernanceTestEngine } from './support.js';

const URL_ = process.env.DATABASE_URL;
// 6 000 rows of ~3 KB (12 keyset pages, ~20 MB): more than any socket buffer holds, so the export
// is still reading pages when the database connection is killed.
const ROWS = 6_000;

/** GET `url` and read the raw body: whether the stream ended cleanly or was cut. */
function rawGet(url: string, token: string, onFirstData: () => void): Promise<{ status: number; body: string; clean: boolean }> {
  return new Promise((resolve) => {
    const req = http.get(url, { headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      let first = true;
      let settled = false;
      const done = (clean: boolean) => {
        if (settled) return;
        settled = true;
        resolve({ status: res.statusCode ?? 0, body, clean });
      };
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
        if (first) {
          first = false;
          onFirstData();
        }
      });
      res.on('end', () => done(res.complete));
      res.on('aborted', () => done(false));
      res.on('error', () => done(false));
      res.on('close', () => done(res.complete));
    });
    req.on('error', () => resolve({ status: 0, body: '', clean: false }));
  });
}

describe('EE audit: the export never hides its own failure', function () {
  this.timeout(120_000);
  let t: GovernanceTestEngine;
  let admin: Knex;
  let appName: string;
  let schema: string;
  let close: () => Promise<void>;

  before(async function () {
    if (!URL_) this.skip();
    appName = `gh13_export_${randomBytes(4).toString('hex')}`;
    schema = `gh13_export_${randomBytes(4).toString('hex')}`;
    const separator = URL_!.includes('?') ? '&' : '?';
    const db = await openDatabase({ url: `${URL_}${separator}application_name=${appName}`, schema, pool: { min: 0, max: 4 } });
    close = () => db.close();
    admin = knexFactory({ client: 'pg', connection: URL_ });
    t = await governanceEngine({ database: { knex: db.knex } });
    // Enough rows for several keyset pages of 500, written through the audit sink.
    const sink = t.engine.resolve<AuditSink>(AuditSink);
    const now = Date.now();
    for (let i = 0; i < ROWS; i++) {
      sink.record({
        time: new Date(now - i * 1000),
        tenant: t.tenant,
        principal: undefined,
        action: 'tools/call',
        target: 'echo',
        decision: 'allowed',
        reason: `${i} ${'x'.repeat(3_000)}`,
        outcome: 'success',
        arguments: undefined,
        latencyMs: 1,
        requestId: `req-${i}`,
        clientAddress: '127.0.0.1',
      });
      if (i % 1_000 === 999) await sink.flush();
    }
    await sink.flush();
  });
  after(async () => {
    await t?.close().catch(() => undefined);
    await admin?.raw('drop schema if exists ?? cascade', [schema]).catch(() => undefined);
    await close?.().catch(() => undefined);
    await admin?.destroy();
  });

  /**
   * Make the export's next page query wait on a table lock, then terminate the engine's database
   * connections (the waiting one among them): the connection dies in the middle of the export.
   */
  async function killMidExport(): Promise<void> {
    const lock = await admin.transaction();
    try {
      await lock.raw('lock table ??.mcp_agent_audit in access exclusive mode', [schema]);
      const deadline = Date.now() + 20_000;
      for (;;) {
        const { rows } = await admin.raw("select pid from pg_stat_activity where application_name = ? and wait_event_type = 'Lock'", [appName]);
        if (rows.length > 0) break;
        if (Date.now() > deadline) throw new Error('the export never waited for the next page');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      await admin.raw('select pg_terminate_backend(pid) from pg_stat_activity where application_name = ? and pid <> pg_backend_pid()', [appName]);
    } finally {
      await lock.rollback();
    }
  }

  // After a database restart every pooled connection is dead, but the pool learns so only as each
  // termination arrives: an audit page read in that window answered 503 (seen as the export's
  // "the engine recovers" request failing), although the database was back.
  it('reads the audit trail and its checkpoints right after every pooled connection was terminated', async () => {
    const query = t.engine.resolve(AuditQuery);
    const checkpoints = t.engine.resolve(AuditCheckpointer);
    for (let round = 0; round < 5; round++) {
      for (const read of [
        async () => expect((await query.page(t.tenant, {}, 5)).entries).to.have.length(5),
        async () => expect((await query.pages(t.tenant, {}, 5).next()).done).to.equal(false),
        async () => expect(await checkpoints.list(t.tenant)).to.be.an('array'),
      ]) {
        await Promise.all([1, 2, 3, 4].map(() => t.engine.database.knex.raw('select pg_sleep(0.05)')));
        const { rows } = await admin.raw('select pg_terminate_backend(pid) from pg_stat_activity where application_name = ? and pid <> pg_backend_pid()', [appName]);
        expect(rows.length, 'pooled connections to terminate').to.be.at.least(1);
        await read();
      }
    }
  });

  for (const format of ['jsonl', 'csv'] as const) {
    it(`a ${format} export whose database connection dies mid-stream is aborted, not ended cleanly`, async () => {
      const whole = await rawGet(`${t.url}/api/v1/mcp/audit/export?format=${format}`, t.adminKey, () => undefined);
      expect(whole).to.include({ status: 200, clean: true });
      const lines = whole.body.trim().split(/\r?\n/);
      expect(lines.length).to.be.at.least(ROWS);

      let killed: Promise<unknown> | undefined;
      const cut = await rawGet(`${t.url}/api/v1/mcp/audit/export?format=${format}`, t.adminKey, () => {
        killed = killMidExport();
      });
      await killed;
      expect(cut.status).to.equal(200);
      expect(cut.clean, 'the response must not end cleanly').to.equal(false);
      expect(cut.body.length).to.be.below(whole.body.length);
      if (format === 'jsonl') {
        const last = JSON.parse(cut.body.trim().split('\n').at(-1)!);
        expect(last.error.code).to.equal('export_failed');
        expect(last.error.message).to.match(/^The export failed after \d+ entries; this file is incomplete \(request [^)]+\)\.$/);
      }
      // The engine recovers: the pool opens new connections.
      const again = await rawGet(`${t.url}/api/v1/mcp/audit/export?format=${format}`, t.adminKey, () => undefined);
      expect(again, again.body.slice(0, 500)).to.include({ status: 200, clean: true });
    });
  }

  it('filters that would fail are refused with 400 before streaming starts', async () => {
    for (const [query, field] of [
      ['from=%2B275760-09-13T00%3A00%3A00.000Z', 'from'],
      ['to=0000-01-01T00%3A00%3A00Z', 'to'],
      ['agent=%00', 'agent'],
      ['tool=a%00b', 'tool'],
      ['format=xml', 'format'],
    ] as const) {
      const response = await t.http('GET', `/api/v1/mcp/audit/export?format=jsonl&${query}`, { token: t.adminKey });
      expect(response.status, `${query}: ${response.text}`).to.equal(400);
      expect(response.headers.get('content-type')).to.match(/^application\/json/);
      expect(response.body?.error?.details, response.text).to.be.an('array');
      expect(response.body.error.details.map((d: { field: string }) => d.field), query).to.include(field);
    }
  });
});
