import { expect } from 'chai';
import { AuditSink, Authenticator, ConfigError, Policy, defineResource, definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { RecordingAuditSink, RecordingPolicy, StaticTokenAuthenticator, createTestEngine, testPrincipal, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';

const tenant = uniqueTenant();
const audit = new RecordingAuditSink();
const edition = definePlugin({
  id: 'recording-edition',
  register({ bind }) {
    bind(Authenticator).toConstantValue(new StaticTokenAuthenticator({ token: testPrincipal({ tenant }) }));
    bind(Policy).toConstantValue(new RecordingPolicy());
    bind(AuditSink).toConstantValue(audit);
  },
});

/** Resolves with the abort reason a handler saw; the test awaits it instead of sleeping. */
let sawAbort: Promise<unknown>;
let tellAbort: (reason: unknown) => void;
const resetLatch = (): void => {
  sawAbort = new Promise((resolve) => (tellAbort = resolve));
};

const listens = defineTool({
  name: 'slow.listens',
  description: 'Waits until its signal is aborted.',
  input: z.object({}),
  timeoutMs: 150,
  handler: (_args, ctx) =>
    new Promise<string>((resolve) => {
      ctx.signal.addEventListener('abort', () => {
        tellAbort(ctx.signal.reason);
        resolve('stopped');
      });
    }),
});
const ignores = defineTool({
  name: 'slow.ignores',
  description: 'Never finishes and never looks at its signal.',
  input: z.object({}),
  timeoutMs: 150,
  handler: () => new Promise<string>(() => {}),
});
const stuckResource = defineResource({ uri: 'slow://forever', name: 'forever', handler: () => new Promise<string>(() => {}) });

describe('per-call deadlines: no tool call, resource read or prompt waits forever', () => {
  let t: TestEngine;
  before(async () => {
    t = await createTestEngine({ plugins: [edition, definePlugin({ id: 'slow', tools: [listens, ignores], resources: [stuckResource] })], tenant, connect: false, callTimeoutMs: 300 });
  });
  after(() => t.close());
  beforeEach(() => {
    audit.events.length = 0;
    resetLatch();
  });

  it('a tool past its own timeoutMs gets its signal aborted with a deadline error, and the caller an isError result', async () => {
    const client = await t.connect({ token: 'token' });
    const result = await client.callTool({ name: 'slow.listens', arguments: {} });
    expect(result.isError).to.equal(true);
    expect((result.content as { text: string }[])[0]!.text).to.match(/^slow\.listens did not finish within 150 ms \(request [0-9a-f-]{36}\)\.$/);
    const reason = (await sawAbort) as { code?: string };
    expect(reason.code).to.equal('deadline_exceeded');
    expect(audit.events.map((e) => [e.target, e.outcome, e.reason])).to.deep.equal([['slow.listens', 'failed', 'deadline exceeded (150 ms)']]);
  });

  it('a handler that ignores its signal does not hold the caller: the answer comes at the deadline', async () => {
    const client = await t.connect({ token: 'token' });
    const started = performance.now();
    const result = await client.callTool({ name: 'slow.ignores', arguments: {} });
    expect(result.isError).to.equal(true);
    expect(performance.now() - started).to.be.below(5_000);
    expect(audit.events).to.have.length(1);
  });

  it('a resource read past the engine default (callTimeoutMs) is a JSON-RPC request timeout', async () => {
    const client = await t.connect({ token: 'token' });
    const error = await client.readResource({ uri: 'slow://forever' }).then(() => undefined, (e: { code: number; message: string }) => e);
    expect(error?.code).to.equal(-32001);
    expect(error?.message).to.include('did not finish within 300 ms');
    expect(audit.events.map((e) => [e.target, e.outcome])).to.deep.equal([['slow://forever', 'failed']]);
  });

  it('a tool with a timeoutMs that is not a positive number is refused at definition', () => {
    expect(() => defineTool({ name: 'bad', description: 'x', input: z.object({}), timeoutMs: 0, handler: () => 'x' })).to.throw(ConfigError, /timeoutMs/);
  });
});
