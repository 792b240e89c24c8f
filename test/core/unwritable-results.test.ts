/**
 * A resource or prompt whose answer cannot be written as JSON (a BigInt in a content's `_meta`, a
 * circular object), asked for by a client that accepts a stream: the answer was never sent (the
 * request hung until the client gave up) and the failure was an unhandled promise rejection, which
 * crashes a host with Node's default. Asked for as plain JSON it was already answered with an
 * internal error; over a stream it is now answered the same way. (A tool's result goes through the
 * tool pipeline, which already answers such a value as the tool's error.)
 */
import { expect } from 'chai';
import { AuditSink, Authenticator, PinoLogger, Policy, definePlugin, definePrompt, defineResource } from '@gatehouse-mcp/engine';
import { RecordingAuditSink, RecordingPolicy, StaticTokenAuthenticator, createTestEngine, testPrincipal, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';

const tenant = uniqueTenant();
const edition = definePlugin({
  id: 'recording-edition',
  register({ bind }) {
    bind(Authenticator).toConstantValue(new StaticTokenAuthenticator({ 'caller-token': testPrincipal({ tenant, id: 'caller' }) }));
    bind(Policy).toConstantValue(new RecordingPolicy());
    bind(AuditSink).toConstantValue(new RecordingAuditSink());
  },
});

const circular: Record<string, unknown> = { name: 'loop' };
circular.self = circular;
const fixtures = definePlugin({
  id: 'unwritable-results',
  resources: [
    defineResource({ uri: 'unwritable://bigint', name: 'unwritable-bigint', handler: () => ({ text: 'counted', _meta: { count: 12345678901234567890n } }) }),
    defineResource({ uri: 'unwritable://circular', name: 'unwritable-circular', handler: () => ({ text: 'looped', _meta: circular }) }),
  ],
  prompts: [
    definePrompt({ name: 'unwritable.bigint', description: 'A message holding a BigInt.', handler: () => [{ role: 'user' as const, content: { type: 'text' as const, text: 'counted', _meta: { count: 1n } } }] }),
  ],
});

const asks: [string, string, Record<string, unknown>][] = [
  ['resources/read of a content holding a BigInt', 'resources/read', { uri: 'unwritable://bigint' }],
  ['resources/read of a content referring to itself', 'resources/read', { uri: 'unwritable://circular' }],
  ['prompts/get of a message holding a BigInt', 'prompts/get', { name: 'unwritable.bigint' }],
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

describe('an answer that cannot be written as JSON', () => {
  const lines: string[] = [];
  let t: TestEngine;
  before(async () => {
    t = await createTestEngine({ plugins: [edition, fixtures], tenant, connect: false, logger: new PinoLogger('error', { write: (line) => lines.push(line) }) });
  });
  after(() => t?.close());
  beforeEach(() => void (lines.length = 0));

  for (const [label, method, params] of asks) {
    for (const accept of ['application/json', 'application/json, text/event-stream']) {
      it(`${label}, accepting ${accept}: answered 500 with an internal error and logged once (over a stream it was never answered, and the failure went unhandled)`, async () => {
        const { status, text } = await call(t, method, params, accept);
        expect(status).to.equal(500);
        const body = JSON.parse(text) as { id: number; error?: { code: number; message: string } };
        expect(body.id).to.equal(7);
        expect(body.error?.code).to.equal(-32603);
        expect(body.error?.message).to.match(/^Internal error \(request [0-9a-f-]{36}\)\.$/);
        expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).to.deep.equal(['request failed']);
      });
    }
  }
});
