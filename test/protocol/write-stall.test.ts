/**
 * Clients that stop reading without hanging up: the engine does not keep their connections (and
 * what each stream holds) forever, and a response stream that had to drop its backlog never looks
 * like a complete answer.
 */
import { expect } from 'chai';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { PinoLogger, SessionStore, defineResource, defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { body, post, recordingGovernance } from './support.js';

const STALL_MS = 1_500;
const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: { sampling: {} }, clientInfo: { name: 'raw', version: '1' } } };

/** A promise with its resolver: the tests wait on these, never on sleeps. */
function latch<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

let progressSent = latch();

const plugin = definePlugin({
  id: 'stall-fixtures',
  resources: [defineResource({ name: 'note', uri: 'note://main', handler: () => 'the note' })],
  tools: [
    defineTool({
      name: 'ask-many',
      description: 'Asks the client’s model many long questions, without waiting for the answers.',
      input: z.object({ times: z.number().int(), size: z.number().int() }),
      handler: ({ times, size }, ctx) => {
        for (let i = 0; i < times; i++) {
          ctx.requestClient('sampling/createMessage', { messages: [{ role: 'user', content: { type: 'text', text: `${i}${'q'.repeat(size)}` } }], maxTokens: 1 }).catch(() => undefined);
        }
        return 'asked';
      },
    }),
    defineTool({
      name: 'report-much',
      description: 'Reports long progress many times, then answers.',
      input: z.object({ times: z.number().int(), size: z.number().int() }),
      handler: ({ times, size }, ctx) => {
        for (let i = 0; i < times; i++) void ctx.progress(i, times, `${i}${'p'.repeat(size)}`);
        progressSent.open();
        return 'the result';
      },
    }),
    defineTool({
      name: 'touch',
      description: 'Marks the note as changed.',
      input: z.object({}),
      handler: (_args, ctx) => {
        ctx.resourceUpdated('note://main');
        return 'touched';
      },
    }),
  ],
});

describe('protocol: a client that stops reading without hanging up', function () {
  this.timeout(120_000);
  const governance = recordingGovernance();
  const lines: Record<string, unknown>[] = [];
  let t: TestEngine;
  let server: http.Server;
  let port: number;
  /** The engine's response to the next request made through `server`. */
  let nextResponse = latch<http.ServerResponse>();

  before(async () => {
    t = await createTestEngine({
      plugins: [governance.edition, plugin],
      tenant: governance.tenant,
      connect: false,
      sessions: true,
      writeStallTimeoutMs: STALL_MS,
      logger: new PinoLogger('warn', { write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) }),
    });
    // The engine mounted on a server of the test's own, as a host mounts it: the test sees the
    // engine's side of each response.
    server = http.createServer((req, res) => {
      nextResponse.open(res);
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

  /** A raw client that sends `request` and reads nothing: its receive window fills and stays full. */
  async function stalledClient(request: string): Promise<{ socket: net.Socket; res: http.ServerResponse }> {
    nextResponse = latch();
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.pause();
    socket.write(request);
    return { socket, res: await nextResponse.promise };
  }

  it('the standalone stream of a client that stopped reading was held forever: it is dropped after the stall timeout, and the session opens a new one', async () => {
    const url = t.engine.mcpUrl();
    const session = (await post(url, 'reader-token', INIT)).headers.get('mcp-session-id')!;
    const subscribed = await post(url, 'reader-token', { jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri: 'note://main' } }, { 'mcp-session-id': session });
    expect((await body(subscribed)).result).to.deep.equal({});

    const { socket, res } = await stalledClient(
      `GET /api/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer reader-token\r\nAccept: text/event-stream\r\nMCP-Session-Id: ${session}\r\n\r\n`,
    );
    const dropped = new Promise<number>((resolve) => res.once('close', () => resolve(Date.now())));
    let step = 'waiting for the stream to open';
    const timeline = setTimeout(() => console.error(`stalled test still ${step}: needDrain=${res.writableNeedDrain} unsent=${res.writableLength} destroyed=${res.destroyed}`), 20_000);
    timeline.unref();
    const store = t.engine.resolve(SessionStore);
    const streaming = async (): Promise<boolean> => (await store.get(session, governance.reader))?.stream !== undefined;
    try {
      // The stream is the session's once its headers are out.
      while (!res.headersSent) await new Promise((resolve) => setImmediate(resolve));
      // One question of 8 MB: more than the connection takes from a client that reads nothing, so
      // the writer waits for a drain that never comes (one event is never too large for the backlog).
      // The writer cannot block before the question is asked: the cut comes a stall period after that
      // at the earliest (timed from here, not from when this test sees the block, which a loaded
      // machine makes later).
      const askedAt = Date.now();
      const asked = await post(url, 'reader-token', { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'ask-many', arguments: { times: 1, size: 8 * 1024 * 1024 } } }, { 'mcp-session-id': session, accept: 'application/json' });
      expect((await body(asked)).result.content).to.deep.equal([{ type: 'text', text: 'asked' }]);
      step = 'waiting for the writer to block';
      while (!res.writableNeedDrain && !res.destroyed) await new Promise((resolve) => setImmediate(resolve));
      step = 'waiting for the drop';
      // By condition, not by time: the engine drops the connection, which lets go of the session.
      const droppedAt = await dropped;
      expect(droppedAt - askedAt, 'ms from the question to the drop').to.be.at.least(STALL_MS);
      expect(res.writableFinished, 'the stream was cut, not finished').to.equal(false);
      expect(res.socket?.destroyed ?? true, 'the connection is gone').to.equal(true);
      step = 'waiting for the session to let go';
      while (await streaming()) await new Promise((resolve) => setImmediate(resolve));
      expect(lines.filter((line) => line.msg === 'client stopped reading: connection dropped').map((line) => [line.method, line.path])).to.deep.equal([['GET', '/api/mcp']]);
    } finally {
      socket.destroy();
    }

    step = 'waiting for a new stream';
    // The session lives on: a new stream receives the next update.
    const next = await fetch(url, { headers: { authorization: 'Bearer reader-token', accept: 'text/event-stream', 'mcp-session-id': session } });
    expect(next.status).to.equal(200);
    await post(url, 'reader-token', { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'touch', arguments: {} } }, { 'mcp-session-id': session });
    const reader = next.body!.getReader();
    let seen = '';
    step = 'waiting for the update on the new stream';
    while (!seen.includes('notifications/resources/updated')) seen += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
    clearTimeout(timeline);
  });

  it('a client reading one large message slowly was cut at the stall timeout although it kept reading: it gets the whole message', async () => {
    const size = 24 * 1024 * 1024;
    const url = t.engine.mcpUrl();
    const session = (await post(url, 'reader-token', INIT)).headers.get('mcp-session-id')!;
    const cutBefore = lines.filter((line) => line.msg === 'client stopped reading: connection dropped').length;
    const { socket, res } = await stalledClient(
      `GET /api/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer reader-token\r\nAccept: text/event-stream\r\nMCP-Session-Id: ${session}\r\n\r\n`,
    );
    let received = 0;
    let questionBytes = 0;
    let tail = '';
    const take = (chunk: Buffer): void => {
      received += chunk.length;
      for (const byte of chunk) if (byte === 0x71 /* q */) questionBytes++;
      tail = (tail + chunk.toString('latin1')).slice(-4096);
    };
    try {
      while (!res.headersSent) await new Promise((resolve) => setImmediate(resolve));
      // One question of 24 MB, written to the stream in one piece: far more than the connection holds.
      const asked = await post(url, 'reader-token', { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'ask-many', arguments: { times: 1, size } } }, { 'mcp-session-id': session, accept: 'application/json' });
      expect((await body(asked)).result.content).to.deep.equal([{ type: 'text', text: 'asked' }]);
      while (!res.writableNeedDrain && !res.destroyed) await new Promise((resolve) => setImmediate(resolve));
      // The client reads, slower than the write can finish in a stall period: at most 192 KB every
      // 50 ms. The kernel shows its progress in steps of its buffers (a few MB on loopback), so the
      // rate is set where a step fits in a period; what is asserted is that reading keeps the stream.
      let budget = 0;
      socket.on('data', (chunk: Buffer) => {
        take(chunk);
        budget -= chunk.length;
        if (budget <= 0) socket.pause();
      });
      const slowUntil = Date.now() + 2.5 * STALL_MS;
      while (Date.now() < slowUntil && !res.destroyed) {
        budget = 192 * 1024;
        socket.resume();
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      socket.pause();
      expect(res.destroyed, 'a client that keeps reading is not cut').to.equal(false);
      expect(received, 'the client read part of the message').to.be.greaterThan(0);
      // Then it reads at full speed: the whole question arrives.
      await new Promise<void>((resolve, reject) => {
        const done = (): void => {
          if (questionBytes >= size && tail.includes('"maxTokens":1')) resolve();
        };
        budget = Number.POSITIVE_INFINITY;
        socket.on('data', done);
        socket.once('close', () => reject(new Error(`the connection closed after ${received} bytes`)));
        socket.resume();
        done();
      });
      expect(lines.filter((line) => line.msg === 'client stopped reading: connection dropped').length).to.equal(cutBefore);
    } finally {
      socket.destroy();
    }
  });

  it('a response stream outside a session that dropped its backlog ended cleanly without the result: it is aborted, so the client can tell', async () => {
    progressSent = latch();
    const call = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'report-much', arguments: { times: 40, size: 200 * 1024 }, _meta: { progressToken: 'p' } } });
    const { socket, res } = await stalledClient(
      `POST /api/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer reader-token\r\nAccept: application/json, text/event-stream\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(call)}\r\n\r\n${call}`,
    );
    try {
      await progressSent.promise;
      // The backlog overflowed at once (the tool sent 8 MB in one go): the engine ends the response.
      await new Promise((resolve) => res.once('close', resolve));
      // The client reads again: what was sent, then the end.
      let tail = '';
      let text = '';
      socket.on('data', (chunk: Buffer) => {
        text += chunk.toString('latin1');
        tail = text.slice(-16);
      });
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.resume();
      });
      expect(text.startsWith('HTTP/1.1 200'), 'the stream had started').to.equal(true);
      expect(tail.endsWith('0\r\n\r\n'), 'the response ended cleanly').to.equal(false);
      expect(text).to.not.include('the result');
    } finally {
      socket.destroy();
    }
  });
});
