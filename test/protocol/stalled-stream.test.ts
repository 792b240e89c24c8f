/**
 * A session's standalone SSE stream (GET) whose client stops reading while the server has much to
 * send: the engine does not hold everything sent to it. The stream ends once its backlog is full,
 * lets go of the session, and a client that reads again sees the end and can open a new stream.
 */
import { expect } from 'chai';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import v8 from 'node:v8';
import vm from 'node:vm';
import { SessionStore, defineResource, defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { body, post, recordingGovernance } from './support.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const heapUsed = (): number => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: { sampling: {} }, clientInfo: { name: 'raw', version: '1' } } };
// 100 requests of 200 KB: about 20 MB of events, several times what socket buffers and the backlog hold.
const REQUESTS = 100;
const SIZE = 200 * 1024;

const plugin = definePlugin({
  id: 'stream-fixtures',
  resources: [defineResource({ name: 'note', uri: 'note://main', handler: () => 'the note' })],
  tools: [
    defineTool({
      name: 'ask-many',
      description: 'Asks the client’s model many long questions, without waiting for the answers.',
      input: z.object({ times: z.number().int(), size: z.number().int() }),
      handler: ({ times, size }, ctx) => {
        // Answered as plain JSON, so the questions go out on the session's standalone stream.
        for (let i = 0; i < times; i++) {
          ctx.requestClient('sampling/createMessage', { messages: [{ role: 'user', content: { type: 'text', text: `${i}${'q'.repeat(size)}` } }], maxTokens: 1 }).catch(() => undefined);
        }
        return 'asked';
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

describe('protocol: a standalone SSE stream whose client stops reading', function () {
  this.timeout(120_000);
  const governance = recordingGovernance();
  let t: TestEngine;
  let server: http.Server;
  let port: number;

  before(async () => {
    t = await createTestEngine({ plugins: [governance.edition, plugin], tenant: governance.tenant, connect: false, sessions: true });
    // The engine mounted on a server of the test's own, as a host mounts it.
    server = http.createServer((req, res) => t.engine.nodeHandler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
    await t?.close();
  });

  it('ends the stream once its backlog is full instead of holding every event, and lets go of the session', async () => {
    const url = t.engine.mcpUrl();
    const session = (await post(url, 'reader-token', INIT)).headers.get('mcp-session-id')!;
    const subscribed = await post(url, 'reader-token', { jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri: 'note://main' } }, { 'mcp-session-id': session });
    expect((await body(subscribed)).result).to.deep.equal({});

    // A raw client opens the session's stream and reads nothing: its receive window fills and stays full.
    const stalled = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => stalled.once('connect', resolve));
    stalled.pause();
    stalled.write(`GET /api/mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer reader-token\r\nAccept: text/event-stream\r\nMCP-Session-Id: ${session}\r\n\r\n`);
    const store = t.engine.resolve(SessionStore);
    const streaming = async (): Promise<boolean> => (await store.get(session, governance.reader))?.stream !== undefined;
    /** Wait for `condition`, failing with `what` rather than at the test's timeout. */
    const until = async (what: string, condition: () => Promise<boolean>): Promise<void> => {
      for (const deadline = Date.now() + 60_000; !(await condition()); await new Promise((resolve) => setImmediate(resolve))) {
        if (Date.now() > deadline) expect.fail(`${what}: not within 60 s`);
      }
    };
    await until('the session streams', streaming);

    const baseline = heapUsed();
    const asked = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer reader-token', 'mcp-session-id': session },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'ask-many', arguments: { times: REQUESTS, size: SIZE } } }),
    });
    expect((await body(asked)).result.content).to.deep.equal([{ type: 'text', text: 'asked' }]);
    // By condition, not by time: the stream gives up the session once its backlog is full.
    await until('the stream gives up the session', async () => !(await streaming()));
    const grown = heapUsed() - baseline;
    expect(grown, 'heap growth with 20 MB sent to a client that reads nothing').to.be.below(8 * 1024 * 1024);

    // The client reads again: what the socket held and the backlog, then the end of the stream.
    let received = 0;
    let text = '';
    stalled.on('data', (chunk: Buffer) => {
      received += chunk.length;
      text = (text + chunk.toString('latin1')).slice(-16);
    });
    await new Promise<void>((resolve) => {
      stalled.on('data', () => {
        // The last chunk of a chunked body: the server ended the response.
        if (text.endsWith('0\r\n\r\n')) resolve();
      });
      // A connection cut instead of ended fails below rather than waiting for the test's timeout.
      stalled.once('close', () => resolve());
      stalled.resume();
    });
    expect(text.endsWith('0\r\n\r\n'), 'the response was ended (its last chunk arrived), not cut').to.equal(true);
    expect(received, 'bytes the client received before the end').to.be.below(REQUESTS * SIZE * 0.6);
    stalled.destroy();

    // The session lives on: a new stream receives the next update.
    const next = await fetch(url, { headers: { authorization: 'Bearer reader-token', accept: 'text/event-stream', 'mcp-session-id': session } });
    expect(next.status).to.equal(200);
    await until('the new stream is attached', streaming);
    await post(url, 'reader-token', { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'touch', arguments: {} } }, { 'mcp-session-id': session });
    const reader = next.body!.getReader();
    let seen = '';
    while (!seen.includes('notifications/resources/updated')) seen += new TextDecoder().decode((await reader.read()).value);
    await reader.cancel();
  });
});
