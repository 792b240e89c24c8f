import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, LoggingMessageNotificationSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { Clock, definePlugin, defineResource, defineTool, z } from '@gatehouse-mcp/engine';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { ClientExchange } from '../../src/core/mcp/client-exchange.js';
import { body, post, recordingGovernance } from './support.js';

const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } };

const board = defineResource({ name: 'board', uri: 'board://main', permission: 'docs:read', handler: () => 'the board' });
const touch = defineTool({
  name: 'touch',
  description: 'Marks a resource as changed.',
  input: z.object({ uri: z.string() }),
  handler: ({ uri }, ctx) => {
    ctx.resourceUpdated(uri);
    return 'touched';
  },
});
const ask = defineTool({
  name: 'ask',
  description: 'Asks the client’s model.',
  input: z.object({ question: z.string() }),
  async handler({ question }, ctx) {
    try {
      const answer = await ctx.requestClient('sampling/createMessage', { messages: [{ role: 'user', content: { type: 'text', text: question } }], maxTokens: 10 });
      return `model said: ${(answer.content as { text: string }).text}`;
    } catch (error) {
      return `could not ask: ${(error as Error).message}`;
    }
  },
});
const confirm = defineTool({
  name: 'confirm',
  description: 'Asks the user to confirm.',
  input: z.object({}),
  async handler(_args, ctx) {
    const answer = await ctx.requestClient('elicitation/create', { message: 'Sure?', requestedSchema: { type: 'object', properties: { sure: { type: 'boolean' } } } });
    return `user ${String(answer.action)}: ${JSON.stringify(answer.content)}`;
  },
});

const shout = defineTool({
  name: 'shout',
  description: 'Logs a warning and an error.',
  input: z.object({}),
  async handler(_args, ctx) {
    await ctx.log('warning', 'hm');
    await ctx.log('error', 'oh no');
    return 'shouted';
  },
});

const plugin = definePlugin({ id: 'session-fixtures', tools: [touch, ask, confirm, shout], resources: [board] });

async function connect(t: TestEngine, token: string, capabilities: Record<string, unknown> = {}): Promise<{ client: Client; transport: StreamableHTTPClientTransport }> {
  const client = new Client({ name: 'session-test', version: '1.0.0' }, { capabilities });
  const transport = new StreamableHTTPClientTransport(new URL(t.engine.mcpUrl()), { requestInit: { headers: { authorization: `Bearer ${token}` } } });
  await client.connect(transport);
  return { client, transport };
}

describe('protocol: optional sessions', () => {
  const governance = recordingGovernance();
  let t: TestEngine;
  const clients: Client[] = [];
  before(async () => {
    t = await createTestEngine({ plugins: [governance.edition, plugin], tenant: governance.tenant, connect: false, sessions: true });
  });
  after(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
    await t.close();
  });

  it('initialize issues a random MCP-Session-Id, and the SDK client uses it', async () => {
    const one = (await post(t.engine.mcpUrl(), 'reader-token', INIT)).headers.get('mcp-session-id');
    const two = (await post(t.engine.mcpUrl(), 'reader-token', INIT)).headers.get('mcp-session-id');
    expect(one).to.match(/^[A-Za-z0-9_-]{32,}$/);
    expect(two).to.match(/^[A-Za-z0-9_-]{32,}$/);
    expect(one).to.not.equal(two);
    const { client, transport } = await connect(t, 'reader-token');
    clients.push(client);
    expect(transport.sessionId).to.match(/^[A-Za-z0-9_-]{32,}$/);
    expect(client.getServerCapabilities()?.resources).to.deep.equal({ subscribe: true, listChanged: false });
    expect((await client.listTools()).tools.map((tool) => tool.name)).to.deep.equal(['touch', 'ask', 'confirm', 'shout']);
  });

  it('another principal presenting the session id gets 404; the owner keeps using it', async () => {
    const url = t.engine.mcpUrl();
    const session = (await post(url, 'reader-token', INIT)).headers.get('mcp-session-id')!;
    const list = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
    const stolen = await post(url, 'other-token', list, { 'mcp-session-id': session });
    expect(stolen.status).to.equal(404);
    expect((await body(stolen)).error).to.deep.include({ code: -32001 });
    const stolenStream = await fetch(url, { headers: { accept: 'text/event-stream', authorization: 'Bearer other-token', 'mcp-session-id': session } });
    expect(stolenStream.status).to.equal(404);
    const twin = await post(url, 'twin-token', list, { 'mcp-session-id': session });
    expect(twin.status, 'same kind and id in another tenant is another principal').to.equal(404);
    const stolenDelete = await fetch(url, { method: 'DELETE', headers: { authorization: 'Bearer other-token', 'mcp-session-id': session } });
    expect(stolenDelete.status).to.equal(404);
    const own = await post(url, 'reader-token', list, { 'mcp-session-id': session });
    expect(own.status).to.equal(200);
    expect((await body(own)).result.tools).to.have.length(4);
  });

  it('a session is never authentication: no credential is 401 even with a valid session id', async () => {
    const url = t.engine.mcpUrl();
    const session = (await post(url, 'reader-token', INIT)).headers.get('mcp-session-id')!;
    const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', 'mcp-session-id': session }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' });
    expect(response.status).to.equal(401);
  });

  it('DELETE ends the session: it is 404 afterwards; unknown ids are 404 too', async () => {
    const url = t.engine.mcpUrl();
    const session = (await post(url, 'reader-token', INIT)).headers.get('mcp-session-id')!;
    const deleted = await fetch(url, { method: 'DELETE', headers: { authorization: 'Bearer reader-token', 'mcp-session-id': session } });
    expect(deleted.status).to.equal(204);
    expect((await post(url, 'reader-token', { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-session-id': session })).status).to.equal(404);
    expect((await fetch(url, { method: 'DELETE', headers: { authorization: 'Bearer reader-token', 'mcp-session-id': session } })).status).to.equal(404);
    expect((await post(url, 'reader-token', { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-session-id': 'made-up' })).status).to.equal(404);
  });

  it('subscriptions deliver resources/updated on the session’s GET stream until unsubscribed', async () => {
    const { client } = await connect(t, 'reader-token');
    clients.push(client);
    const updates: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updates.push(n.params.uri));
    expect(await client.subscribeResource({ uri: 'board://main' })).to.deep.equal({});
    await client.callTool({ name: 'touch', arguments: { uri: 'board://main' } });
    await client.callTool({ name: 'touch', arguments: { uri: 'board://other' } });
    const deadline = Date.now() + 2000;
    while (updates.length === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(updates).to.deep.equal(['board://main']);
    await client.unsubscribeResource({ uri: 'board://main' });
    await client.callTool({ name: 'touch', arguments: { uri: 'board://main' } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(updates).to.deep.equal(['board://main']);
  });

  it('subscribing to an unknown resource is -32002', async () => {
    const { client } = await connect(t, 'reader-token');
    clients.push(client);
    const error = await client.subscribeResource({ uri: 'board://none' }).then(() => undefined, (e: unknown) => e);
    expect((error as { code: number }).code).to.equal(-32002);
  });

  it('a tool asks the client’s model (sampling) and the user (elicitation) through the session', async () => {
    const { client } = await connect(t, 'reader-token', { sampling: {}, elicitation: {} });
    clients.push(client);
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => ({
      role: 'assistant',
      content: { type: 'text', text: `echo ${(request.params.messages[0]!.content as { text: string }).text}` },
      model: 'test-model',
    }));
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { sure: true } }));
    expect((await client.callTool({ name: 'ask', arguments: { question: 'ping?' } })).content).to.deep.equal([{ type: 'text', text: 'model said: echo ping?' }]);
    expect((await client.callTool({ name: 'confirm', arguments: {} })).content).to.deep.equal([{ type: 'text', text: 'user accept: {"sure":true}' }]);
  });

  it('a call cancelled while it waits for the user left the client asking its user for nothing: the client is told its question is withdrawn', async () => {
    const { client } = await connect(t, 'reader-token', { elicitation: {} });
    clients.push(client);
    let asked: () => void = () => undefined;
    const question = new Promise<void>((resolve) => (asked = resolve));
    const dialog: { withdrawnAfterMs?: number; reason?: string } = {};
    client.setRequestHandler(ElicitRequestSchema, (_request, extra) => {
      const shown = Date.now();
      asked();
      // The user takes their time; a client closes its dialog when the question is withdrawn.
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve({ action: 'accept', content: { sure: true } }), 10_000);
        extra.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          dialog.withdrawnAfterMs = Date.now() - shown;
          dialog.reason = String(extra.signal.reason);
          resolve({ action: 'cancel' });
        });
      });
    });
    const controller = new AbortController();
    const call = client.callTool({ name: 'confirm', arguments: {} }, undefined, { signal: controller.signal }).then(
      () => 'answered',
      () => 'rejected',
    );
    await question;
    const cancelledAt = Date.now();
    controller.abort('never mind');
    expect(await call).to.equal('rejected');
    const deadline = Date.now() + 3_000;
    while (dialog.withdrawnAfterMs === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(dialog.withdrawnAfterMs, 'the question was withdrawn').to.be.a('number');
    expect(Date.now() - cancelledAt).to.be.below(3_000);
    expect(dialog.reason).to.equal('The call that sent elicitation/create stopped: never mind');
  });

  it('a client that does not answer in time was left asking its user: it is told that the answer is no longer awaited', async () => {
    const exchange = t.engine.resolve(ClientExchange);
    const sent: { id?: string; method: string; params?: { requestId?: string; reason?: string } }[] = [];
    const failure = await exchange
      .request('owner', 'elicitation/create', { message: 'Sure?' }, (message) => void sent.push(message as (typeof sent)[number]), new AbortController().signal, 100)
      .then(
        () => undefined,
        (error: Error) => error.message,
      );
    expect(failure).to.equal('The client did not answer elicitation/create within 100 ms.');
    expect(sent.map((message) => message.method)).to.deep.equal(['elicitation/create', 'notifications/cancelled']);
    expect(sent[1]!.params).to.deep.equal({ requestId: sent[0]!.id, reason: 'No answer within 100 ms: it is no longer awaited.' });
  });

  it('a client that did not declare sampling in its session is not asked', async () => {
    const { client } = await connect(t, 'reader-token');
    clients.push(client);
    const result = await client.callTool({ name: 'ask', arguments: { question: 'ping?' } });
    expect(result.content).to.deep.equal([{ type: 'text', text: 'could not ask: The client did not declare the "sampling" capability.' }]);
  });

  it('log levels belong to the session, not to the principal', async () => {
    const first = await connect(t, 'reader-token');
    const second = await connect(t, 'reader-token');
    clients.push(first.client, second.client);
    const seen: string[] = [];
    first.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void seen.push(`first ${n.params.level}`));
    second.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void seen.push(`second ${n.params.level}`));
    await first.client.setLoggingLevel('error');
    await first.client.callTool({ name: 'shout', arguments: {} });
    await second.client.callTool({ name: 'shout', arguments: {} });
    expect(seen).to.deep.equal(['first error', 'second warning', 'second error']);
  });
});

describe('protocol: idle sessions expire', () => {
  it('a session unused for longer than idleTimeoutMs is gone (404); each use starts the idle time again', async () => {
    const governance = recordingGovernance();
    // The engine's clock, moved on by hand: nothing waits, and the outcome cannot depend on load.
    const clock = { at: Date.now(), now() { return this.at; } };
    const manualClock = definePlugin({ id: 'manual-clock', register: ({ bind }) => void bind(Clock).toConstantValue(clock) });
    const idle = 30 * 60_000;
    const t = await createTestEngine({ plugins: [governance.edition, plugin, manualClock], tenant: governance.tenant, connect: false, sessions: { idleTimeoutMs: idle } });
    try {
      const url = t.engine.mcpUrl();
      const ping = async (id: number, session: string): Promise<number> => (await post(url, 'reader-token', { jsonrpc: '2.0', id, method: 'ping' }, { 'mcp-session-id': session })).status;
      const session = (await post(url, 'reader-token', INIT)).headers.get('mcp-session-id')!;
      clock.at += idle - 1;
      expect(await ping(1, session), 'used just within the idle time').to.equal(200);
      clock.at += idle - 1;
      expect(await ping(2, session), 'idle time counted from the last use, not from the start').to.equal(200);
      clock.at += idle + 1;
      expect(await ping(3, session), 'unused for longer than the idle time').to.equal(404);
      // Gone for good, not only from this instance's memory.
      expect(await t.engine.database.knex('mcp_sessions').where({ id: session }).first()).to.equal(undefined);
    } finally {
      await t.close();
    }
  });
});

describe('protocol: without sessions (the default)', () => {
  const governance = recordingGovernance();
  let t: TestEngine;
  before(async () => {
    t = await createTestEngine({ plugins: [governance.edition, plugin], tenant: governance.tenant, connect: false });
  });
  after(() => t.close());

  it('initialize issues no session id; GET and DELETE are 405', async () => {
    const url = t.engine.mcpUrl();
    const init = await post(url, 'reader-token', INIT);
    expect(init.status).to.equal(200);
    expect(init.headers.get('mcp-session-id')).to.equal(null);
    expect((await fetch(url, { headers: { accept: 'text/event-stream', authorization: 'Bearer reader-token' } })).status).to.equal(405);
    expect((await fetch(url, { method: 'DELETE', headers: { authorization: 'Bearer reader-token' } })).status).to.equal(405);
  });

  it('server→client requests still work on the call’s own response stream', async () => {
    const { client, transport } = await connect(t, 'reader-token', { sampling: {} });
    try {
      expect(transport.sessionId).to.equal(undefined);
      client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: 'assistant', content: { type: 'text', text: 'stateless answer' }, model: 'm' }));
      expect((await client.callTool({ name: 'ask', arguments: { question: 'q' } })).content).to.deep.equal([{ type: 'text', text: 'model said: stateless answer' }]);
    } finally {
      await client.close();
    }
  });

  it('an answer posted by another principal does not reach the waiting tool', async () => {
    const url = t.engine.mcpUrl();
    const response = await post(url, 'reader-token', { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'ask', arguments: { question: 'q' } } });
    expect(response.headers.get('content-type')).to.equal('text/event-stream');
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffered = '';
    while (!buffered.includes('\n\n')) buffered += (await reader.read()).value ?? '';
    const request = JSON.parse(buffered.split('\n').find((line) => line.startsWith('data: '))!.slice(6));
    expect(request.method).to.equal('sampling/createMessage');
    const answer = { jsonrpc: '2.0', id: request.id, result: { role: 'assistant', content: { type: 'text', text: 'forged' }, model: 'm' } };
    expect((await post(url, 'other-token', answer)).status).to.equal(202);
    expect((await post(url, 'reader-token', { ...answer, result: { ...answer.result, content: { type: 'text', text: 'genuine' } } })).status).to.equal(202);
    let rest = buffered;
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      rest += chunk.value;
    }
    expect(rest).to.include('model said: genuine');
    expect(rest).to.not.include('forged');
  });
});
