/**
 * A handler whose answer cannot be sent: a value JSON cannot hold (a BigInt in a content's `_meta`,
 * a circular object) or a shape the protocol does not allow (a resource content with neither text
 * nor blob, a prompt message of another role, a tool's content block of no known type).
 *
 * Such a resource read or prompt was answered HTTP 500 (and over a stream once not at all) while the
 * audit trail recorded the call as `success`; a protocol-invalid answer was sent as it was, the
 * client refused it, and the trail said `success` too. A tool's own content blocks (`toolResult`)
 * went the same way. Now each is answered with a JSON-RPC error (a tool: an `isError` result) that
 * names what is wrong, and audited as `failed` with the same reason: the trail records what the
 * client got.
 */
import { expect } from 'chai';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { AuditSink, Authenticator, PinoLogger, Policy, definePlugin, definePrompt, defineResource, defineTool, toolResult, z } from '@gatehouse-mcp/engine';
import { RecordingAuditSink, RecordingPolicy, StaticTokenAuthenticator, createTestEngine, testPrincipal, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';

const tenant = uniqueTenant();
const audit = new RecordingAuditSink();
const edition = definePlugin({
  id: 'recording-edition',
  register({ bind }) {
    bind(Authenticator).toConstantValue(new StaticTokenAuthenticator({ 'caller-token': testPrincipal({ tenant, id: 'caller' }) }));
    bind(Policy).toConstantValue(new RecordingPolicy());
    bind(AuditSink).toConstantValue(audit);
  },
});

const circular: Record<string, unknown> = { name: 'loop' };
circular.self = circular;
const fixtures = definePlugin({
  id: 'unwritable-results',
  resources: [
    defineResource({ uri: 'unwritable://bigint', name: 'unwritable-bigint', handler: () => ({ text: 'counted', _meta: { count: 12345678901234567890n } }) }),
    defineResource({ uri: 'unwritable://circular', name: 'unwritable-circular', handler: () => ({ text: 'looped', _meta: circular }) }),
    defineResource({ uri: 'unwritable://shapeless', name: 'unwritable-shapeless', handler: () => ({ body: 'neither text nor blob' }) as never }),
    defineResource({ uri: 'unwritable://fine', name: 'unwritable-fine', handler: () => 'all good' }),
  ],
  prompts: [
    definePrompt({ name: 'unwritable.bigint', description: 'A message holding a BigInt.', handler: () => [{ role: 'user' as const, content: { type: 'text' as const, text: 'counted', _meta: { count: 1n } } }] }),
    definePrompt({ name: 'unwritable.role', description: 'A message of a role MCP does not have.', handler: () => [{ role: 'system', content: { type: 'text', text: 'be nice' } }] as never }),
    definePrompt({ name: 'unwritable.nothing', description: 'Answers nothing at all.', handler: () => null as never }),
    definePrompt({
      name: 'unwritable.completion',
      description: 'Its completer suggests numbers.',
      arguments: z.object({ size: z.string() }),
      complete: { size: () => [42, 12n] as never },
      handler: ({ size }) => `Size ${size}.`,
    }),
  ],
  tools: [
    defineTool({
      name: 'unwritable.blocks',
      description: 'Its own content block holds a BigInt.',
      input: z.object({}),
      handler: () => toolResult({ content: [{ type: 'text', text: 'counted', _meta: { count: 2n } } as never] }),
    }),
    defineTool({
      name: 'unwritable.block-type',
      description: 'A content block of no known type.',
      input: z.object({}),
      handler: () => toolResult({ content: [{ type: 'video', url: 'https://example.com/v.mp4' } as never] }),
    }),
    defineTool({ name: 'unwritable.object', description: 'An object holding a BigInt.', input: z.object({}), handler: () => ({ total: 3n }) }),
  ],
});

const asks: [string, string, Record<string, unknown>, RegExp][] = [
  ['resources/read of a content holding a BigInt', 'resources/read', { uri: 'unwritable://bigint' }, /contents\[0\]\._meta\.count is a BigInt/],
  ['resources/read of a content referring to itself', 'resources/read', { uri: 'unwritable://circular' }, /contents\[0\]\._meta\.self contains itself \(a circular structure\)/],
  ['resources/read of a content with neither text nor blob', 'resources/read', { uri: 'unwritable://shapeless' }, /contents\[0\] has neither a "text" nor a "blob" string/],
  ['prompts/get of a message holding a BigInt', 'prompts/get', { name: 'unwritable.bigint' }, /messages\[0\]\.content\._meta\.count is a BigInt/],
  ['prompts/get of a message of the role "system"', 'prompts/get', { name: 'unwritable.role' }, /messages\[0\]\.role is neither "user" nor "assistant"/],
  ['prompts/get of a handler that answered null', 'prompts/get', { name: 'unwritable.nothing' }, /the answer is not a list of messages/],
];

async function call(t: TestEngine, method: string, params: Record<string, unknown>, accept: string): Promise<{ status: number; type: string | null; text: string }> {
  const res = await fetch(t.engine.mcpUrl(), {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept, authorization: 'Bearer caller-token' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 7, method, params }),
    signal: AbortSignal.timeout(5_000),
  });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

/** The one audit event of the call with this request id in its answer. */
function eventOf(message: string): (typeof audit.events)[number] {
  const requestId = /request ([0-9a-f-]{36})/.exec(message)?.[1];
  expect(requestId, message).to.be.a('string');
  const events = audit.events.filter((event) => event.requestId === requestId);
  expect(events).to.have.length(1);
  return events[0]!;
}

describe('an answer that cannot be sent', () => {
  const lines: string[] = [];
  let t: TestEngine;
  before(async () => {
    t = await createTestEngine({ plugins: [edition, fixtures], tenant, connect: false, logger: new PinoLogger('error', { write: (line) => lines.push(line) }) });
  });
  after(() => t?.close());
  beforeEach(() => {
    lines.length = 0;
    audit.events.length = 0;
  });

  for (const [label, method, params, problem] of asks) {
    for (const accept of ['application/json', 'application/json, text/event-stream']) {
      it(`${label}, accepting ${accept}: a JSON-RPC error naming the problem, audited as failed with the same reason (it was a 500 audited as success)`, async () => {
        const { status, text } = await call(t, method, params, accept);
        expect(status).to.equal(200);
        const body = JSON.parse(text) as { id: number; error?: { code: number; message: string } };
        expect(body.id).to.equal(7);
        expect(body.error?.code).to.equal(-32603);
        expect(body.error?.message).to.match(/returned an answer that cannot be sent: /);
        expect(body.error?.message).to.match(problem);
        expect(body.error?.message).not.to.match(/\n\s+at /);
        const event = eventOf(body.error!.message);
        expect(event.outcome).to.equal('failed');
        expect(event.reason).to.match(/^the answer cannot be sent: /);
        expect(event.reason).to.match(problem);
        expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).to.deep.equal(['handler answered something that cannot be sent']);
      });
    }
  }

  it('a resource whose answer cannot be serialised is audited as an error, not success (an SDK client is told why)', async () => {
    const client = await t.connect({ token: 'caller-token' });
    const failure = await client.readResource({ uri: 'unwritable://bigint' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).to.be.instanceOf(McpError);
    expect((failure as McpError).code).to.equal(-32603);
    expect((failure as McpError).message).to.match(/unwritable:\/\/bigint returned an answer that cannot be sent: contents\[0\]\._meta\.count is a BigInt/);
    const events = audit.events.filter((event) => event.action === 'resources/read');
    expect(events.map((event) => event.outcome)).to.deep.equal(['failed']);
    // A resource that can be sent still is, and is still a success.
    expect((await client.readResource({ uri: 'unwritable://fine' })).contents).to.deep.equal([{ uri: 'unwritable://fine', mimeType: 'text/plain', text: 'all good' }]);
    expect(audit.events.filter((event) => event.action === 'resources/read').map((event) => event.outcome)).to.deep.equal(['failed', 'success']);
  });

  it('a prompt whose message the protocol does not allow is audited as failed, not success (the client refused what it was sent)', async () => {
    const client = await t.connect({ token: 'caller-token' });
    const failure = await client.getPrompt({ name: 'unwritable.role' }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).to.be.instanceOf(McpError);
    expect((failure as McpError).message).to.match(/Prompt unwritable\.role returned an answer that cannot be sent: messages\[0\]\.role is neither "user" nor "assistant"/);
    expect(audit.events.filter((event) => event.action === 'prompts/get').map((event) => [event.outcome, event.reason])).to.deep.equal([
      ['failed', 'the answer cannot be sent: messages[0].role is neither "user" nor "assistant"'],
    ]);
  });

  it('a completer whose values are not strings: a JSON-RPC error naming the problem, not values the client refuses (or a 500)', async () => {
    const client = await t.connect({ token: 'caller-token' });
    const failure = await client.complete({ ref: { type: 'ref/prompt', name: 'unwritable.completion' }, argument: { name: 'size', value: '' } }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).to.be.instanceOf(McpError);
    expect((failure as McpError).code).to.equal(-32603);
    expect((failure as McpError).message).to.match(/Completion returned an answer that cannot be sent: values\[0\] is not a string \(request [0-9a-f-]{36}\)/);
  });

  const tools: [string, string, string][] = [
    ['a tool whose own content block holds a BigInt', 'unwritable.blocks', 'content[0]._meta.count is a BigInt, which JSON cannot hold'],
    ['a tool whose content block is of no known type', 'unwritable.block-type', 'content[0].type is not one of text, image, audio, resource or resource_link'],
    ['a tool whose object holds a BigInt', 'unwritable.object', 'result.total is a BigInt, which JSON cannot hold'],
  ];
  for (const [label, name, problem] of tools) {
    it(`${label}: an isError result naming the problem, audited as failed with it (not success, not "handler threw")`, async () => {
      const client = await t.connect({ token: 'caller-token' });
      const result = (await client.callTool({ name, arguments: {} })) as { isError?: boolean; content: { type: string; text: string }[] };
      expect(result.isError).to.equal(true);
      expect(result.content[0]!.text).to.include(`${name} returned an answer that cannot be sent: ${problem} (request `);
      const event = eventOf(result.content[0]!.text);
      expect([event.outcome, event.reason]).to.deep.equal(['failed', `the answer cannot be sent: ${problem}`]);
    });
  }
});
