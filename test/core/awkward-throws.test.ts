import { expect } from 'chai';
import fc from 'fast-check';
import { AuditSink, Authenticator, PinoLogger, Policy, definePlugin, definePrompt, defineResource, defineTool, z, type Logger } from '@gatehouse-mcp/engine';
import { RecordingAuditSink, RecordingPolicy, StaticTokenAuthenticator, createTestEngine, testPrincipal, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';

const tenant = uniqueTenant();
const caller = testPrincipal({ tenant, id: 'caller' });
const audit = new RecordingAuditSink();
const edition = definePlugin({
  id: 'recording-edition',
  register({ bind }) {
    bind(Authenticator).toConstantValue(new StaticTokenAuthenticator({ 'caller-token': caller }));
    bind(Policy).toConstantValue(new RecordingPolicy());
    bind(AuditSink).toConstantValue(audit);
  },
});

/** What the handlers below throw; each test sets it before calling. */
let thrown: unknown;
const throwIt = (): never => {
  throw thrown;
};
const fixtures = definePlugin({
  id: 'awkward-fixtures',
  tools: [defineTool({ name: 'awkward.throw', description: 'Throws whatever the test chose.', input: z.object({}), handler: throwIt })],
  resources: [defineResource({ uri: 'awkward://thing', name: 'awkward-thing', handler: throwIt })],
  prompts: [definePrompt({ name: 'awkward.prompt', description: 'Throws.', handler: throwIt })],
});

function circular(): unknown {
  const value: Record<string, unknown> = { big: 10n ** 30n };
  value.self = value;
  return value;
}

function chained(): Error {
  const root = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET', attempt: 3n });
  const middle = new Error('query failed', { cause: root });
  return Object.assign(new Error('could not load ticket', { cause: middle }), { code: 'E_TICKET' });
}

const hostile = (): unknown => new Proxy({}, {
  get() { throw new Error('trap: get'); },
  ownKeys() { throw new Error('trap: ownKeys'); },
  getPrototypeOf() { throw new Error('trap: getPrototypeOf'); },
  has() { throw new Error('trap: has'); },
});

const awkward: [string, () => unknown][] = [
  ['an object holding a BigInt', () => ({ id: 12345678901234567890n })],
  ['a circular object', circular],
  ['an error with a cause chain and codes', chained],
  ['a proxy whose every trap throws', hostile],
  ['undefined', () => undefined],
  ['null', () => null],
  ['a symbol', () => Symbol('odd')],
  ['an object whose toString throws', () => ({ toString() { throw new Error('no'); } })],
  ['an error whose message getter throws', () => Object.defineProperty(new Error(), 'message', { get() { throw new Error('no'); } })],
];

async function callTool(t: TestEngine): Promise<{ status: number; body: any }> {
  const res = await fetch(t.engine.mcpUrl(), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer caller-token' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'awkward.throw', arguments: {} } }),
  });
  return { status: res.status, body: await res.json() };
}

function expectOneFailedRow(target: string): void {
  expect(audit.events.map((event) => [event.target, event.outcome])).to.deep.equal([[target, 'failed']]);
}

describe('a handler that throws anything: the caller gets an error result, the audit gets one row, the engine stays up', () => {
  const lines: string[] = [];
  let t: TestEngine;
  before(async () => {
    t = await createTestEngine({
      plugins: [edition, fixtures],
      tenant,
      connect: false,
      logger: new PinoLogger('error', { write: (line) => lines.push(line) }),
    });
  });
  after(() => t.close());
  beforeEach(() => {
    audit.events.length = 0;
    lines.length = 0;
  });

  for (const [label, make] of awkward) {
    it(`tools/call: ${label} → isError result and exactly one audit row`, async () => {
      thrown = make();
      const { status, body } = await callTool(t);
      expect(status).to.equal(200);
      expect(body.result.isError).to.equal(true);
      expect(body.result.content[0].text).to.match(/^awkward\.throw failed with an internal error \(request [0-9a-f-]{36}\)\.$/);
      expectOneFailedRow('awkward.throw');
      expect(lines).to.have.length(1);
      const line = JSON.parse(lines[0]!);
      expect(line).to.include({ level: 'error', target: 'awkward.throw' });
      expect(line.msg).to.match(/^handler failed/);
      expect(line.requestId).to.equal(body.result.content[0].text.match(/request ([0-9a-f-]{36})/)[1]);
    });
  }

  it('the log line keeps the cause chain, the error codes and the BigInt', async () => {
    thrown = chained();
    await callTool(t);
    const { err } = JSON.parse(lines[0]!);
    expect(err).to.include({ message: 'could not load ticket', code: 'E_TICKET' });
    expect(err.cause).to.include({ message: 'query failed' });
    expect(err.cause.cause).to.include({ message: 'socket hang up', code: 'ECONNRESET', attempt: 3 });
  });

  it('resources/read and prompts/get: a circular BigInt throw → JSON-RPC internal error and one audit row each', async () => {
    thrown = circular();
    const client = await t.connect({ token: 'caller-token' });
    const read = await client.readResource({ uri: 'awkward://thing' }).then(() => undefined, (error: { code: number }) => error);
    expect(read?.code).to.equal(-32603);
    expectOneFailedRow('awkward://thing');
    audit.events.length = 0;
    const prompt = await client.getPrompt({ name: 'awkward.prompt' }).then(() => undefined, (error: { code: number }) => error);
    expect(prompt?.code).to.equal(-32603);
    expectOneFailedRow('awkward.prompt');
  });

  it('property: any thrown value (fast-check) → isError, one failed audit row, and the next call still works', async () => {
    await fc.assert(
      fc.asyncProperty(fc.anything({ withBigInt: true, withBoxedValues: true, withMap: true, withSet: true, withNullPrototype: true, withTypedArray: true, withSparseArray: true, withDate: true }), async (value) => {
        audit.events.length = 0;
        thrown = value;
        const { status, body } = await callTool(t);
        expect(status).to.equal(200);
        expect(body.result.isError).to.equal(true);
        expectOneFailedRow('awkward.throw');
      }),
      { numRuns: 60 },
    );
    audit.events.length = 0;
    thrown = new Error('still up');
    expect((await callTool(t)).body.result.isError).to.equal(true);
  });
});

describe('a host logger that throws on every call cannot turn a handler failure into a 500 or lose its audit row', () => {
  const exploding: Logger = {
    debug() { throw new Error('log sink down'); },
    info() { throw new Error('log sink down'); },
    warn() { throw new Error('log sink down'); },
    error() { throw new Error('log sink down'); },
    child() { return exploding; },
  };
  let t: TestEngine;
  before(async () => {
    t = await createTestEngine({ plugins: [edition, fixtures], tenant, connect: false, logger: exploding });
  });
  after(() => t.close());
  beforeEach(() => {
    audit.events.length = 0;
  });

  it('tools/call still answers isError and records exactly one row', async () => {
    thrown = circular();
    const { status, body } = await callTool(t);
    expect(status).to.equal(200);
    expect(body.result.isError).to.equal(true);
    expectOneFailedRow('awkward.throw');
  });
});
