import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { RunMode } from './compiled.js';
import { launch, SERVER_CPU, startServer } from './processes.js';
import { callBody, PROTOCOL_VERSION, type BenchDatabase, type ChildMessage } from './protocol.js';

export interface StartupSamples {
  /** Spawn of the engine process → first `tools/call` answered 200, per attempt. */
  readonly samplesMs: readonly number[];
  readonly medianMs: number;
}

/** Start-up time from the compiled output (absent when the run uses the sources only) and from the sources through tsx. */
export interface StartupResult extends StartupSamples {
  /** How the figures at the top level (`samplesMs`, `medianMs`) were taken: the mode the run serves from. */
  readonly mode: RunMode;
  readonly byMode: Partial<Record<RunMode, StartupSamples>>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function answered(url: string, apiKey: string, n: number): Promise<boolean> {
  try {
    const response = await fetch(url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': PROTOCOL_VERSION,
        authorization: `Bearer ${apiKey}`,
      },
      body: callBody(n, 'startup').body,
    });
    await response.arrayBuffer();
    return response.status === 200;
  } catch {
    return false;
  }
}

/**
 * Engine start-up time: spawn a Community Edition process on an already migrated database and
 * poll its MCP endpoint until a `tools/call` is answered, for each mode (`compiled` runs plain
 * `node` on the build output; `transpiled` loads the TypeScript sources through tsx).
 */
export async function measureStartup(database: BenchDatabase, attempts: number, modes: readonly RunMode[]): Promise<StartupResult> {
  const setup = await startServer({ kind: 'ce', database, createKey: true });
  const apiKey = setup.credentials.apiKey!;
  await setup.stop();
  const byMode: Partial<Record<RunMode, StartupSamples>> = {};
  for (const mode of modes) byMode[mode] = await measureMode(database, apiKey, attempts, mode);
  const main = byMode[modes[0]!]!;
  return { ...main, mode: modes[0]!, byMode };
}

async function measureMode(database: BenchDatabase, apiKey: string, attempts: number, mode: RunMode): Promise<StartupSamples> {
  const samples: number[] = [];
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}/api/mcp`;
    const started = performance.now();
    const { child, stderr } = launch('servers/ce-server.ts', { env: { BENCH_SERVER: JSON.stringify({ kind: 'ce', database, port }) }, cpu: SERVER_CPU, mode });
    let failure: string | undefined;
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'failed') failure = message.message;
    });
    try {
      for (let n = 1; ; n++) {
        if (failure || child.exitCode !== null) throw new Error(`engine did not start: ${failure ?? ''}\n${stderr()}`);
        if (performance.now() - started > 60_000) throw new Error(`engine gave no answer within 60 s\n${stderr()}`);
        if (await answered(url, apiKey, n)) break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      samples.push(Math.round(performance.now() - started));
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send({ type: 'stop' });
      await exited;
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }
  const sorted = [...samples].sort((a, b) => a - b);
  return { samplesMs: samples, medianMs: sorted[Math.floor(sorted.length / 2)]! };
}
