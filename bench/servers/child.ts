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

const stats = (): ServerStats => ({ maxRssBytes: process.resourceUsage().maxRSS * 1024, rssBytes: process.memoryUsage.rss(), toolCalls });

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
