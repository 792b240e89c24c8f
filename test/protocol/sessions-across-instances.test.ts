import { expect } from 'chai';
import { definePlugin, defineResource, defineTool, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';

const board = defineResource({ name: 'board', uri: 'board://main', handler: () => 'the board' });
const touch = defineTool({
  name: 'touch',
  description: 'Marks a resource as changed.',
  input: z.object({ uri: z.string() }),
  handler: ({ uri }, ctx) => {
    ctx.resourceUpdated(uri);
    return 'touched';
  },
});
const slow = defineTool({
  name: 'slow',
  description: 'Logs, closes its stream, logs again, then answers.',
  input: z.object({}),
  async handler(_args, ctx) {
    await ctx.log('info', 'before the break');
    ctx.closeStream();
    await new Promise((resolve) => setTimeout(resolve, 200));
    await ctx.log('info', 'after the break');
    return 'done';
  },
});
const plugin = definePlugin({ id: 'fleet-fixtures', tools: [touch, slow], resources: [board] });

/** The events of an SSE body: id and data of each. */
async function events(body: ReadableStream<Uint8Array>): Promise<{ id?: string; data: string }[]> {
  const text = await new Response(body).text();
  return text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n');
      return { id: lines.find((line) => line.startsWith('id: '))?.slice(4), data: lines.filter((line) => line.startsWith('data: ')).map((line) => line.slice(6)).join('\n') };
    });
}

describe('protocol: sessions across instances on one PostgreSQL', function () {
  if (process.env.DATABASE_URL === undefined) {
    before(function () {
      // The embedded database serves one process: there is no second instance to continue on.
      this.skip();
    });
  }
  let a: TestEngine;
  let b: TestEngine;
  let key: string;
  before(async () => {
    a = await createTestEngine({ plugins: [communityEdition(), plugin], connect: false, sessions: true });
    b = await createTestEngine({ plugins: [communityEdition(), plugin], connect: false, sessions: true, tenant: a.tenant });
    key = (await a.createKey()).secret;
  });
  after(async () => {
    await a?.close();
    await b?.close();
  });

  const rpc = (t: TestEngine, message: object, session?: string, method = 'POST') =>
    fetch(t.engine.mcpUrl(), {
      method,
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${key}`,
        ...(session ? { 'mcp-session-id': session } : {}),
      },
      body: method === 'POST' ? JSON.stringify(message) : undefined,
    });
  const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: { sampling: {} }, clientInfo: { name: 'raw', version: '1' } } };

  it('a response stream closed mid-call is resumed on another instance with Last-Event-ID: the missed messages, then the result', async () => {
    const init = await rpc(a, INIT);
    const session = init.headers.get('mcp-session-id')!;
    await init.body?.cancel();
    await (await rpc(a, { jsonrpc: '2.0', id: 1, method: 'logging/setLevel', params: { level: 'info' } }, session)).body?.cancel();
    const call = await rpc(a, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'slow', arguments: {} } }, session);
    expect(call.headers.get('content-type')).to.match(/^text\/event-stream/);
    const first = await events(call.body!);
    expect(first[0]!.data.trim(), 'a priming event first').to.equal('');
    expect(first.every((event) => event.id !== undefined), 'every event has an id').to.equal(true);
    expect(first.map((event) => event.data).join('')).to.include('before the break').and.not.include('"result"');
    const resumed = await fetch(b.engine.mcpUrl(), {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${key}`, 'mcp-session-id': session, 'last-event-id': first.at(-1)!.id! },
    });
    expect(resumed.status).to.equal(200);
    const rest = await events(resumed.body!);
    const messages = rest.map((event) => JSON.parse(event.data) as { id?: number; method?: string; params?: { data?: string }; result?: { content: { text: string }[] } });
    expect(messages.map((message) => message.params?.data ?? message.result?.content[0]!.text)).to.deep.equal(['after the break', 'done']);
    expect(messages.at(-1)!.id).to.equal(7);
  });

  it('initialize on one instance, stream there, calls and DELETE on another: the session follows, and ends everywhere', async () => {
    const init = await rpc(a, INIT);
    const session = init.headers.get('mcp-session-id')!;
    expect(session).to.match(/^[A-Za-z0-9_-]{32,}$/);
    await init.body?.cancel();

    const listed = await rpc(b, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, session);
    expect(listed.status).to.equal(200);
    expect(((await listed.json()) as { result: { tools: { name: string }[] } }).result.tools.map((tool) => tool.name)).to.deep.equal(['touch', 'slow']);

    // A GET stream held on a; the subscription made through b; the change made on b.
    const stream = await fetch(a.engine.mcpUrl(), { headers: { accept: 'text/event-stream', authorization: `Bearer ${key}`, 'mcp-session-id': session } });
    expect(stream.status).to.equal(200);
    const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
    const subscribed = await rpc(b, { jsonrpc: '2.0', id: 2, method: 'resources/subscribe', params: { uri: 'board://main' } }, session);
    expect(((await subscribed.json()) as { result: unknown }).result).to.deep.equal({});
    const touched = await rpc(b, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'touch', arguments: { uri: 'board://main' } } }, session);
    await touched.body?.cancel();
    let received = '';
    const deadline = Date.now() + 3000;
    while (!received.includes('notifications/resources/updated') && Date.now() < deadline) {
      const chunk = await Promise.race([reader.read(), new Promise<{ value: string }>((resolve) => setTimeout(() => resolve({ value: '' }), 200))]);
      received += chunk.value ?? '';
    }
    expect(received).to.include('"uri":"board://main"');

    const ended = await rpc(b, {}, session, 'DELETE');
    expect(ended.status).to.equal(204);
    // The stream on a closes, and a knows the session no more.
    const closedBy = Date.now() + 2000;
    let done = false;
    while (!done && Date.now() < closedBy) done = (await Promise.race([reader.read(), new Promise<{ done: boolean }>((resolve) => setTimeout(() => resolve({ done: false }), 200))])).done ?? false;
    expect(done, 'the GET stream on the other instance ends').to.equal(true);
    const after = await rpc(a, { jsonrpc: '2.0', id: 4, method: 'tools/list' }, session);
    expect(after.status).to.equal(404);
  });
});
