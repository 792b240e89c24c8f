import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { benchFile, ROOT, type RunMode } from './compiled.js';
import type { AllocationSample, ChildMessage, Credentials, LoadRequest, LoadResult, ServerConfig, ServerStats } from './protocol.js';

// Resolved here, so a child finds the loader whatever its working directory.
const TS_EXEC_ARGV = ['--conditions=gatehouse-source', '--import', import.meta.resolve('tsx')];
const READY_TIMEOUT_MS = 120_000;

const SERVER_FILES: Record<ServerConfig['kind'], string> = {
  limit: 'servers/limit-server.ts',
  sdk: 'servers/sdk-server.ts',
  ce: 'servers/ce-server.ts',
  ee: 'servers/ee-server.ts',
};

/**
 * Where the benchmark's processes run. `compiled`: plain `node` on the compiled output; else the
 * TypeScript sources through tsx. With `pin`, servers run on CPU 0 and the load generator on CPU 1
 * (`taskset`), so the two never take turns on one core.
 */
export interface Placement {
  readonly mode: RunMode;
  readonly pin: boolean;
}

const canPin = (): boolean => os.cpus().length >= 2 && spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;

let placement: Placement = { mode: 'transpiled', pin: false };

/** Set how every process started from now on runs; `pin` is dropped where the machine cannot pin. */
export function place(wanted: Placement): Placement {
  placement = { mode: wanted.mode, pin: wanted.pin && canPin() };
  return placement;
}

export function currentPlacement(): Placement {
  return placement;
}

export const SERVER_CPU = 0;
export const LOAD_CPU = 1;

/** The file a server of this kind runs from, in the current (or the given) mode. */
export function serverFile(kind: ServerConfig['kind'], mode: RunMode = placement.mode): string {
  return benchFile(SERVER_FILES[kind], mode);
}

/**
 * Start a bench file (a server or the load generator) in a process of its own with IPC; its stderr
 * is kept (last lines) for error messages.
 */
export function launch(
  relative: string,
  options: { env?: NodeJS.ProcessEnv; execArgv?: readonly string[]; cpu?: number; mode?: RunMode } = {},
): { child: ChildProcess; stderr: () => string } {
  const mode = options.mode ?? placement.mode;
  const args = [...(mode === 'transpiled' ? TS_EXEC_ARGV : []), ...(options.execArgv ?? []), benchFile(relative, mode)];
  const [command, argv] = placement.pin && options.cpu !== undefined ? ['taskset', ['-c', String(options.cpu), process.execPath, ...args]] : [process.execPath, args];
  const child = spawn(command, argv, {
    env: { ...process.env, ...options.env },
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let tail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  });
  return { child, stderr: () => tail };
}

export interface StartOptions {
  /** Run the server under `node --cpu-prof`, writing its profile here when it exits. */
  readonly cpuProfileDir?: string;
}

export interface ServerHandle {
  readonly url: string;
  readonly credentials: Credentials;
  readonly pid: number;
  stats(): Promise<ServerStats>;
  /** Close gracefully (flushing audit, writing a CPU profile if asked) and wait for exit. */
  stop(): Promise<ServerStats>;
  /** The server's monotonic clock in µs, the clock of its `--cpu-prof` sample times. */
  mark(): Promise<number>;
  /** Sample the server's allocations while `work` runs. */
  allocations<T>(work: () => Promise<T>): Promise<{ value: T; profile: AllocationSample }>;
  /** Kill without waiting for a graceful close. */
  kill(): void;
}

function nextMessage<T extends ChildMessage['type']>(child: ChildProcess, type: T, stderr: () => string, timeoutMs: number): Promise<Extract<ChildMessage, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`no "${type}" from server process within ${timeoutMs} ms\n${stderr()}`)), timeoutMs);
    const onMessage = (message: ChildMessage): void => {
      if (message.type === type) finish(undefined, message as Extract<ChildMessage, { type: T }>);
      else if (message.type === 'failed') finish(new Error(`${message.message}\n${stderr()}`));
    };
    const onExit = (code: number | null): void => finish(new Error(`server process exited (${code}) before "${type}"\n${stderr()}`));
    function finish(error?: Error, message?: Extract<ChildMessage, { type: T }>): void {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(message!);
    }
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Start one server process and wait until it reports ready. */
export async function startServer(config: ServerConfig, options: StartOptions = {}): Promise<ServerHandle> {
  const execArgv = options.cpuProfileDir ? ['--cpu-prof', `--cpu-prof-dir=${options.cpuProfileDir}`] : [];
  const { child, stderr } = launch(SERVER_FILES[config.kind], { env: { BENCH_SERVER: JSON.stringify(config) }, execArgv, cpu: SERVER_CPU });
  let ready;
  try {
    ready = await nextMessage(child, 'ready', stderr, READY_TIMEOUT_MS);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const exited = new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.once('exit', () => resolve())));
  return {
    url: ready.url,
    credentials: ready.credentials,
    pid: child.pid!,
    async stats() {
      const reply = nextMessage(child, 'stats', stderr, 10_000);
      child.send({ type: 'stats' });
      return (await reply).stats;
    },
    async stop() {
      const reply = nextMessage(child, 'stopped', stderr, 60_000);
      child.send({ type: 'stop' });
      const { stats } = await reply;
      await exited;
      return stats;
    },
    async mark() {
      const reply = nextMessage(child, 'mark', stderr, 10_000);
      child.send({ type: 'mark' });
      return (await reply).atMicros;
    },
    async allocations(work) {
      const started = nextMessage(child, 'alloc-started', stderr, 10_000);
      child.send({ type: 'alloc-start' });
      await started;
      const value = await work();
      const reply = nextMessage(child, 'alloc', stderr, 60_000);
      child.send({ type: 'alloc-stop' });
      return { value, profile: (await reply).profile };
    },
    kill() {
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}

/** The load generator process: one run at a time. */
export class LoadGenerator {
  private readonly process = launch('load/load-generator.ts', { cpu: LOAD_CPU });

  run(request: LoadRequest): Promise<LoadResult> {
    const { child, stderr } = this.process;
    return new Promise((resolve, reject) => {
      const onMessage = (message: { ok: boolean; result?: LoadResult; message?: string }): void => {
        child.off('exit', onExit);
        if (message.ok) resolve(message.result!);
        else reject(new Error(`load generator failed: ${message.message}`));
      };
      const onExit = (code: number | null): void => {
        child.off('message', onMessage);
        reject(new Error(`load generator exited (${code})\n${stderr()}`));
      };
      child.once('message', onMessage);
      child.once('exit', onExit);
      child.send(request);
    });
  }

  close(): void {
    if (this.process.child.connected) this.process.child.disconnect();
  }
}
