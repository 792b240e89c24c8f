import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { definePlugin, definePrompt, defineTool, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { sseEvents, type SseEvent } from './support.js';

/** A prompt that logs (so its answer is a resumable stream), then fails: its response is a JSON-RPC error. */
const failing = definePrompt({
  name: 'failing',
  description: 'Logs, then fails.',
  arguments: z.object({}),
  async handler(_args, ctx) {
    await ctx.log('info', 'working on it');
    throw new Error('the prompt broke');
  },
});
/** A tool that logs, then answers: its response is a result. */
const chatty = defineTool({
  name: 'chatty',
  description: 'Logs, then answers.',
  input: z.object({}),
  async handler(_args, ctx) {
    await ctx.log('info', 'working on it');
    return 'done';
  },
});
const plugin = definePlugin({ id: 'completed-streams', tools: [chatty], prompts: [failing] });

/** A GET the proxy passed to the server: its `Last-Event-ID`, the status it was answered with, and whether it has ended. */
interface Get {
  readonly lastEventId: string | undefined;
  status?: number;
  ended: boolean;
}

describe('protocol: resuming a request stream after its response', function () {
  let t: TestEngine;
  let key: string;
  before(async () => {
    t = await createTestEngine({ plugins: [communityEdition(), plugin], connect: false, sessions: true });
    key = (await t.createKey()).secret;
  });
  after(() => t?.close());

  const headers = (session?: string): Record<string, string> => ({
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    authorization: `Bearer ${key}`,
    ...(session ? { 'mcp-session-id': session } : {}),
  });
  const post = (message: object, session?: string) => fetch(t.engine.mcpUrl(), { method: 'POST', headers: headers(session), body: JSON.stringify(message) });

  /** The events of a request's stream, read to its end. */
  async function allEvents(response: Response): Promise<SseEvent[]> {
    const stream = sseEvents(response);
    const events: SseEvent[] = [];
    for (let event = await stream.next(); event; event = await stream.next()) events.push(event);
    return events;
  }

  for (const [what, request] of [
    ['an error response', { method: 'prompts/get', params: { name: 'failing', arguments: {} } }],
    ['a result', { method: 'tools/call', params: { name: 'chatty', arguments: {} } }],
  ] as const) {
    it(`a resumption after ${what} was held open with nothing to send until the client went away: it is answered 204 at once`, async () => {
      const init = await post({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
      const session = init.headers.get('mcp-session-id')!;
      await init.body?.cancel();
      await (await post({ jsonrpc: '2.0', id: 1, method: 'logging/setLevel', params: { level: 'info' } }, session)).body?.cancel();
      const answer = await post({ jsonrpc: '2.0', id: 2, ...request }, session);
      expect(answer.headers.get('content-type')).to.match(/^text\/event-stream/);
      const events = await allEvents(answer);
      const last = events.at(-1)!;
      expect(JSON.parse(last.data)).to.have.property(what === 'a result' ? 'result' : 'error');
      expect(last.id, 'the response carries an event id').to.be.a('string');

      const resumed = await fetch(t.engine.mcpUrl(), {
        headers: { accept: 'text/event-stream', authorization: `Bearer ${key}`, 'mcp-session-id': session, 'last-event-id': last.id! },
        signal: AbortSignal.timeout(5_000),
      });
      expect(resumed.status).to.equal(204);
      expect(await resumed.text()).to.equal('');

      // An event before the response is still resumed: the rest of the stream, the response last.
      const earlier = events.findLast((event) => event.id !== undefined && event !== last)!;
      const rest = await allEvents(
        await fetch(t.engine.mcpUrl(), {
          headers: { accept: 'text/event-stream', authorization: `Bearer ${key}`, 'mcp-session-id': session, 'last-event-id': earlier.id! },
          signal: AbortSignal.timeout(5_000),
        }),
      );
      expect(rest.at(-1)?.data).to.equal(last.data);
    });
  }

  it('an SDK client that took an error response on a resumable stream for no response kept a stream open for it: it is told 204 and stops, quietly', async () => {
    const target = new URL(t.engine.mcpUrl());
    const gets: Get[] = [];
    const proxy = http.createServer((req, res) => {
      const get: Get | undefined = req.method === 'GET' ? { lastEventId: req.headers['last-event-id'] as string | undefined, ended: false } : undefined;
      if (get) {
        gets.push(get);
        res.on('close', () => (get.ended = true));
      }
      const forward = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        if (get) get.status = answer.statusCode;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      forward.on('error', () => res.destroy());
      req.pipe(forward);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const client = new Client({ name: 'sdk-client', version: '1' });
    const errors: string[] = [];
    client.onerror = (error) => errors.push(error.message);
    try {
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}${target.pathname}`), {
          requestInit: { headers: { authorization: `Bearer ${key}` } },
        }),
      );
      await client.setLoggingLevel('info');
      const failure = await client.getPrompt({ name: 'failing', arguments: {} }).then(
        () => undefined,
        (error: Error) => error.message,
      );
      expect(failure).to.match(/Prompt failing failed with an internal error/);
      // The client comes back after the error response (500 ms, the stream's retry interval), then stops.
      await new Promise((resolve) => setTimeout(resolve, 2_500));
      const resumptions = gets.filter((get) => get.lastEventId !== undefined);
      expect(resumptions.map((get) => [get.status, get.ended])).to.deep.equal([[204, true]]);
      // Only the session's standalone stream stays open.
      expect(gets.filter((get) => !get.ended).map((get) => get.lastEventId)).to.deep.equal([undefined]);
      expect(errors).to.deep.equal([]);
    } finally {
      await client.close();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });
});
