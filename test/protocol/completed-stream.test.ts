import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
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
/** When the last `lingering` call saw its cancellation, and whether it has returned. */
const lingered = { abortedAt: 0, returned: false };
/** A tool that logs, and runs on for a while after its cancellation before it answers. */
const lingering = defineTool({
  name: 'lingering',
  description: 'Logs, waits to be cancelled, runs on a little, then answers.',
  input: z.object({}),
  async handler(_args, ctx) {
    lingered.abortedAt = 0;
    lingered.returned = false;
    await ctx.log('info', 'started');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5_000);
      ctx.signal.addEventListener('abort', () => {
        lingered.abortedAt = Date.now();
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
    await new Promise((resolve) => setTimeout(resolve, 200));
    lingered.returned = true;
    return 'answered anyway';
  },
});
const plugin = definePlugin({ id: 'completed-streams', tools: [chatty, lingering], prompts: [failing] });

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

  /** A new session, with its log level at info (so that the tools' log messages open their streams). */
  async function session(): Promise<string> {
    const init = await post({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
    const id = init.headers.get('mcp-session-id')!;
    await init.body?.cancel();
    await (await post({ jsonrpc: '2.0', id: 1, method: 'logging/setLevel', params: { level: 'info' } }, id)).body?.cancel();
    return id;
  }

  const resume = (session: string, lastEventId: string) =>
    fetch(t.engine.mcpUrl(), {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${key}`, 'mcp-session-id': session, 'last-event-id': lastEventId },
      signal: AbortSignal.timeout(5_000),
    });

  it('a cancelled call was sent its result anyway: its stream ends without a response, with an event a resumption after which is answered 204', async () => {
    const id = await session();
    const answer = await post({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'lingering', arguments: {} } }, id);
    expect(answer.headers.get('content-type')).to.match(/^text\/event-stream/);
    const stream = sseEvents(answer);
    const events: SseEvent[] = [(await stream.next())!, (await stream.next())!];
    expect(JSON.parse(events[1]!.data)).to.include({ method: 'notifications/message' });
    expect((await post({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 3, reason: 'enough' } }, id)).status).to.equal(202);
    for (let event = await stream.next(); event; event = await stream.next()) events.push(event);
    expect(lingered.returned, 'the stream ended once the tool returned').to.equal(true);
    expect(events.filter((event) => /"(result|error)"/.test(event.data)), 'a response on the stream').to.deep.equal([]);
    const end = events.at(-1)!;
    expect(events).to.have.length(3);
    expect(end.id, 'the stream ends with an event that has an id').to.be.a('string');
    expect(end.data.trim(), '… and no message').to.equal('');

    expect((await resume(id, end.id!)).status).to.equal(204);
    // Resumed from before the end: the rest of the stream, which ends the same way.
    const rest = await allEvents(await resume(id, events[1]!.id!));
    expect(rest.map((event) => [event.id, event.data.trim()])).to.deep.equal([[end.id, '']]);
  });

  for (const [what, request] of [
    ['an error response', { method: 'prompts/get', params: { name: 'failing', arguments: {} } }],
    ['a result', { method: 'tools/call', params: { name: 'chatty', arguments: {} } }],
  ] as const) {
    it(`a resumption after ${what} was held open with nothing to send until the client went away: it is answered 204 at once`, async () => {
      const id = await session();
      const answer = await post({ jsonrpc: '2.0', id: 2, ...request }, id);
      expect(answer.headers.get('content-type')).to.match(/^text\/event-stream/);
      const events = await allEvents(answer);
      const last = events.at(-1)!;
      expect(JSON.parse(last.data)).to.have.property(what === 'a result' ? 'result' : 'error');
      expect(last.id, 'the response carries an event id').to.be.a('string');

      const resumed = await resume(id, last.id!);
      expect(resumed.status).to.equal(204);
      expect(await resumed.text()).to.equal('');

      // An event before the response is still resumed: the rest of the stream, the response last.
      const earlier = events.findLast((event) => event.id !== undefined && event !== last)!;
      const rest = await allEvents(await resume(id, earlier.id!));
      expect(rest.at(-1)?.data).to.equal(last.data);
    });
  }

  /** An SDK client connected through a proxy that notes every GET: what it resumed after, its status, whether it ended. */
  async function sdkThroughProxy(): Promise<{ client: Client; gets: Get[]; errors: string[]; close(): Promise<void> }> {
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
    const close = async (): Promise<void> => {
      await client.close();
      await new Promise((resolve) => proxy.close(resolve));
    };
    try {
      await client.connect(
        new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${(proxy.address() as AddressInfo).port}${target.pathname}`), {
          requestInit: { headers: { authorization: `Bearer ${key}` } },
        }),
      );
      await client.setLoggingLevel('info');
    } catch (error) {
      await close();
      throw error;
    }
    return { client, gets, errors, close };
  }

  it('an SDK client that took an error response on a resumable stream for no response kept a stream open for it: it is told 204 and stops, quietly', async () => {
    const { client, gets, errors, close } = await sdkThroughProxy();
    try {
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
      await close();
    }
  });

  it('an SDK client that cancels a call in a session hears nothing more of it (it logged an error for the result), and keeps no stream open for it', async () => {
    const { client, gets, errors, close } = await sdkThroughProxy();
    try {
      const controller = new AbortController();
      let logged = false;
      client.setNotificationHandler(LoggingMessageNotificationSchema, () => void (logged = true));
      const call = client.callTool({ name: 'lingering', arguments: {} }, undefined, { signal: controller.signal }).then(
        () => 'answered',
        () => 'rejected',
      );
      const deadline = Date.now() + 5_000;
      while (!logged && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      controller.abort('enough');
      expect(await call).to.equal('rejected');
      while (lingered.abortedAt === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(lingered.abortedAt, 'the tool saw the cancellation').to.be.above(0);
      // The tool answers 200 ms later; a client that comes back after the stream's end (500 ms later) is told 204.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      expect(lingered.returned).to.equal(true);
      expect(errors, 'what the client reported').to.deep.equal([]);
      expect(gets.filter((get) => get.lastEventId !== undefined).map((get) => [get.status, get.ended])).to.deep.equal([[204, true]]);
      expect(gets.filter((get) => !get.ended).map((get) => get.lastEventId)).to.deep.equal([undefined]);
      // The session works on.
      expect((await client.callTool({ name: 'chatty', arguments: {} })).content).to.deep.equal([{ type: 'text', text: 'done' }]);
    } finally {
      await close();
    }
  });
});
