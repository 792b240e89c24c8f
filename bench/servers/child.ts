import { Session } from 'node:inspector';
import { summariseAllocations } from '../harness/allocation-profile.js';
import type { ChildMessage, ParentMessage, ServerConfig, ServerStats } from '../harness/protocol.js';

/** The configuration the runner passed to this server process. */
export function serverConfig<T extends ServerConfig['kind']>(kind: T): Extract<ServerConfig, { kind: T }> {
  const config = JSON.parse(process.env.BENCH_SERVER ?? '{}') as ServerConfig;
  if (config.kind !== kind) throw new Error(`This server process serves "${kind}", not "${String(config.kind)}".`);
  return config as Extract<ServerConfig, { kind: T }>;
}

export function send(message: ChildMessage): void {
  process.send?.(message);
}

let toolCalls = 0;

/** Count one run of the tool handler. */
export function countToolCall(): void {
  toolCalls++;
}

const stats = (): ServerStats => {
  const usage = process.resourceUsage();
  return { maxRssBytes: usage.maxRSS * 1024, rssBytes: process.memoryUsage.rss(), toolCalls, cpuMicros: usage.userCPUTime + usage.systemCPUTime };
};

/** Bytes between two allocation samples: small enough to see a per-call object, large enough to stay cheap. */
const SAMPLING_INTERVAL = 4096;
let sampler: Session | undefined;

function post(session: Session, method: string, params?: object): Promise<unknown> {
  return new Promise((resolve, reject) => session.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result))));
}

/** Sample allocations, objects collected since included (so short-lived per-call garbage counts). */
async function startSampling(): Promise<void> {
  sampler = new Session();
  sampler.connect();
  await post(sampler, 'HeapProfiler.startSampling', { samplingInterval: SAMPLING_INTERVAL, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  send({ type: 'alloc-started' });
}

async function stopSampling(): Promise<void> {
  const session = sampler!;
  sampler = undefined;
  const { profile } = (await post(session, 'HeapProfiler.stopSampling')) as { profile: Parameters<typeof summariseAllocations>[0] };
  session.disconnect();
  send({ type: 'alloc', profile: summariseAllocations(profile) });
}

/**
 * Start a server process: run `start`, report ready (or failed), answer stats requests, and on
 * `stop` close gracefully and exit normally (so `--cpu-prof` writes its profile).
 */
export function runServer(start: () => Promise<{ url: string; credentials?: Record<string, string>; close(): Promise<void> }>): void {
  start().then(
    (server) => {
      process.on('message', (message: ParentMessage) => {
        if (message.type === 'stats') send({ type: 'stats', stats: stats() });
        if (message.type === 'mark') send({ type: 'mark', atMicros: Number(process.hrtime.bigint() / 1000n) });
        if (message.type === 'alloc-start') void startSampling().catch((error: unknown) => send({ type: 'failed', message: `allocation sampling: ${(error as Error).message}` }));
        if (message.type === 'alloc-stop') void stopSampling().catch((error: unknown) => send({ type: 'failed', message: `allocation sampling: ${(error as Error).message}` }));
        if (message.type === 'stop') {
          server.close().then(
            () => {
              send({ type: 'stopped', stats: stats() });
              process.disconnect?.();
              process.exit(0);
            },
            (error: unknown) => {
              send({ type: 'failed', message: `close failed: ${(error as Error).message}` });
              process.exit(1);
            },
          );
        }
      });
      send({ type: 'ready', url: server.url, credentials: server.credentials ?? {} });
    },
    (error: unknown) => {
      send({ type: 'failed', message: (error as Error).stack ?? String(error) });
      process.exitCode = 1;
      process.disconnect?.();
    },
  );
}
