import { expect } from 'chai';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { body, post, recordingGovernance, sseMessages } from './support.js';

const governance = recordingGovernance();

let started: () => void = () => {};
let observed: { aborted: boolean; reason: unknown } | undefined;

const chatty = defineTool({
  name: 'chatty',
  description: 'Logs at four levels.',
  input: z.object({}),
  async handler(_args, ctx) {
    await ctx.log('debug', 'debug detail');
    await ctx.log('info', { step: 'info' }, 'worker');
    await ctx.log('warning', 'careful');
    await ctx.log('error', 'broken');
    return 'done';
  },
});
const counter = defineTool({
  name: 'counter',
  description: 'Counts to three, reporting progress.',
  input: z.object({}),
  async handler(_args, ctx) {
    for (let i = 1; i <= 3; i++) {
      await ctx.progress(i, 3, `step ${i}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return 'counted';
  },
});
/** How each `holder` call ended, by its `label`. */
const held = new Map<string, string>();
const holder = defineTool({
  name: 'holder',
  description: 'Waits until aborted, or answers after `ms`.',
  input: z.object({ label: z.string(), ms: z.number() }),
  async handler({ label, ms }, ctx) {
    started();
    const ending = await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('answered'), ms);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve(`aborted: ${(ctx.signal.reason as Error).message}`);
      });
    });
    held.set(label, ending);
    return ending;
  },
});
/** The last `stubborn` call: whether it ended, and the first step at which it found itself aborted. */
const stubbornRun: { ended: boolean; abortedAt?: number } = { ended: false };
const stubborn = defineTool({
  name: 'stubborn',
  description: 'Reports progress and logs ten times, 50 ms apart, whether cancelled or not.',
  input: z.object({}),
  async handler(_args, ctx) {
    stubbornRun.ended = false;
    delete stubbornRun.abortedAt;
    started();
    for (let i = 1; i <= 10; i++) {
      if (ctx.signal.aborted) stubbornRun.abortedAt ??= i;
      await ctx.progress(i, 10, `step ${i}`);
      await ctx.log('info', i);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    stubbornRun.ended = true;
    return 'finished anyway';
  },
});
const quiet = defineTool({ name: 'quiet', description: 'Sends nothing.', input: z.object({}), handler: () => 'quiet' });
const waiter = defineTool({
  name: 'waiter',
  description: 'Waits until aborted (or 5 s).',
  input: z.object({}),
  async handler(_args, ctx) {
    started();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 5000);
      ctx.signal.addEventListener('abort', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    observed = { aborted: ctx.signal.aborted, reason: ctx.signal.reason };
    return 'waited';
  },
});

function nextStart(): Promise<void> {
  return new Promise((resolve) => (started = resolve));
}

async function until(check: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('protocol: logging, progress, streaming and cancellation', () => {
  let t: TestEngine;
  before(async () => {
    t = await createTestEngine({ plugins: [governance.edition, definePlugin({ id: 'notifying', tools: [chatty, counter, quiet, waiter, holder, stubborn] })], tenant: governance.tenant, connect: false });
  });
  after(() => t.close());
  beforeEach(() => {
    observed = undefined;
    governance.audit.events.length = 0;
  });

  it('log messages reach the client before the result, filtered by the level it set', async () => {
    const reader = await t.connect({ token: 'reader-token' });
    const other = await t.connect({ token: 'other-token' });
    const received: { who: string; level: string; data: unknown; logger?: string }[] = [];
    reader.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void received.push({ who: 'reader', ...n.params } as never));
    other.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void received.push({ who: 'other', ...n.params } as never));

    expect(await reader.setLoggingLevel('warning')).to.deep.equal({});
    const result = await reader.callTool({ name: 'chatty', arguments: {} });
    expect(result.content).to.deep.equal([{ type: 'text', text: 'done' }]);
    expect(received).to.deep.equal([
      { who: 'reader', level: 'warning', data: 'careful' },
      { who: 'reader', level: 'error', data: 'broken' },
    ]);

    received.length = 0;
    await other.callTool({ name: 'chatty', arguments: {} });
    expect(received.map((r) => r.level), "another caller's level is its own: unset means everything").to.deep.equal(['debug', 'info', 'warning', 'error']);
    expect(received[1]).to.deep.equal({ who: 'other', level: 'info', logger: 'worker', data: { step: 'info' } });
  });

  it('logging/setLevel rejects an unknown level with -32602', async () => {
    const response = await post(t.engine.mcpUrl(), 'reader-token', { jsonrpc: '2.0', id: 1, method: 'logging/setLevel', params: { level: 'loud' } });
    expect((await body(response)).error.code).to.equal(-32602);
  });

  it('progress notifications arrive before the result, with the client’s token', async () => {
    const client = await t.connect({ token: 'reader-token' });
    const events: string[] = [];
    const result = await client.callTool({ name: 'counter', arguments: {} }, undefined, { onprogress: (p) => void events.push(`${p.progress}/${p.total} ${p.message}`) });
    events.push(`result ${JSON.stringify(result.content)}`);
    expect(events).to.deep.equal(['1/3 step 1', '2/3 step 2', '3/3 step 3', 'result [{"type":"text","text":"counted"}]']);
  });

  it('a call that sends nothing stays plain JSON even when the client accepts SSE', async () => {
    const response = await post(t.engine.mcpUrl(), 'reader-token', { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'quiet', arguments: {} } });
    expect(response.headers.get('content-type')).to.match(/^application\/json/);
    expect((await body(response)).result.content).to.deep.equal([{ type: 'text', text: 'quiet' }]);
  });

  it('a call that logs streams its notifications then its result when the client accepts SSE, and stays JSON when it does not', async () => {
    const streamed = await post(t.engine.mcpUrl(), 'other-token', { jsonrpc: '2.0', id: 'x-1', method: 'tools/call', params: { name: 'chatty', arguments: {} } });
    expect(streamed.headers.get('content-type')).to.equal('text/event-stream');
    const messages = sseMessages(await streamed.text());
    expect(messages.map((m) => m.method ?? `response ${m.id}`)).to.deep.equal([
      'notifications/message',
      'notifications/message',
      'notifications/message',
      'notifications/message',
      'response x-1',
    ]);
    const plain = await post(t.engine.mcpUrl(), 'other-token', { jsonrpc: '2.0', id: 'x-2', method: 'tools/call', params: { name: 'chatty', arguments: {} } }, { accept: 'application/json' });
    expect(plain.headers.get('content-type')).to.match(/^application\/json/);
    expect((await body(plain)).result.content).to.deep.equal([{ type: 'text', text: 'done' }]);
  });

  it('cancelling through the SDK client aborts the handler’s signal', async () => {
    const client = await t.connect({ token: 'reader-token' });
    const controller = new AbortController();
    const running = nextStart();
    const call = client.callTool({ name: 'waiter', arguments: {} }, undefined, { signal: controller.signal }).catch((error: unknown) => error);
    await running;
    controller.abort('changed my mind');
    await call;
    await until(() => observed !== undefined);
    expect(observed!.aborted).to.equal(true);
    expect(String((observed!.reason as Error).message)).to.equal('changed my mind');
  });

  it('a cancelled call whose handler goes on sends its client no more progress or log messages, nor its result (the client logged an unknown-token error for each step, and an unknown-message-id error for the result)', async () => {
    const client = await t.connect({ token: 'reader-token' });
    const errors: string[] = [];
    client.onerror = (error) => void errors.push(error.message);
    const logged: number[] = [];
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logged.push(n.params.data as number));
    const progress: number[] = [];
    const controller = new AbortController();
    const running = nextStart();
    const call = client.callTool({ name: 'stubborn', arguments: {} }, undefined, { signal: controller.signal, onprogress: (p) => void progress.push(p.progress) }).catch((error: unknown) => error);
    await running;
    await until(() => progress.length >= 2);
    controller.abort('enough');
    expect(await call).to.be.instanceOf(Error);
    await until(() => stubbornRun.ended);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const abortedAt = stubbornRun.abortedAt;
    expect(abortedAt, 'the handler saw the cancellation').to.be.a('number');
    // Progress the client no longer has a handler for arrives as an error; every step it was sent
    // must have been sent before the server learnt of the cancellation.
    const lateProgress = errors.flatMap((message) => /^Received a progress notification for an unknown token: .*"progress":(\d+)/.exec(message)?.[1] ?? []).map(Number);
    expect(lateProgress.filter((step) => step >= abortedAt!), 'progress sent after the cancellation').to.deep.equal([]);
    expect(logged.filter((step) => step >= abortedAt!), 'log messages sent after the cancellation').to.deep.equal([]);
    // Nor is it sent the result (the client logged an unknown-message-id error for it).
    expect(errors, 'what the client reported').to.deep.equal([]);
    // The client works on.
    expect((await client.callTool({ name: 'quiet', arguments: {} })).content).to.deep.equal([{ type: 'text', text: 'quiet' }]);
  });

  it('a call cancelled before it sent anything was answered with its result anyway: a client that accepts an event stream gets an empty one', async () => {
    const url = t.engine.mcpUrl();
    const running = nextStart();
    const call = post(url, 'reader-token', { jsonrpc: '2.0', id: 'gone-1', method: 'tools/call', params: { name: 'waiter', arguments: {} } });
    await running;
    expect((await post(url, 'reader-token', { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'gone-1', reason: 'stop' } })).status).to.equal(202);
    const answer = await call;
    expect(answer.status).to.equal(200);
    expect(answer.headers.get('content-type')).to.match(/^text\/event-stream/);
    expect(await answer.text()).to.equal('');
    expect(observed?.aborted).to.equal(true);
  });

  it('a cancelled call whose client accepts only JSON still gets an answer (there is no answer without a body), which it ignores', async () => {
    const url = t.engine.mcpUrl();
    const running = nextStart();
    const call = post(url, 'reader-token', { jsonrpc: '2.0', id: 'gone-2', method: 'tools/call', params: { name: 'waiter', arguments: {} } }, { accept: 'application/json' });
    await running;
    await post(url, 'reader-token', { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 'gone-2', reason: 'stop' } });
    const answer = await call;
    expect(answer.headers.get('content-type')).to.match(/^application\/json/);
    expect((await body(answer)).result.content).to.deep.equal([{ type: 'text', text: 'waited' }]);
  });

  it('stateless requests of one credential with the same id: one that ends leaves the other cancellable, and a cancellation reaches every one still running', async () => {
    const url = t.engine.mcpUrl();
    const call = (label: string, ms: number) => post(url, 'reader-token', { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'holder', arguments: { label, ms } } });
    let running = nextStart();
    const first = call('first', 5000);
    await running;
    running = nextStart();
    const short = call('short', 50);
    await running;
    running = nextStart();
    const second = call('second', 5000);
    await running;
    await short;
    expect(held.get('short')).to.equal('answered');
    const cancel = await post(url, 'reader-token', { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 5, reason: 'all of them' } });
    expect(cancel.status).to.equal(202);
    await Promise.all([first, second]);
    expect(held.get('first')).to.equal('aborted: all of them');
    expect(held.get('second')).to.equal('aborted: all of them');
  });

  it('a stateless cancellation arrives as a separate POST; another principal cannot cancel someone else’s request', async () => {
    const url = t.engine.mcpUrl();
    const running = nextStart();
    const call = post(url, 'reader-token', { jsonrpc: '2.0', id: 77, method: 'tools/call', params: { name: 'waiter', arguments: {} } });
    await running;
    const foreign = await post(url, 'other-token', { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 77, reason: 'not yours' } });
    expect(foreign.status).to.equal(202);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(observed, 'the other principal’s cancellation was ignored').to.equal(undefined);
    const own = await post(url, 'reader-token', { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 77, reason: 'stop' } });
    expect(own.status).to.equal(202);
    await call;
    await until(() => observed !== undefined);
    expect(observed!.aborted).to.equal(true);
    expect((observed!.reason as Error).message).to.equal('stop');
  });
});
