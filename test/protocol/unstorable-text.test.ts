import { expect } from 'chai';
import { Database, definePlugin, defineResource, defineTool, z } from '@gatehouse-mcp/engine';
import { sseEvents } from './support.js';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';

// Text PostgreSQL refuses (NUL) or the driver would change (lone surrogates), as a client may send it.
const HOSTILE = 'a\u0000b\ud800c\udc00d';

const echo = defineTool({
  name: 'echo',
  description: 'Logs its text, closes its stream, then answers with it.',
  input: z.object({ text: z.string() }),
  async handler({ text }, ctx) {
    await ctx.log('info', text);
    ctx.closeStream();
    await new Promise((resolve) => setTimeout(resolve, 100));
    return text;
  },
});
const confirm = defineTool({
  name: 'confirm',
  description: 'Asks the user for a word.',
  input: z.object({}),
  async handler(_args, ctx) {
    const answer = await ctx.requestClient('elicitation/create', { message: 'Word?', requestedSchema: { type: 'object', properties: { word: { type: 'string' } } } });
    return (answer.content as { word: string }).word;
  },
});
const page = defineResource({ name: 'page', uriTemplate: 'board://{name}', handler: ({ name }) => name });
const plugin = definePlugin({ id: 'unstorable-fixtures', tools: [echo, confirm], resources: [page] });

describe('protocol: client text PostgreSQL cannot hold as given (NUL, lone surrogates)', function () {
  if (process.env.DATABASE_URL === undefined) {
    before(function () {
      this.skip();
    });
    return;
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

  const rpc = (t: TestEngine, message: object, session?: string) =>
    fetch(t.engine.mcpUrl(), {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        authorization: `Bearer ${key}`,
        ...(session ? { 'mcp-session-id': session } : {}),
      },
      body: JSON.stringify(message),
    });
  const init = (capabilities: Record<string, unknown>) => ({
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities, clientInfo: { name: HOSTILE, version: '1' } },
  });
  const begin = async (capabilities: Record<string, unknown>): Promise<string> => {
    const response = await rpc(a, init(capabilities));
    expect(response.status, await response.clone().text()).to.equal(200);
    await response.body?.cancel();
    return response.headers.get('mcp-session-id')!;
  };

  it('initialize whose capabilities hold NUL or a lone surrogate opens a session, and its capabilities come back exactly from the database (the jsonb insert failed)', async () => {
    const capabilities = { elicitation: {}, experimental: { [HOSTILE]: { note: HOSTILE } } };
    const session = await begin(capabilities);
    expect(session).to.match(/^[A-Za-z0-9_-]{32,}$/);
    const row = (await a.engine.resolve<Database>(Database).knex('mcp_sessions').where({ id: session }).first('client_capabilities')) as { client_capabilities: unknown };
    const stored = typeof row.client_capabilities === 'string' ? JSON.parse(row.client_capabilities) : row.client_capabilities;
    expect(stored).to.deep.equal(capabilities);
    // The other instance knows the session from the database alone, capabilities included.
    const listed = await rpc(b, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, session);
    expect(listed.status).to.equal(200);
  });

  it('resources/subscribe with a NUL or a lone surrogate in the uri is a clear invalid-params error, not an internal error', async () => {
    const session = await begin({});
    for (const uri of ['board://a\u0000b', 'board://a\ud800b']) {
      const response = await rpc(a, { jsonrpc: '2.0', id: 2, method: 'resources/subscribe', params: { uri } }, session);
      const answer = (await response.json()) as { error?: { code: number; message: string } };
      expect(answer.error?.code, JSON.stringify(answer)).to.equal(-32602);
      expect(answer.error?.message).to.match(/uri/);
    }
  });

  it('a resumed stream carries exactly the NUL and lone surrogates a tool logged and returned', async () => {
    const session = await begin({});
    await (await rpc(a, { jsonrpc: '2.0', id: 1, method: 'logging/setLevel', params: { level: 'info' } }, session)).body?.cancel();
    const call = await rpc(a, { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { text: HOSTILE } } }, session);
    expect(call.headers.get('content-type')).to.match(/^text\/event-stream/);
    const first = sseEvents(call);
    await first.next();
    const logged = (await first.next())!;
    expect(JSON.parse(logged.data).params.data).to.equal(HOSTILE);
    await first.cancel();
    const resumed = await fetch(b.engine.mcpUrl(), {
      headers: { accept: 'text/event-stream', authorization: `Bearer ${key}`, 'mcp-session-id': session, 'last-event-id': logged.id! },
    });
    expect(resumed.status).to.equal(200);
    const rest = sseEvents(resumed);
    const result = JSON.parse((await rest.next())!.data) as { id: number; result: { content: { text: string }[] } };
    expect(result.id).to.equal(7);
    expect(result.result.content[0]!.text).to.equal(HOSTILE);
    await rest.cancel();
  });

  it('an answer whose id holds NUL or a lone surrogate is accepted and dropped like any answer nothing awaits, not an internal error', async () => {
    const session = await begin({ elicitation: {} });
    for (const id of ['gatehouse-\u0000', 'gatehouse-\ud800']) {
      const answered = await rpc(b, { jsonrpc: '2.0', id, result: { action: 'accept', content: {} } }, session);
      expect(answered.status, await answered.clone().text()).to.equal(202);
    }
  });

  it('an elicitation answer holding NUL or a lone surrogate, posted to another instance, reaches the tool exactly', async () => {
    const session = await begin({ elicitation: {} });
    const call = await rpc(a, { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'confirm', arguments: {} } }, session);
    const stream = sseEvents(call);
    await stream.next();
    const request = JSON.parse((await stream.next())!.data) as { id: string; method: string };
    expect(request.method).to.equal('elicitation/create');
    const answered = await rpc(b, { jsonrpc: '2.0', id: request.id, result: { action: 'accept', content: { word: HOSTILE } } }, session);
    expect(answered.status).to.equal(202);
    const result = JSON.parse((await stream.next())!.data) as { id: number; result: { content: { text: string }[] } };
    expect(result.result.content[0]!.text).to.equal(HOSTILE);
    await stream.cancel();
  });
});
