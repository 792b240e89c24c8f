import { expect } from 'chai';
import pg from 'pg';
import { BackgroundWork, Database, SessionStore, definePlugin, defineResource, defineTool, z } from '@gatehouse-mcp/engine';
import { SESSION_TOUCH_JOB } from '../../src/core/mcp/session-store.js';
import { sseEvents } from './support.js';
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
const confirm = defineTool({
  name: 'confirm',
  description: 'Asks the user to confirm.',
  input: z.object({}),
  async handler(_args, ctx) {
    const answer = await ctx.requestClient('elicitation/create', { message: 'Sure?', requestedSchema: { type: 'object', properties: { sure: { type: 'boolean' } } } });
    return `user ${String(answer.action)}: ${JSON.stringify(answer.content)}`;
  },
});
/** What the server saw of the `wait` tool's last call: when it saw its cancellation and why, and when it returned. */
const waited = { abortedAt: 0, reason: '', returnedAt: 0 };
const wait = defineTool({
  name: 'wait',
  description: 'Waits until it is cancelled, at most ten seconds.',
  input: z.object({}),
  async handler(_args, ctx) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 10_000);
      ctx.signal.addEventListener('abort', () => {
        waited.abortedAt = Date.now();
        waited.reason = String((ctx.signal.reason as Error | undefined)?.message ?? ctx.signal.reason);
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });
    waited.returnedAt = Date.now();
    return 'waited';
  },
});
const plugin = definePlugin({ id: 'fleet-fixtures', tools: [touch, slow, confirm, wait], resources: [board] });

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
  let otherKey: string;
  before(async () => {
    a = await createTestEngine({ plugins: [communityEdition(), plugin], connect: false, sessions: true });
    b = await createTestEngine({ plugins: [communityEdition(), plugin], connect: false, sessions: true, tenant: a.tenant });
    key = (await a.createKey()).secret;
    otherKey = (await a.createKey({ name: 'another client' })).secret;
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

  /** A session on `a` whose call `id` of the slow tool closed its response stream mid-call: the session and the events received. */
  async function slowCallBrokenOff(id: number): Promise<{ session: string; call: Response; first: { id?: string; data: string }[] }> {
    const init = await rpc(a, INIT);
    const session = init.headers.get('mcp-session-id')!;
    await init.body?.cancel();
    await (await rpc(a, { jsonrpc: '2.0', id: 1, method: 'logging/setLevel', params: { level: 'info' } }, session)).body?.cancel();
    const call = await rpc(a, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'slow', arguments: {} } }, session);
    return { session, call, first: await events(call.body!) };
  }

  it('a response stream closed mid-call is resumed on another instance with Last-Event-ID: the missed messages, then the result', async () => {
    const { session, call, first } = await slowCallBrokenOff(7);
    expect(call.headers.get('content-type')).to.match(/^text\/event-stream/);
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

  it('resuming a response stream whose events are no longer kept is refused with 400, not answered with the standalone stream (its client waited for a result that never came)', async () => {
    const { session, first } = await slowCallBrokenOff(8);
    // Forget its stream, as the housekeeping does once its events expire.
    const knex = a.engine.resolve<Database>(Database).knex;
    expect(await knex('mcp_session_events').where({ session_id: session }).whereNot({ stream: 'get' }).delete()).to.be.above(0);
    const resume = (lastEventId: string) =>
      fetch(b.engine.mcpUrl(), { headers: { accept: 'text/event-stream', authorization: `Bearer ${key}`, 'mcp-session-id': session, 'last-event-id': lastEventId } });
    const refused = await resume(first.at(-1)!.id!);
    expect(refused.status).to.equal(400);
    expect(((await refused.json()) as { error: { message: string } }).error.message).to.match(/no longer kept/);
    // The session itself is fine: a GET without an id it cannot honour opens the standalone stream.
    const standalone = await resume('123456789');
    expect(standalone.status).to.equal(200);
    expect(standalone.headers.get('content-type')).to.match(/^text\/event-stream/);
    await standalone.body?.cancel();
  });

  it('initialize on one instance, stream there, calls and DELETE on another: the session follows, and ends everywhere', async () => {
    const init = await rpc(a, INIT);
    const session = init.headers.get('mcp-session-id')!;
    expect(session).to.match(/^[A-Za-z0-9_-]{32,}$/);
    await init.body?.cancel();

    const listed = await rpc(b, { jsonrpc: '2.0', id: 1, method: 'tools/list' }, session);
    expect(listed.status).to.equal(200);
    expect(((await listed.json()) as { result: { tools: { name: string }[] } }).result.tools.map((tool) => tool.name)).to.deep.equal(['touch', 'slow', 'confirm', 'wait']);

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

  const ASKING_INIT = { ...INIT, params: { ...INIT.params, protocolVersion: '2025-11-25', capabilities: { elicitation: {} } } };
  const begin = async (t: TestEngine): Promise<string> => {
    const init = await rpc(t, ASKING_INIT);
    await init.body?.cancel();
    return init.headers.get('mcp-session-id')!;
  };
  const listen = (t: TestEngine, session: string, lastEventId?: string) =>
    fetch(t.engine.mcpUrl(), { headers: { accept: 'text/event-stream', authorization: `Bearer ${key}`, 'mcp-session-id': session, ...(lastEventId ? { 'last-event-id': lastEventId } : {}) } });
  const touchOn = async (t: TestEngine, session: string, id: number) => {
    const res = await fetch(t.engine.mcpUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${key}`, 'mcp-session-id': session },
      body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'touch', arguments: { uri: 'board://main' } } }),
    });
    expect(((await res.json()) as { result: { content: { text: string }[] } }).result.content[0]!.text).to.equal('touched');
  };

  it('the standalone stream held on one instance is resumed on another with Last-Event-ID: the updates made on either instance while away, then new ones', async () => {
    const session = await begin(a);
    await (await rpc(b, { jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri: 'board://main' } }, session)).body?.cancel();
    const onA = sseEvents(await listen(a, session));
    await onA.next();
    await touchOn(b, session, 2);
    const seen = await onA.next();
    expect(JSON.parse(seen!.data).method).to.equal('notifications/resources/updated');
    await onA.cancel();
    await touchOn(a, session, 3);
    await touchOn(b, session, 4);
    const onB = sseEvents(await listen(b, session, seen!.id));
    const missed = [await onB.next(), await onB.next()];
    expect(missed.map((event) => JSON.parse(event!.data).params.uri)).to.deep.equal(['board://main', 'board://main']);
    expect(BigInt(missed[0]!.id!) > BigInt(seen!.id!) && BigInt(missed[1]!.id!) > BigInt(missed[0]!.id!), 'in order, after the last event seen').to.equal(true);
    await touchOn(a, session, 5);
    expect(BigInt((await onB.next())!.id!) > BigInt(missed[1]!.id!)).to.equal(true);
    await onB.cancel();
  });

  it('a standalone stream opened on another instance ends the one held on the first, so no message goes out twice', async () => {
    const session = await begin(a);
    await (await rpc(a, { jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri: 'board://main' } }, session)).body?.cancel();
    const onA = sseEvents(await listen(a, session));
    await onA.next();
    const onB = sseEvents(await listen(b, session));
    await onB.next();
    expect(await onA.next(), 'the stream on a ends, carrying nothing').to.equal(undefined);
    await touchOn(a, session, 2);
    expect(JSON.parse((await onB.next())!.data).method).to.equal('notifications/resources/updated');
    await onB.cancel();
  });

  it('the answer to an elicitation posted to another instance reaches the tool waiting on the first; another client’s answer does not', async () => {
    const session = await begin(a);
    const call = await rpc(a, { jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'confirm', arguments: {} } }, session);
    expect(call.headers.get('content-type')).to.match(/^text\/event-stream/);
    const stream = sseEvents(call);
    await stream.next();
    const request = JSON.parse((await stream.next())!.data) as { id: string; method: string };
    expect(request.method).to.equal('elicitation/create');
    const forged = await fetch(b.engine.mcpUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${otherKey}` },
      body: JSON.stringify({ jsonrpc: '2.0', id: request.id, result: { action: 'accept', content: { sure: false } } }),
    });
    expect(forged.status).to.equal(202);
    const answered = await rpc(b, { jsonrpc: '2.0', id: request.id, result: { action: 'accept', content: { sure: true } } }, session);
    expect(answered.status).to.equal(202);
    const result = JSON.parse((await stream.next())!.data) as { id: number; result: { content: { text: string }[] } };
    expect(result.id).to.equal(9);
    expect(result.result.content[0]!.text).to.equal('user accept: {"sure":true}');
  });

  /** A call of the `wait` tool on `a` (in `session`, if any), once it has had time to start: its answer, still to come. */
  async function waiting(id: number, session: string | undefined): Promise<{ answer: Promise<Response> }> {
    Object.assign(waited, { abortedAt: 0, reason: '', returnedAt: 0 });
    const answer = rpc(a, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'wait', arguments: {} } }, session);
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { answer };
  }

  /** Wait (up to 3 s) for the `wait` tool to see its abort. */
  async function untilAborted(): Promise<void> {
    const deadline = Date.now() + 3_000;
    while (waited.abortedAt === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
  }

  for (const withSession of [true, false]) {
    it(`a cancellation posted to another instance stopped nothing (the call ran on to its end)${withSession ? '' : ', without a session too'}: it stops the call running on the first; another client's cancellation does not`, async () => {
      const session = withSession ? await begin(a) : undefined;
      const id = withSession ? 21 : 22;
      const started = Date.now();
      const { answer } = await waiting(id, session);
      // On b: the caller's own cancellation, in its session; another client's, without it (the session is not its own).
      const cancel = (credential: string, inSession: string | undefined) =>
        fetch(b.engine.mcpUrl(), {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${credential}`, ...(inSession ? { 'mcp-session-id': inSession } : {}) },
          body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'the user gave up' } }),
        });
      expect((await cancel(otherKey, undefined)).status).to.equal(202);
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(waited.abortedAt, "another client's cancellation stopped the call").to.equal(0);

      const cancelledAt = Date.now();
      expect((await cancel(key, session)).status).to.equal(202);
      await untilAborted();
      expect(waited.abortedAt, 'the call on the first instance saw the cancellation').to.be.above(0);
      expect(waited.abortedAt - cancelledAt).to.be.below(2_000);
      expect(waited.reason).to.equal('the user gave up');
      await (await answer).body?.cancel();
      expect(waited.returnedAt - started, 'the call returned when cancelled, not at its end').to.be.below(5_000);
    });
  }

  for (const where of ['the same instance', 'another instance']) {
    it(`deleting a session on ${where} left its running call going until its end: the call is aborted`, async () => {
      const session = await begin(a);
      const { answer } = await waiting(23, session);
      const endedAt = Date.now();
      expect((await rpc(where === 'the same instance' ? a : b, {}, session, 'DELETE')).status).to.equal(204);
      await untilAborted();
      expect(waited.abortedAt, 'the call saw the end of its session').to.be.above(0);
      expect(waited.abortedAt - endedAt).to.be.below(2_000);
      expect(waited.reason).to.equal('The session ended.');
      await (await answer).body?.cancel();
    });
  }

  it('an elicitation sent on the standalone stream held on another instance is answered through a third request on either: the call that accepts only JSON gets its result', async () => {
    const session = await begin(a);
    const onB = sseEvents(await listen(b, session));
    await onB.next();
    const pending = fetch(a.engine.mcpUrl(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${key}`, 'mcp-session-id': session },
      body: JSON.stringify({ jsonrpc: '2.0', id: 10, method: 'tools/call', params: { name: 'confirm', arguments: {} } }),
    });
    const request = JSON.parse((await onB.next())!.data) as { id: string; method: string };
    expect(request.method).to.equal('elicitation/create');
    expect((await rpc(b, { jsonrpc: '2.0', id: request.id, result: { action: 'accept', content: { sure: true } } }, session)).status).to.equal(202);
    expect(((await (await pending).json()) as { result: { content: { text: string }[] } }).result.content[0]!.text).to.equal('user accept: {"sure":true}');
    await onB.cancel();
  });

  it('batched last_seen_at writes wait for the fleet lock: two instances never write the same sessions at once, and the time never moves back', async () => {
    const session = await begin(a);
    // Both instances use the session, so both have its last_seen_at to write.
    await (await rpc(a, { jsonrpc: '2.0', id: 1, method: 'ping' }, session)).body?.cancel();
    await (await rpc(b, { jsonrpc: '2.0', id: 2, method: 'ping' }, session)).body?.cancel();
    const knex = a.engine.resolve<Database>(Database).knex;
    const schema = ((await knex.raw('select current_schema() as s')) as { rows: { s: string }[] }).rows[0]!.s;
    const before = ((await knex('mcp_sessions').where({ id: session }).first('last_seen_at')) as { last_seen_at: Date }).last_seen_at;
    const holder = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query("select pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))", [schema, SESSION_TOUCH_JOB]);
      const flushes = [a, b].map((t) => t.engine.resolve(SessionStore).flushTouches());
      // Both wait for the lock, and have written nothing.
      const waitingFor = async (n: number) => {
        for (;;) {
          const { rows } = await holder.query(
            "select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted and ((classid::bigint << 32) | objid::bigint) = hashtextextended($1 || ':' || $2, 0)",
            [schema, SESSION_TOUCH_JOB],
          );
          if (rows[0].n >= n) return;
          await new Promise((resolve) => setImmediate(resolve));
        }
      };
      await waitingFor(2);
      const during = ((await knex('mcp_sessions').where({ id: session }).first('last_seen_at')) as { last_seen_at: Date }).last_seen_at;
      expect(during.getTime(), 'nothing written while another holds the lock').to.equal(before.getTime());
      await holder.query('commit');
      await Promise.all(flushes);
      const after = ((await knex('mcp_sessions').where({ id: session }).first('last_seen_at')) as { last_seen_at: Date }).last_seen_at;
      expect(after.getTime()).to.be.at.least(before.getTime());
      // A write with an older time than the stored one leaves it be.
      await a.engine.resolve(BackgroundWork).runSerialized(SESSION_TOUCH_JOB, async (trx) => {
        await trx('mcp_sessions').where({ id: session }).update({ last_seen_at: trx.raw('greatest(last_seen_at, ?)', [new Date(0)]) });
      });
      expect(((await knex('mcp_sessions').where({ id: session }).first('last_seen_at')) as { last_seen_at: Date }).last_seen_at.getTime()).to.equal(after.getTime());
    } finally {
      await holder.end();
    }
  });
  it('a session kept busy on one instance was ended as idle by another that had it cached from earlier: the other asks the database first', async () => {
    const idleTimeoutMs = 1_500;
    const c = await createTestEngine({ plugins: [communityEdition(), plugin], connect: false, sessions: { idleTimeoutMs }, tenant: a.tenant });
    const d = await createTestEngine({ plugins: [communityEdition(), plugin], connect: false, sessions: { idleTimeoutMs }, tenant: a.tenant });
    try {
      const session = await begin(c);
      const ping = async (t: TestEngine, id: number): Promise<number> => {
        const res = await rpc(t, { jsonrpc: '2.0', id, method: 'ping' }, session);
        await res.body?.cancel();
        return res.status;
      };
      // d sees the session once, and keeps it in its cache.
      expect(await ping(d, 1)).to.equal(200);
      // The client goes on with c only, for longer than the idle timeout.
      const until = Date.now() + idleTimeoutMs * 1.6;
      for (let id = 2; Date.now() < until; id++) {
        expect(await ping(c, id)).to.equal(200);
        await new Promise((resolve) => setTimeout(resolve, idleTimeoutMs / 6));
      }
      await c.engine.resolve(SessionStore).flushTouches();
      // Then a request lands on d: the session is in use, not idle.
      expect(await ping(d, 100)).to.equal(200);
      expect(await ping(c, 101)).to.equal(200);
    } finally {
      await c.close();
      await d.close();
    }
  });
});
