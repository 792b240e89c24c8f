/**
 * An audit export whose client stops reading: the engine stops writing (no buffering of the rest
 * of the trail), holds no database connection while it waits, keeps its memory bounded, lets go of
 * everything when the client hangs up, and still records the export in the trail.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Knex } from 'knex';
import { AuditSink, openDatabase } from '@gatehouse-mcp/engine';
import { governanceEngine, insertChainedAuditRows, type GovernanceTestEngine } from './support.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const heapUsed = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const URL_ = process.env.DATABASE_URL;
// 9,000 rows of ~3 KB: an export of about 30 MB, many times what the socket buffers hold.
const ROWS = 9_000;
const EXPORT = '/api/v1/mcp/audit/export?format=jsonl&action=tools%2Fcall';

/** A promise with its resolver: the test waits on these, never on sleeps. */
function latch<T>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

/** A whole export read by a client that keeps up: its status, whether it ended cleanly, its event lines. */
function readExport(url: string, token: string): Promise<{ status: number; clean: boolean; events: number }> {
  return new Promise((resolve, reject) => {
    http
      .get(`${url}${EXPORT}`, { headers: { authorization: `Bearer ${token}` } }, (res) => {
        let events = 0;
        let rest = '';
        res.setEncoding('utf8');
        res.on('data', (text: string) => {
          const lines = (rest + text).split('\n');
          rest = lines.pop()!;
          for (const line of lines) if (line.startsWith('{"type":"event"')) events++;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, clean: res.complete, events }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

describe('EE audit: an export whose client stops reading', function () {
  this.timeout(180_000);
  let t: GovernanceTestEngine;
  let server: http.Server;
  let url: string;
  let closeDatabase: () => Promise<void> = async () => {};
  /** The engine's response to the next export request made through `server`. */
  let nextExport = latch<http.ServerResponse>();

  before(async () => {
    let database: { knex: Knex } | undefined;
    if (URL_) {
      // One connection in the pool: an export that kept it while stalled would block every other query.
      const schema = `gh19_stall_${randomBytes(4).toString('hex')}`;
      const db = await openDatabase({ url: URL_, schema, pool: { min: 0, max: 1 } });
      database = { knex: db.knex };
      closeDatabase = async () => {
        await db.knex.raw('drop schema if exists ?? cascade', [schema]);
        await db.close();
      };
    }
    // Without a server, the embedded database has a single connection anyway.
    t = await governanceEngine(database ? { database } : {});
    const now = Date.now();
    await insertChainedAuditRows(
      t.knex,
      Array.from({ length: ROWS }, (_, i) => ({
        tenant: t.tenant,
        occurred_at: new Date(now - i * 1000),
        principal_kind: 'agent',
        principal_label: 'bot',
        action: 'tools/call',
        target: 'echo',
        decision: 'allowed',
        reason: `${i} ${'x'.repeat(3_000)}`,
        outcome: 'success',
        latency_ms: 1,
        request_id: `seed-${i}`,
      })),
    );
    // The engine mounted on a server of the test's own, as a host mounts it: the test sees the
    // engine's side of each response.
    server = http.createServer((req, res) => {
      if (req.url?.startsWith('/api/v1/mcp/audit/export')) nextExport.open(res);
      t.engine.nodeHandler(req, res);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    await t?.close();
    await closeDatabase();
  });

  /** The `audit.export` rows of this tenant, newest first, once the sink has written what it holds. */
  async function exportEvents(): Promise<{ outcome: string; reason: string | null; details: Record<string, unknown>; principal_label: string }[]> {
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    return t.knex('mcp_agent_audit').where({ tenant: t.tenant, action: 'audit.export' }).orderBy('seq', 'desc');
  }

  it('stops writing, holds no connection and bounded memory while stalled, and records the export when the client hangs up', async () => {
    const baseline = heapUsed();
    nextExport = latch();
    const responded = nextExport.promise;

    // A raw HTTP client that sends its request and reads nothing: its receive window fills and stays full.
    const stalled = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
    await new Promise<void>((resolve) => stalled.once('connect', resolve));
    stalled.pause();
    stalled.write(`GET ${EXPORT} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.adminKey}\r\n\r\n`);
    const res = await responded;
    const hungUp = new Promise<void>((resolve) => res.once('close', () => resolve()));
    // By condition, not by time: the writer is waiting for a drain that the client does not allow.
    while (!res.writableNeedDrain) await new Promise((resolve) => setImmediate(resolve));

    // A whole export runs while the first one is stalled: on a pool of one connection (or the
    // embedded database's only one), so the stalled export holds none.
    nextExport = latch();
    const second = await readExport(url, t.adminKey);
    expect(second).to.deep.equal({ status: 200, clean: true, events: ROWS });

    const written = res.socket!.bytesWritten;
    const grown = heapUsed() - baseline;
    // Another whole export's worth of time later, the stalled response has not moved.
    nextExport = latch();
    expect(await readExport(url, t.adminKey)).to.deep.equal({ status: 200, clean: true, events: ROWS });
    expect(res.socket!.bytesWritten, 'bytes written to the stalled client meanwhile').to.equal(written);
    expect(res.writableNeedDrain).to.equal(true);
    // Not the rest of the trail queued in memory: about what the socket buffers hold was written,
    // and the heap holds at most a page of rows besides.
    expect(written, 'bytes handed to the stalled socket').to.be.below(12 * 1024 * 1024);
    expect(grown, 'heap growth while the export is stalled').to.be.below(12 * 1024 * 1024);

    stalled.destroy();
    await hungUp;
    // The export is recorded once the engine has stopped it: poll the trail (by condition).
    let events = await exportEvents();
    while (!events.some((event) => event.outcome === 'error')) {
      await new Promise((resolve) => setImmediate(resolve));
      events = await exportEvents();
    }
    const cut = events.find((event) => event.outcome === 'error')!;
    expect(cut.principal_label).to.equal('admin');
    expect(cut.details).to.include({ format: 'jsonl', complete: false });
    expect(cut.details.filter).to.deep.equal({ action: 'tools/call' });
    expect(cut.details.entries).to.be.a('number').above(0).and.below(ROWS);
    expect(cut.reason).to.equal(`The client stopped the download after ${cut.details.entries as number} entries; it has an incomplete file.`);
    const whole = events.filter((event) => event.outcome === 'success');
    expect(whole.map((event) => event.details)).to.deep.equal([
      { format: 'jsonl', filter: { action: 'tools/call' }, entries: ROWS, complete: true },
      { format: 'jsonl', filter: { action: 'tools/call' }, entries: ROWS, complete: true },
    ]);

    // Nothing is left behind: the next export reads the whole trail on the same single connection.
    nextExport = latch();
    expect(await readExport(url, t.adminKey)).to.deep.equal({ status: 200, clean: true, events: ROWS });
  });
});
