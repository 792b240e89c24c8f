import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { connectConnector } from './support/connector-process.js';
import { connectorTestTools } from './support/tools-plugin.js';

/** A tool with an effect: it counts its calls. */
function recordingTool(calls: string[]) {
  const record = defineTool({
    name: 'record',
    description: 'Record the text (each call is one record).',
    input: z.object({ text: z.string() }),
    handler: ({ text }) => {
      calls.push(text);
      return `recorded ${text}`;
    },
  });
  return definePlugin({ id: 'recording-tool', tools: [record] });
}

interface DroppingProxy {
  readonly url: string;
  /** JSON-RPC methods of the POSTs seen. */
  readonly seen: string[];
  /** The next request with this method is forwarded and fully answered by the server, then its connection is destroyed before the answer is passed on. */
  dropAfterAnswer: string | undefined;
  /** The next request with this method has its connection destroyed before it is forwarded. */
  dropBeforeForwarding: string | undefined;
  /** The next request with this method is forwarded and answered by the server; the answer is never passed on. */
  holdAnswer: string | undefined;
  close(): Promise<void>;
}

/** A proxy in front of the real server that can drop the client's connection of one request. */
async function droppingProxy(target: string): Promise<DroppingProxy> {
  const upstream = new URL(target);
  const state = { seen: [] as string[], dropAfterAnswer: undefined as string | undefined, dropBeforeForwarding: undefined as string | undefined, holdAnswer: undefined as string | undefined };
  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    let method: string | undefined;
    try {
      method = (JSON.parse(body.toString('utf8')) as { method?: string }).method;
    } catch {
      method = undefined;
    }
    if (req.method === 'POST' && method) state.seen.push(method);
    if (method !== undefined && method === state.dropBeforeForwarding) {
      state.dropBeforeForwarding = undefined;
      req.socket.destroy();
      return;
    }
    const drop = method !== undefined && method === state.dropAfterAnswer;
    if (drop) state.dropAfterAnswer = undefined;
    const hold = method !== undefined && method === state.holdAnswer;
    if (hold) state.holdAnswer = undefined;
    const forward = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      if (drop) {
        // The server has run the request and answered it in full; the answer never reaches the connector.
        answer.resume();
        answer.on('end', () => req.socket.destroy());
        return;
      }
      if (hold) return void answer.resume();
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    forward.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(state, {
    url: `http://127.0.0.1:${port}${upstream.pathname}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

describe('connector: a connection that drops after a request was sent', function () {
  this.timeout(60_000);
  let t: TestEngine;
  let key = '';
  const calls: string[] = [];

  before(async () => {
    t = await createTestEngine({ plugins: [communityEdition(), connectorTestTools(), recordingTool(calls)], connect: false });
    key = (await t.createKey()).secret;
  });
  after(() => t?.close());

  it('a tool call whose connection dropped after the server ran it was sent again and ran twice: it runs once, and the client is told its outcome is unknown', async () => {
    const proxy = await droppingProxy(t.engine.mcpUrl());
    const connector = await connectConnector(['--url', proxy.url, '--timeout', '10000'], { GATEHOUSE_API_KEY: key });
    try {
      calls.length = 0;
      proxy.dropAfterAnswer = 'tools/call';
      const failure = await connector.client.callTool({ name: 'record', arguments: { text: 'payment 42' } }).then(
        () => undefined,
        (error: { code?: number; message?: string; data?: unknown }) => error,
      );
      // Give a resend, if one were made, the time to arrive.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(calls).to.deep.equal(['payment 42']);
      expect(proxy.seen.filter((method) => method === 'tools/call')).to.have.length(1);
      expect(failure?.code).to.equal(-32603);
      expect(failure?.data).to.deep.equal({ kind: 'dropped' });
      expect(failure?.message).to.match(
        /^MCP error -32603: the server at http:\/\/127\.0\.0\.1:\d+ closed the connection before answering, after the call to tool "record" was sent: it may or may not have run on the server, and it was not resent automatically\. Check the server \(its audit log\) before retrying it, and retry only if that is safe\.$/,
      );
      expect(connector.stderr().trim()).to.equal(`gatehouse-connector: ${failure?.message?.replace('MCP error -32603: ', '')}`);

      // The session goes on.
      expect((await connector.client.callTool({ name: 'record', arguments: { text: 'next' } })).content).to.deep.equal([{ type: 'text', text: 'recorded next' }]);
      expect(calls).to.deep.equal(['payment 42', 'next']);
    } finally {
      await connector.close();
      await proxy.close();
    }
  });

  it('a read-only request (tools/list) whose connection dropped is still sent again, and succeeds', async () => {
    const proxy = await droppingProxy(t.engine.mcpUrl());
    const connector = await connectConnector(['--url', proxy.url, '--timeout', '10000', '--verbose'], { GATEHOUSE_API_KEY: key });
    try {
      proxy.dropAfterAnswer = 'tools/list';
      const listed = await connector.client.listTools();
      expect(listed.tools.map((tool) => tool.name)).to.include('record');
      expect(proxy.seen.filter((method) => method === 'tools/list')).to.have.length(2);
      await connector.waitForStderr(/closed the connection before answering\. .*Retrying in \d+ ms\./);
    } finally {
      await connector.close();
      await proxy.close();
    }
  });

  it('a tool call whose connection dropped before it was forwarded is not sent again either (the connector cannot tell): one error, no call', async () => {
    const proxy = await droppingProxy(t.engine.mcpUrl());
    const connector = await connectConnector(['--url', proxy.url, '--timeout', '10000'], { GATEHOUSE_API_KEY: key });
    try {
      calls.length = 0;
      proxy.dropBeforeForwarding = 'tools/call';
      const failure = await connector.client.callTool({ name: 'record', arguments: { text: 'lost' } }).then(
        () => undefined,
        (error: { message?: string; data?: unknown }) => error,
      );
      expect(failure?.data).to.deep.equal({ kind: 'dropped' });
      expect(failure?.message).to.include('it may or may not have run on the server, and it was not resent automatically');
      expect(proxy.seen.filter((method) => method === 'tools/call')).to.have.length(1);
      expect(calls).to.deep.equal([]);
    } finally {
      await connector.close();
      await proxy.close();
    }
  });

  it('a tool call the server ran but did not answer within --timeout said only "did not answer": it says the outcome is unknown, and it ran once', async () => {
    const proxy = await droppingProxy(t.engine.mcpUrl());
    const connector = await connectConnector(['--url', proxy.url, '--timeout', '1500'], { GATEHOUSE_API_KEY: key });
    try {
      calls.length = 0;
      proxy.holdAnswer = 'tools/call';
      const failure = await connector.client.callTool({ name: 'record', arguments: { text: 'slow' } }).then(
        () => undefined,
        (error: { code?: number; message?: string; data?: unknown }) => error,
      );
      expect(failure?.code).to.equal(-32001);
      expect(failure?.message).to.match(
        /the server at http:\/\/127\.0\.0\.1:\d+ did not answer within 1500 ms after the call to tool "record" was sent: it may or may not have run on the server, and it was not resent automatically\. .* Raise --timeout for slow tools\.$/,
      );
      expect(calls).to.deep.equal(['slow']);
      expect(proxy.seen.filter((method) => method === 'tools/call')).to.have.length(1);
    } finally {
      await connector.close();
      await proxy.close();
    }
  });
});
