/**
 * An audit export whose client stops reading but never hangs up: the engine drops the connection
 * once the export has made no progress for the write-stall timeout, and the trail records the
 * export as incomplete. A client that reads slowly but steadily gets the whole export.
 */
import { expect } from 'chai';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { AuditSink } from '@gatehouse-mcp/engine';
import { governanceEngine, insertChainedAuditRows, type GovernanceTestEngine } from './support.js';

// 4,000 rows of ~3 KB: an export of about 12 MB, more than the loopback socket buffers hold.
const ROWS = 4_000;
// Loopback sockets reopen a full receive window only after much of it was read: a reader of 128 KB
// every 100 ms lets the writer go on about every 1.2 s here. The timeout leaves it a wide margin.
const STALL_MS = 4_000;
const EXPORT = '/api/v1/mcp/audit/export?format=jsonl&action=tools%2Fcall';

/** A promise with its resolver: the test waits on these, never on sleeps. */
function latch<T>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

describe('EE audit: an export whose client stops reading without hanging up', function () {
  this.timeout(180_000);
  let t: GovernanceTestEngine;
  let server: http.Server;
  let port: number;
  /** The engine's response to the next export request made through `server`. */
  let nextExport = latch<http.ServerResponse>();

  before(async () => {
    t = await governanceEngine({ writeStallTimeoutMs: STALL_MS });
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
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    await t?.close();
  });

  /** The newest `audit.export` row of this tenant, once the sink has written what it holds. */
  async function newestExport(after: number): Promise<{ outcome: string; reason: string | null; details: Record<string, unknown> }> {
    for (;;) {
      await t.engine.resolve<AuditSink>(AuditSink).flush();
      const rows = await t.knex('mcp_agent_audit').where({ tenant: t.tenant, action: 'audit.export' }).orderBy('seq', 'desc');
      if (rows.length > after) return rows[0];
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** A raw client: sends the export request; the socket starts paused (reads nothing). */
  async function exportClient(): Promise<net.Socket> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.pause();
    socket.write(`GET ${EXPORT} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${t.adminKey}\r\nConnection: close\r\n\r\n`);
    return socket;
  }

  it('a client that stops reading held its connection forever: it is dropped after the stall timeout and the export is recorded as incomplete', async () => {
    nextExport = latch();
    const socket = await exportClient();
    const res = await nextExport.promise;
    const closed = new Promise<number>((resolve) => res.once('close', () => resolve(Date.now())));
    // By condition, not by time: the writer is waiting for a drain that the client does not allow.
    while (!res.writableNeedDrain) await new Promise((resolve) => setImmediate(resolve));
    const stalledAt = Date.now();
    try {
      const droppedAt = await closed;
      expect(droppedAt - stalledAt, 'ms from the stall to the drop').to.be.at.least(STALL_MS - 50);
      expect(res.socket?.destroyed ?? true, 'the connection is gone').to.equal(true);
      const cut = await newestExport(0);
      expect(cut.outcome).to.equal('error');
      expect(cut.details).to.include({ format: 'jsonl', complete: false });
      expect(cut.details.entries).to.be.a('number').above(0).and.below(ROWS);
      expect(cut.reason).to.match(/incomplete file/);
    } finally {
      socket.destroy();
    }
  });

  it('a client that reads slowly but steadily is not cut: it gets the whole export', async () => {
    const before = (await t.knex('mcp_agent_audit').where({ tenant: t.tenant, action: 'audit.export' })).length;
    nextExport = latch();
    const served = nextExport.promise.then((res) => {
      let waited = false;
      res.on('drain', () => (waited = true));
      return new Promise<boolean>((resolve) => res.once('close', () => resolve(waited)));
    });
    let reading: NodeJS.Timeout | undefined;
    const received = await new Promise<{ clean: boolean; events: number }>((resolve, reject) => {
      http
        .get(`http://127.0.0.1:${port}${EXPORT}`, { headers: { authorization: `Bearer ${t.adminKey}` } }, (res) => {
          let rest = '';
          let events = 0;
          res.pause();
          // 128 KB every 100 ms: much slower than the engine writes, but never stopped for the stall timeout.
          reading = setInterval(() => {
            const chunk = (res.read(128 * 1024) ?? res.read()) as Buffer | null;
            if (!chunk) return;
            const lines = (rest + chunk.toString('utf8')).split('\n');
            rest = lines.pop()!;
            for (const line of lines) if (line.startsWith('{"type":"event"')) events++;
          }, 100);
          res.once('end', () => resolve({ clean: res.complete, events }));
          res.once('error', reject);
          res.once('close', () => resolve({ clean: res.complete, events }));
        })
        .on('error', reject);
    }).finally(() => clearInterval(reading));
    expect(await served, 'the writer had to wait for the reader').to.equal(true);
    expect(received).to.deep.equal({ clean: true, events: ROWS });
    const whole = await newestExport(before);
    expect(whole.outcome).to.equal('success');
    expect(whole.details).to.include({ format: 'jsonl', entries: ROWS, complete: true });
  });
});
