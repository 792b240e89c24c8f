import { expect } from 'chai';
import { BackgroundWork, InstanceRegistry, definePlugin, defineResource, defineTool, z } from '@gatehouse-mcp/engine';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { post, recordingGovernance, sseEvents } from './support.js';

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
const confirm = defineTool({
  name: 'confirm',
  description: 'Asks the user to confirm.',
  input: z.object({}),
  async handler(_args, ctx) {
    try {
      const answer = await ctx.requestClient('elicitation/create', { message: 'Sure?', requestedSchema: { type: 'object', properties: { sure: { type: 'boolean' } } } });
      return `user ${String(answer.action)}: ${JSON.stringify(answer.content)}`;
    } catch (error) {
      return `could not ask: ${(error as Error).message}`;
    }
  },
});
/** A call that takes `ms` to answer. */
const dawdle = defineTool({
  name: 'dawdle',
  description: 'Answers after a while.',
  input: z.object({ ms: z.number() }),
  async handler({ ms }) {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return 'took my time';
  },
});
const plugin = definePlugin({ id: 'standalone-fixtures', tools: [touch, confirm, dawdle], resources: [board] });

const INIT = { jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: { elicitation: {} }, clientInfo: { name: 'raw', version: '1' } } };

describe('protocol: the standalone GET stream is resumable', function () {
  const governance = recordingGovernance();
  let t: TestEngine;
  let url: string;
  before(async () => {
    t = await createTestEngine({ plugins: [governance.edition, plugin], tenant: governance.tenant, connect: false, sessions: true });
    url = t.engine.mcpUrl();
  });
  after(() => t?.close());

  const begin = async (): Promise<string> => {
    const init = await post(url, 'reader-token', INIT);
    await init.body?.cancel();
    return init.headers.get('mcp-session-id')!;
  };
  const call = (session: string, id: number, name: string, args: object, accept?: string) =>
    post(url, 'reader-token', { jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }, { 'mcp-session-id': session, ...(accept ? { accept } : {}) });
  const listen = (session: string, lastEventId?: string) =>
    fetch(url, { headers: { accept: 'text/event-stream', authorization: 'Bearer reader-token', 'mcp-session-id': session, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) } });
  const touchBoard = async (session: string, id: number) => {
    const res = await call(session, id, 'touch', { uri: 'board://main' }, 'application/json');
    expect(((await res.json()) as { result: { content: { text: string }[] } }).result.content[0]!.text).to.equal('touched');
  };

  it('opens with a priming event (an id and a retry interval), and every message on it carries an event id', async () => {
    const session = await begin();
    const stream = sseEvents(await listen(session));
    const priming = await stream.next();
    expect(priming!.id).to.match(/^[1-9][0-9]*$/);
    expect(priming!.retry).to.be.a('number');
    expect(priming!.data).to.equal('');
    await (await post(url, 'reader-token', { jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri: 'board://main' } }, { 'mcp-session-id': session })).body?.cancel();
    await touchBoard(session, 2);
    const update = await stream.next();
    expect(JSON.parse(update!.data)).to.deep.equal({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'board://main' } });
    expect(BigInt(update!.id!) > BigInt(priming!.id!), 'ids increase').to.equal(true);
    await stream.cancel();
  });

  it('a client that reconnects with Last-Event-ID receives the updates it missed while away, in order, then new ones on the same stream', async () => {
    const session = await begin();
    await (await post(url, 'reader-token', { jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri: 'board://main' } }, { 'mcp-session-id': session })).body?.cancel();
    const first = sseEvents(await listen(session));
    const priming = await first.next();
    await touchBoard(session, 2);
    const seen = await first.next();
    await first.cancel();
    // Away: two updates go out while no stream is open.
    await touchBoard(session, 3);
    await touchBoard(session, 4);
    const resumed = await listen(session, seen!.id);
    expect(resumed.status).to.equal(200);
    const again = sseEvents(resumed);
    const missed = [await again.next(), await again.next()];
    expect(missed.map((event) => JSON.parse(event!.data).method)).to.deep.equal(['notifications/resources/updated', 'notifications/resources/updated']);
    const ids = [priming!.id!, seen!.id!, ...missed.map((event) => event!.id!)].map(BigInt);
    expect([...ids].sort((x, y) => (x < y ? -1 : 1)), 'ids increase along the stream').to.deep.equal(ids);
    expect(new Set(ids).size).to.equal(4);
    await touchBoard(session, 5);
    const live = await again.next();
    expect(BigInt(live!.id!) > ids.at(-1)!).to.equal(true);
    await again.cancel();
  });

  it('a new GET replaces the session’s previous stream, so no message goes out twice', async () => {
    const session = await begin();
    await (await post(url, 'reader-token', { jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri: 'board://main' } }, { 'mcp-session-id': session })).body?.cancel();
    const old = sseEvents(await listen(session));
    await old.next();
    const fresh = sseEvents(await listen(session));
    await fresh.next();
    // The old stream ends without carrying anything.
    expect(await old.next()).to.equal(undefined);
    await touchBoard(session, 2);
    expect(JSON.parse((await fresh.next())!.data).method).to.equal('notifications/resources/updated');
    await fresh.cancel();
  });

  it('a server→client request of a call that accepts only JSON goes on the standalone stream, with an id, and the posted answer reaches the tool', async () => {
    const session = await begin();
    const stream = sseEvents(await listen(session));
    await stream.next();
    const pending = call(session, 7, 'confirm', {}, 'application/json');
    const request = await stream.next();
    expect(request!.id).to.match(/^[1-9][0-9]*$/);
    const message = JSON.parse(request!.data) as { id: string; method: string };
    expect(message.method).to.equal('elicitation/create');
    const answered = await post(url, 'reader-token', { jsonrpc: '2.0', id: message.id, result: { action: 'accept', content: { sure: true } } }, { 'mcp-session-id': session });
    expect(answered.status).to.equal(202);
    const result = (await (await pending).json()) as { result: { content: { text: string }[] } };
    expect(result.result.content[0]!.text).to.equal('user accept: {"sure":true}');
    await stream.cancel();
  });

  it('a server→client request missed while the stream was away is delivered on resumption, and its answer still reaches the tool', async () => {
    const session = await begin();
    const first = sseEvents(await listen(session));
    const priming = await first.next();
    await first.cancel();
    const pending = call(session, 8, 'confirm', {}, 'application/json');
    // The request is kept in the session's log while no stream is open; resume after the priming event.
    const resumed = sseEvents(await listen(session, priming!.id));
    const request = JSON.parse((await resumed.next())!.data) as { id: string; method: string };
    expect(request.method).to.equal('elicitation/create');
    expect((await post(url, 'reader-token', { jsonrpc: '2.0', id: request.id, result: { action: 'decline' } }, { 'mcp-session-id': session })).status).to.equal(202);
    expect(((await (await pending).json()) as { result: { content: { text: string }[] } }).result.content[0]!.text).to.equal('user decline: undefined');
    await resumed.cancel();
  });

  it('a session that never opened its stream is not asked over JSON: the tool hears at once that the client cannot be reached', async () => {
    const session = await begin();
    const res = await call(session, 9, 'confirm', {}, 'application/json');
    expect(((await res.json()) as { result: { content: { text: string }[] } }).result.content[0]!.text).to.equal(
      'could not ask: Cannot send elicitation/create: the client accepts no event stream for this request.',
    );
  });

  it('another principal cannot resume a session’s stream with its Last-Event-ID', async () => {
    const session = await begin();
    const stream = sseEvents(await listen(session));
    const priming = await stream.next();
    const stolen = await fetch(url, { headers: { accept: 'text/event-stream', authorization: 'Bearer other-token', 'mcp-session-id': session, 'last-event-id': priming!.id! } });
    expect(stolen.status).to.equal(404);
    await stolen.body?.cancel();
    await stream.cancel();
  });
});

describe('protocol: a session listening on its standalone stream is in use', () => {
  const governance = recordingGovernance();
  let t: TestEngine;
  before(async () => {
    t = await createTestEngine({ plugins: [governance.edition, plugin], tenant: governance.tenant, connect: false, sessions: { idleTimeoutMs: 1500 } });
  });
  after(() => t?.close());

  it('the fleet sweep ends an idle session but not one whose client holds its stream open without posting', async () => {
    const url = t.engine.mcpUrl();
    const begin = async (): Promise<string> => {
      const init = await post(url, 'reader-token', INIT);
      await init.body?.cancel();
      return init.headers.get('mcp-session-id')!;
    };
    const listening = await begin();
    const idle = await begin();
    const stream = sseEvents(await fetch(url, { headers: { accept: 'text/event-stream', authorization: 'Bearer reader-token', 'mcp-session-id': listening } }));
    await stream.next();
    // Longer than the idle timeout, with no request on either session.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    await t.engine.resolve(BackgroundWork).runExclusive('fleet.sweep', (trx) => t.engine.resolve(InstanceRegistry).sweep(trx));
    const ping = (session: string) => post(url, 'reader-token', { jsonrpc: '2.0', id: 1, method: 'ping' }, { 'mcp-session-id': session });
    expect((await ping(idle)).status, 'the idle session is gone').to.equal(404);
    expect((await ping(listening)).status, 'the listening session lives on').to.equal(200);
    await stream.cancel();
  });

  it('the fleet sweep ended a session whose client waited on one call longer than the idle timeout: a running call keeps its session in use', async () => {
    const url = t.engine.mcpUrl();
    const init = await post(url, 'reader-token', INIT);
    await init.body?.cancel();
    const session = init.headers.get('mcp-session-id')!;
    const sweep = () => t.engine.resolve(BackgroundWork).runExclusive('fleet.sweep', (trx) => t.engine.resolve(InstanceRegistry).sweep(trx));
    // A call twice as long as the idle timeout, with no other request; the sweep runs while it does.
    const answer = post(url, 'reader-token', { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'dawdle', arguments: { ms: 3_000 } } }, { 'mcp-session-id': session, accept: 'application/json' });
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    await sweep();
    expect(((await (await answer).json()) as { result: { content: { text: string }[] } }).result.content[0]!.text).to.equal('took my time');
    // Its idle time starts when the call ends.
    await new Promise((resolve) => setTimeout(resolve, 500));
    await sweep();
    const ping = await post(url, 'reader-token', { jsonrpc: '2.0', id: 3, method: 'ping' }, { 'mcp-session-id': session });
    expect(ping.status, 'the session lives on').to.equal(200);
  });
});
