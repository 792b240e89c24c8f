/**
 * What the benchmark's processes say to each other: the exchange every scenario answers, how a
 * server process is configured, and the IPC messages between the runner and its children.
 */

/** The one tool every scenario serves. */
export const BENCH_TOOL = 'bench.echo';
/** The permission the tool declares (enforced by the Enterprise policy, ignored by allow-all). */
export const BENCH_PERMISSION = 'bench:call';
export const PROTOCOL_VERSION = '2025-11-25';

/** The `tools/call` request number `n`: distinct arguments per request. */
export function callBody(n: number, salt: string, tool: string = BENCH_TOOL): { body: string; expected: string } {
  const text = `call-${salt}-${n}`;
  return {
    body: `{"jsonrpc":"2.0","id":${n},"method":"tools/call","params":{"name":"${tool}","arguments":{"text":"${text}","n":${n}}}}`,
    expected: `"${text}"`,
  };
}

/** Where a server process keeps its data. */
export type BenchDatabase = { readonly url: string; readonly schema: string } | { readonly dataDir: string };

export type ServerConfig =
  | { readonly kind: 'limit'; readonly port?: number }
  | { readonly kind: 'sdk'; readonly port?: number }
  | {
      readonly kind: 'ce';
      readonly port?: number;
      readonly database: BenchDatabase;
      /** Create a tenant API key once up and report it. */
      readonly createKey?: boolean;
      /** Register the OpenTelemetry SDK with an exporter that drops every span. */
      readonly tracing?: boolean;
    }
  | {
      readonly kind: 'ee';
      readonly port?: number;
      readonly database: BenchDatabase;
      /** Set up the IdP, agent, role and keys (see the Enterprise scenario module). */
      readonly setup?: boolean;
      /** The JWKS URL of the local IdP (the runner serves it). */
      readonly jwksUrl?: string;
      readonly issuer?: string;
      /** The benchmark tool declares `durability: 'before'` (its audit intent is committed before it runs). */
      readonly durable?: boolean;
      /** Register the OpenTelemetry SDK with an exporter that drops every span. */
      readonly tracing?: boolean;
      /** Load this many tenant policies on the benchmark tool (none refuses its calls). */
      readonly policies?: number;
    };

/** Credentials a server process reports once it is ready. */
export type Credentials = Readonly<Record<string, string>>;

export type ChildMessage =
  | { readonly type: 'ready'; readonly url: string; readonly credentials: Credentials }
  | { readonly type: 'failed'; readonly message: string }
  | { readonly type: 'stopped'; readonly stats: ServerStats }
  | { readonly type: 'stats'; readonly stats: ServerStats }
  | { readonly type: 'mark'; readonly atMicros: number }
  | { readonly type: 'alloc-started' }
  | { readonly type: 'alloc'; readonly profile: AllocationSample };

/** What the server allocated while sampling was on (V8's sampling heap profiler, collected objects included). */
export interface AllocationSample {
  /** Bytes allocated in the window (estimated from the samples). */
  readonly bytes: number;
  /** Allocation sites by bytes allocated. */
  readonly top: readonly { readonly function: string; readonly location: string; readonly bytes: number }[];
}

export interface ServerStats {
  /** Peak resident set size of the server process so far. */
  readonly maxRssBytes: number;
  /** Resident set size now. */
  readonly rssBytes: number;
  /** How many times the tool handler ran (Gatehouse servers; each such call must leave one audit row). */
  readonly toolCalls: number;
  /** CPU time (user + system) the server process has used so far, all threads. */
  readonly cpuMicros: number;
}

export type ParentMessage =
  | { readonly type: 'stop' }
  | { readonly type: 'stats' }
  /** Answer with the monotonic clock (the clock of `--cpu-prof` sample times), to cut a window out of a profile. */
  | { readonly type: 'mark' }
  /** Start sampling allocations (answer `alloc-started`); `alloc-stop` ends it and answers `alloc`. */
  | { readonly type: 'alloc-start' }
  | { readonly type: 'alloc-stop' };

/** One measured load run, as the load generator reports it. */
export interface LoadResult {
  readonly requests: number;
  readonly durationSeconds: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
  /** Connection errors and timeouts. */
  readonly errors: number;
  readonly non2xx: number;
  /** 2xx answers whose body did not carry this request's own argument (a wrong or error result). */
  readonly wrongAnswers: number;
  /** Answers by HTTP status code. */
  readonly statusCodes: Readonly<Record<string, number>>;
  /** CPU time (user + system) the load generator itself used during the run. */
  readonly loadCpuMicros: number;
  /** CPU time the server process used during the run (set by the runner from the server's own counters). */
  readonly serverCpuMicros?: number;
  /** The machine's calibration (bench/harness/calibration.ts) taken right before the run's round, in µs. */
  readonly calibrationMicros?: number;
}

export interface LoadRequest {
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly connections: number;
  readonly durationSeconds: number;
  /** Makes request arguments unique across runs. */
  readonly salt: string;
  /** The echo tool to call (default the benchmark's own). */
  readonly tool?: string;
}
