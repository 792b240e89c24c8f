import { expect } from 'chai';
import { SpanKind, context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, ParentBasedSampler, SimpleSpanProcessor, TraceIdRatioBasedSampler, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { AuditSink, Authenticator, Policy, definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { RecordingAuditSink, RecordingPolicy, StaticTokenAuthenticator, createTestEngine, testPrincipal, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';

const tenant = uniqueTenant('traces');
const agent = testPrincipal({ tenant, id: 'agent-7', label: 'Agent 7', attributes: { grants: ['notes:write'] } });
const TOKEN = 'trace-test-token-7f3a9c';
const SECRET_ARGUMENT = 'argument-value-that-must-not-be-traced';

const governance = definePlugin({
  id: 'trace-governance',
  register({ bind }) {
    bind(Authenticator).toConstantValue(new StaticTokenAuthenticator({ [TOKEN]: agent }));
    bind(Policy).toConstantValue(new RecordingPolicy((principal, request) => ((principal.attributes.grants as string[]) ?? []).includes(request.permission ?? '')));
    bind(AuditSink).toConstantValue(new RecordingAuditSink());
  },
});

const tools = definePlugin({
  id: 'notes',
  tools: [
    defineTool({
      name: 'notes.save',
      description: 'Saves a note.',
      permission: 'notes:write',
      input: z.object({ text: z.string() }),
      // The tool's own span: the trace continues through the engine into the tool.
      handler: ({ text }) => trace.getTracer('notes-plugin').startActiveSpan('notes.store', (span) => {
        span.end();
        return { saved: text.length };
      }),
    }),
    defineTool({ name: 'notes.purge', description: 'Deletes every note.', permission: 'notes:admin', input: z.object({}), handler: () => 'purged' }),
  ],
});

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';
const META_TRACE_ID = 'a3ce929d0e0e47364bf92f3577b34da6';
const META_SPAN = 'b7ad6b7169203331';

function rpc(t: TestEngine, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${t.url}/api/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${TOKEN}`, 'mcp-protocol-version': '2025-06-18', ...headers },
    body: JSON.stringify(body),
  });
}

const named = (spans: readonly ReadableSpan[], name: string): ReadableSpan => {
  const span = spans.find((candidate) => candidate.name === name);
  expect(span, `span "${name}" among ${spans.map((s) => s.name).join(', ')}`).to.not.equal(undefined);
  return span!;
};

describe('traces: OpenTelemetry spans of governed MCP requests', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let t: TestEngine;

  before(async () => {
    provider.register();
    t = await createTestEngine({ plugins: [governance, tools], tenant, connect: false });
  });
  after(async () => {
    await t?.close();
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });
  beforeEach(() => exporter.reset());

  it('one tools/call is a server span with authentication, policy and handler children, named by the MCP conventions, with no argument values', async () => {
    const res = await rpc(t, { jsonrpc: '2.0', id: 41, method: 'tools/call', params: { name: 'notes.save', arguments: { text: SECRET_ARGUMENT } } });
    expect(res.status).to.equal(200);
    expect(((await res.json()) as { result: { isError?: boolean } }).result.isError).to.not.equal(true);
    const spans = exporter.getFinishedSpans();

    const server = named(spans, 'tools/call notes.save');
    expect(server.kind).to.equal(SpanKind.SERVER);
    expect(server.parentSpanContext).to.equal(undefined);
    expect(server.attributes).to.include({
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'notes.save',
      'gen_ai.operation.name': 'execute_tool',
      'jsonrpc.request.id': '41',
      'mcp.protocol.version': '2025-06-18',
      'network.transport': 'tcp',
      'gatehouse.tenant': tenant,
      'gatehouse.agent.id': 'agent-7',
      'gatehouse.decision': 'allowed',
      'gatehouse.outcome': 'success',
      'http.response.status_code': 200,
    });
    expect(server.attributes).to.not.have.property('error.type');

    const serverId = server.spanContext().spanId;
    const traceId = server.spanContext().traceId;
    for (const name of ['gatehouse.authenticate', 'gatehouse.policy', 'gatehouse.handler']) {
      const child = named(spans, name);
      expect(child.parentSpanContext?.spanId, `${name} is a child of the server span`).to.equal(serverId);
      expect(child.spanContext().traceId).to.equal(traceId);
    }
    const handler = named(spans, 'gatehouse.handler');
    // Spans are exported as they end (timestamps have only millisecond anchors): the stages end in order.
    const ended = spans.map((span) => span.name);
    expect(ended.indexOf('gatehouse.authenticate')).to.be.lessThan(ended.indexOf('gatehouse.policy'));
    expect(ended.indexOf('gatehouse.policy')).to.be.lessThan(ended.indexOf('gatehouse.handler'));
    expect(ended.indexOf('gatehouse.handler')).to.be.lessThan(ended.indexOf('tools/call notes.save'));
    expect(named(spans, 'notes.store').parentSpanContext?.spanId, "the tool's own span is a child of the handler span").to.equal(handler.spanContext().spanId);

    const everything = JSON.stringify(spans.map((span) => ({ name: span.name, attributes: span.attributes, events: span.events, links: span.links })));
    expect(everything).to.not.include(SECRET_ARGUMENT);
    expect(everything).to.not.include(TOKEN);
  });

  it('a denied call records the decision on the span and marks it as a tool error', async () => {
    const res = await rpc(t, { jsonrpc: '2.0', id: 'd-1', method: 'tools/call', params: { name: 'notes.purge', arguments: {} } });
    expect(((await res.json()) as { result: { isError?: boolean } }).result.isError).to.equal(true);
    const server = named(exporter.getFinishedSpans(), 'tools/call notes.purge');
    expect(server.attributes).to.include({ 'gatehouse.decision': 'denied', 'gatehouse.outcome': 'denied', 'error.type': 'tool_error' });
    expect(server.status.code).to.equal(2);
  });

  it('a JSON-RPC error sets rpc.response.status_code and error.type to its code', async () => {
    await rpc(t, { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'notes.nowhere', arguments: {} } });
    const server = named(exporter.getFinishedSpans(), 'tools/call notes.nowhere');
    expect(server.attributes).to.include({ 'rpc.response.status_code': '-32602', 'error.type': '-32602' });
  });

  it('continues the trace of a client that sends a traceparent header', async () => {
    await rpc(t, { jsonrpc: '2.0', id: 5, method: 'tools/list' }, { traceparent: `00-${TRACE_ID}-${CLIENT_SPAN}-01` });
    const server = named(exporter.getFinishedSpans(), 'tools/list');
    expect(server.spanContext().traceId).to.equal(TRACE_ID);
    expect(server.parentSpanContext?.spanId).to.equal(CLIENT_SPAN);
    expect(server.parentSpanContext?.isRemote).to.equal(true);
  });

  it('prefers the traceparent in params._meta (the MCP convention) and links the HTTP one', async () => {
    await rpc(
      t,
      { jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'notes.save', arguments: { text: 'x' }, _meta: { traceparent: `00-${META_TRACE_ID}-${META_SPAN}-01` } } },
      { traceparent: `00-${TRACE_ID}-${CLIENT_SPAN}-01` },
    );
    const spans = exporter.getFinishedSpans();
    const server = named(spans, 'tools/call notes.save');
    expect(server.spanContext().traceId).to.equal(META_TRACE_ID);
    expect(server.parentSpanContext?.spanId).to.equal(META_SPAN);
    expect(server.links.map((link) => link.context.spanId)).to.deep.equal([CLIENT_SPAN]);
    expect(named(spans, 'gatehouse.handler').spanContext().traceId).to.equal(META_TRACE_ID);
  });

  it('a refused credential ends the server span as unauthenticated, with an authentication child', async () => {
    await rpc(t, { jsonrpc: '2.0', id: 8, method: 'tools/list' }, { authorization: 'Bearer not-a-known-token' });
    const spans = exporter.getFinishedSpans();
    const server = named(spans, 'tools/list');
    expect(server.attributes).to.include({ 'http.response.status_code': 401, 'error.type': '401', 'gatehouse.request.outcome': 'unauthenticated' });
    expect(named(spans, 'gatehouse.authenticate').status.code).to.equal(2);
    expect(JSON.stringify(spans.map((span) => span.attributes))).to.not.include('not-a-known-token');
  });
});

describe('traces: a request that is not sampled', () => {
  const exporter = new InMemorySpanExporter();
  // A host's production setup: a share of the requests is sampled, a caller's decision is followed.
  const provider = new NodeTracerProvider({
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(0.5) }),
    spanProcessors: [new SimpleSpanProcessor(exporter)],
  });
  let t: TestEngine;

  before(async () => {
    provider.register();
    t = await createTestEngine({ plugins: [governance, tools], tenant, connect: false });
  });
  after(async () => {
    await t?.close();
    await provider.shutdown();
    trace.disable();
    context.disable();
    propagation.disable();
  });

  it('leaves no spans of its own: the tool’s spans follow the request’s decision instead of starting traces of their own', async () => {
    const requests = 40;
    for (let id = 1; id <= requests; id++) {
      const res = await rpc(t, { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'notes.save', arguments: { text: 'x' } } });
      expect(res.status).to.equal(200);
    }
    const spans = exporter.getFinishedSpans();
    const servers = spans.filter((span) => span.kind === SpanKind.SERVER);
    // Some requests are sampled and some are not (1 in 2^40 runs would see all or none).
    expect(servers.length).to.be.greaterThan(0).and.lessThan(requests);
    const sampledTraces = new Set(servers.map((span) => span.spanContext().traceId));
    const orphans = spans.filter((span) => !sampledTraces.has(span.spanContext().traceId));
    expect(orphans.map((span) => span.name), 'spans outside every sampled request').to.deep.equal([]);
    // A sampled request is whole: its engine spans and the tool's own.
    expect(spans.filter((span) => span.name === 'notes.store')).to.have.length(servers.length);
    expect(spans.filter((span) => span.name === 'gatehouse.handler')).to.have.length(servers.length);
  });
});
