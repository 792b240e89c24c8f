import { ROOT_CONTEXT, SpanKind, context, trace, type Attributes } from '@opentelemetry/api';
import { BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { Telemetry, type Logger, type Principal } from '@gatehouse-mcp/engine';
import type { TracingSdkFloor } from './tracing-overhead.js';

/**
 * What the OpenTelemetry SDK costs by itself, in a process of its own (registering the SDK would
 * change every later measurement of the harness): a span, the four spans of one governed
 * `tools/call` made directly with the SDK against the same made by the engine's instrumentation,
 * and the hook Node's async context adds to every promise once it is in use. The SDK is set up as
 * in the ce-otel scenario: every span sampled, batched, dropped by the exporter. CPU time, the
 * best of seven rounds.
 */
const iterations = Number(process.env.BENCH_ITERATIONS ?? 20_000);
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const principal: Principal = { tenant: 'bench-ce', kind: 'api-key', id: 'k1', label: 'bench', scopes: ['mcp'], attributes: {} };
const headers = { header: (name: string) => (name === 'content-type' ? 'application/json' : undefined) };
const message = { method: 'tools/call', id: 1, params: { name: 'bench.echo', arguments: { text: 'x' } } };
const PROMISES = 10;

const cpuMicros = (): number => {
  const { user, system } = process.cpuUsage();
  return user + system;
};

/** CPU µs per step: steps in chunks, the event loop turning between them (the processor exports there). */
async function perStep(step: (n: number) => unknown): Promise<number> {
  const round = async (): Promise<number> => {
    let spent = 0;
    for (let n = 0; n < iterations; n += 500) {
      const started = cpuMicros();
      for (let i = n; i < n + 500; i++) await step(i);
      spent += cpuMicros() - started;
      await new Promise((resolve) => setImmediate(resolve));
    }
    return spent / iterations;
  };
  await round();
  const rounds: number[] = [];
  for (let i = 0; i < 7; i++) rounds.push(await round());
  return Math.min(...rounds);
}

const promises = async (): Promise<void> => {
  for (let i = 0; i < PROMISES; i++) await (async () => i)();
};
const steps = async (): Promise<void> => {
  await (async () => principal)();
  await (async () => ({ allow: true }))();
  await (async () => 'x')();
};

async function measure(): Promise<TracingSdkFloor> {
  const promiseBefore = await perStep(promises);
  const dropSpans: SpanExporter = { export: (_spans, done) => done({ code: 0 }), shutdown: async () => undefined };
  const provider = new NodeTracerProvider({ spanProcessors: [new BatchSpanProcessor(dropSpans)] });
  provider.register();
  const tracer = trace.getTracer('bench');
  const telemetry = new Telemetry({ logger: quiet, tenantLabels: 20 });
  const parent = trace.setSpan(ROOT_CONTEXT, tracer.startSpan('parent', undefined, ROOT_CONTEXT));
  // The async context in use, as after the span processor's first export.
  context.with(parent, () => undefined);
  const promiseAfter = await perStep(promises);
  const empty = await perStep(() => undefined);
  const span = (await perStep(() => tracer.startSpan('gatehouse.policy', undefined, parent).end())) - empty;
  const bare = await perStep(steps);
  // The four spans of a governed call with the engine's attributes, made directly: the SDK's floor.
  const direct = async (n: number): Promise<void> => {
    const start: Attributes = {
      'mcp.method.name': 'tools/call',
      'network.transport': 'tcp',
      'network.protocol.name': 'http',
      'gatehouse.request.id': String(n),
      'jsonrpc.request.id': '1',
      'mcp.protocol.version': '2025-11-25',
      'gen_ai.tool.name': 'bench.echo',
      'gen_ai.operation.name': 'execute_tool',
    };
    const server = tracer.startSpan('tools/call bench.echo', { kind: SpanKind.SERVER }, ROOT_CONTEXT);
    server.setAttributes(start);
    const request = trace.setSpan(ROOT_CONTEXT, server);
    let child = tracer.startSpan('gatehouse.authenticate', undefined, request);
    const who = await (async () => principal)();
    child.end();
    server.setAttributes({ 'gatehouse.tenant': who.tenant, 'gatehouse.agent.id': who.id, 'gatehouse.principal.kind': who.kind });
    child = tracer.startSpan('gatehouse.policy', undefined, request);
    await (async () => ({ allow: true }))();
    child.end();
    child = tracer.startSpan('gatehouse.handler', undefined, request);
    await (async () => 'x')();
    child.end();
    server.setAttributes({ 'gatehouse.decision': 'allowed', 'gatehouse.outcome': 'success' });
    server.setAttribute('http.response.status_code', 200);
    server.end();
  };
  const instrumented = async (n: number): Promise<void> => {
    const observation = telemetry.begin(String(n), 'POST', '/api/mcp', headers);
    telemetry.startMcp(observation, message, '2025-11-25', undefined);
    const who = await telemetry.span('gatehouse.authenticate', observation, async () => principal);
    telemetry.principal(observation, who);
    await telemetry.span('gatehouse.policy', observation, async () => ({ allow: true }));
    await telemetry.span('gatehouse.handler', observation, async () => 'x');
    telemetry.governed(observation, who.tenant, 'tools/call', 'bench.echo', 'allowed', 'success');
    telemetry.finish(observation, 200);
  };
  const sdkMicros = (await perStep(direct)) - bare;
  const engineMicros = (await perStep(instrumented)) - bare;
  await provider.shutdown();
  const round = (value: number): number => Math.round(value * 100) / 100;
  return {
    spanMicros: round(span),
    callSpans: 4,
    sdkMicrosPerCall: round(sdkMicros),
    engineMicrosPerCall: round(engineMicros),
    promiseHookNanos: Math.round(((promiseAfter - promiseBefore) * 1000) / PROMISES),
    iterations,
  };
}

measure().then(
  (result) => process.send!(result, () => process.exit(0)),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
