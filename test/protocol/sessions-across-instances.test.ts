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
const plugin = definePlugin({ id: 'fleet-fixtures', tools: [touch], resources: [board] });

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

  it('initialize on one instance, stream there, calls and DELETE on another: the session follows, and ends everywhere', async () => {
    const init = await rpc(a, INIT);
    const session = init.headers.get('mcp-session-id')!;
    expect(session).to.match(/^[A-Za-z0-9_-]{32,}$/);
    await init.body?.cancel();

    const listed = await rpc(b, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, session);
    expect(listed.status).to.equal(200);
    expect(((await listed.json()) as { result: { tools: { name: string }[] } }).result.tools.map((tool) => tool.name)).to.deep.equal(['touch']);

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
