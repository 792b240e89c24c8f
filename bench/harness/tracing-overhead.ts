import { performance } from 'node:perf_hooks';
import { Telemetry, type Logger, type Principal } from '@gatehouse-mcp/engine';
import { SERVER_CPU, launch } from './processes.js';

export interface TracingApiOverhead {
  /** Instrumentation time of one governed tools/call with the API only (no SDK registered). */
  readonly microsPerRequest: number;
  readonly iterations: number;
}

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {}, child: () => quiet };
const principal: Principal = { tenant: 'bench-ce', kind: 'api-key', id: 'k1', label: 'bench', scopes: ['mcp'], attributes: {} };
const headers = { header: (name: string) => (name === 'content-type' ? 'application/json' : undefined) };

/**
 * What the engine's instrumentation costs per governed `tools/call` when no OpenTelemetry SDK is
 * registered (this process registers none): every instrumentation point of one call, as the
 * engine makes them, minus the same sequence of awaited steps without them.
 */
export async function measureTracingApiOverhead(iterations: number): Promise<TracingApiOverhead> {
  const telemetry = new Telemetry({ logger: quiet, tenantLabels: 20 });
  const message = { method: 'tools/call', id: 1, params: { name: 'bench.echo', arguments: { text: 'x' } } };
  const instrumented = async (n: number): Promise<void> => {
    const observation = telemetry.begin(String(n), 'POST', '/api/mcp', headers);
    telemetry.startMcp(observation, message, '2025-11-25', undefined);
    const who = await telemetry.span('gatehouse.authenticate', observation, () => principal);
    telemetry.principal(observation, who);
    await telemetry.span('gatehouse.policy', observation, () => ({ allow: true }));
    await telemetry.span('gatehouse.handler', observation, () => 'x');
    telemetry.governed(observation, who.tenant, 'tools/call', 'bench.echo', 'allowed', 'success');
    telemetry.finish(observation, 200);
  };
  const bare = async (): Promise<void> => {
    await Promise.resolve(principal);
    await Promise.resolve({ allow: true });
    await Promise.resolve('x');
  };
  const time = async (run: (n: number) => Promise<void>): Promise<number> => {
    const started = performance.now();
    for (let n = 0; n < iterations; n++) await run(n);
    return performance.now() - started;
  };
  // Warm both up, then take the better of three runs of each.
  await time(instrumented);
  await time(bare);
  const best = async (run: (n: number) => Promise<void>): Promise<number> => Math.min(await time(run), await time(run), await time(run));
  const cost = Math.max(0, (await best(instrumented)) - (await best(bare)));
  return { microsPerRequest: Math.round((cost * 1000 * 100) / iterations) / 100, iterations };
}

export interface TracingSdkFloor {
  /** One child span started with its parent and ended, every span sampled and batched. */
  readonly spanMicros: number;
  /** The spans of one governed `tools/call`: server, authentication, policy, handler. */
  readonly callSpans: number;
  /** Those spans with the engine's attributes, made directly with the SDK, over the same awaited steps without them. */
  readonly sdkMicrosPerCall: number;
  /** The same made by the engine's instrumentation: what is left above `sdkMicrosPerCall` is the engine's. */
  readonly engineMicrosPerCall: number;
  /** What Node's async context adds to each promise once in use (as from the span processor's first export). */
  readonly promiseHookNanos: number;
  readonly iterations: number;
}

/** {@link TracingSdkFloor}, measured in a process of its own with the SDK registered. */
export function measureTracingSdkFloor(iterations: number): Promise<TracingSdkFloor> {
  const { child, stderr } = launch('harness/tracing-sdk-floor.ts', { env: { BENCH_ITERATIONS: String(iterations) }, cpu: SERVER_CPU });
  return new Promise((resolve, reject) => {
    child.once('message', (result: TracingSdkFloor) => resolve(result));
    child.once('exit', (code) => reject(new Error(`the tracing SDK measurement exited (${code}) without a result\n${stderr()}`)));
  });
}
