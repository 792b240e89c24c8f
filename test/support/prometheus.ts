/**
 * A real Prometheus server (Debian's `prometheus`) for tests: a temporary config and storage
 * directory, a free loopback port, a one-second scrape interval, and queries through its HTTP API.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const PROMETHEUS = process.env.PROMETHEUS_PATH ?? '/usr/bin/prometheus';

/** Skipped, saying why, where Prometheus is not installed — except in CI, which installs it. */
export function skipWithoutPrometheus(context: Mocha.Context): void {
  if (existsSync(PROMETHEUS) || process.env.CI) return;
  console.warn(`      Prometheus tests skipped: no Prometheus at ${PROMETHEUS} (install Debian's prometheus, or set PROMETHEUS_PATH)`);
  context.skip();
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface ScrapeTarget {
  /** `host:port` of the target. */
  readonly address: string;
  readonly metricsPath?: string;
  readonly bearerToken?: string;
}

export interface Sample {
  readonly metric: Record<string, string>;
  readonly value: number;
}

export class PrometheusServer {
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
    private readonly dir: string,
    private readonly output: string[],
  ) {}

  static async start(target: ScrapeTarget): Promise<PrometheusServer> {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-prometheus-'));
    const config = [
      'global:',
      '  scrape_interval: 1s',
      '  scrape_timeout: 1s',
      '  evaluation_interval: 1s',
      'scrape_configs:',
      '  - job_name: gatehouse',
      `    metrics_path: ${target.metricsPath ?? '/metrics'}`,
      ...(target.bearerToken ? ['    authorization:', `      credentials: ${JSON.stringify(target.bearerToken)}`] : []),
      '    static_configs:',
      `      - targets: [${JSON.stringify(target.address)}]`,
      '',
    ].join('\n');
    await writeFile(path.join(dir, 'prometheus.yml'), config);
    const port = await freePort();
    const child = spawn(
      PROMETHEUS,
      [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const output: string[] = [];
    child.stdout!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    const server = new PrometheusServer(`http://127.0.0.1:${port}`, child, dir, output);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) break;
      const ready = await fetch(`${server.url}/-/ready`).then((res) => res.ok, () => false);
      if (ready) return server;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await server.stop();
    throw new Error(`Prometheus did not become ready:\n${output.join('')}`);
  }

  /** An instant query; each sample's value as a number. */
  async query(expression: string): Promise<Sample[]> {
    const response = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expression)}`);
    const body = (await response.json()) as { status: string; error?: string; data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] } };
    if (body.status !== 'success') throw new Error(`query ${expression} failed: ${body.error}`);
    return body.data!.result.map((entry) => ({ metric: entry.metric, value: Number(entry.value[1]) }));
  }

  /** Query until `accept` is satisfied (scrapes come once a second), or fail with the last answer. */
  async until(expression: string, accept: (samples: Sample[]) => boolean, timeoutMs = 15_000): Promise<Sample[]> {
    const deadline = Date.now() + timeoutMs;
    let samples: Sample[] = [];
    while (Date.now() < deadline) {
      samples = await this.query(expression);
      if (accept(samples)) return samples;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    throw new Error(`${expression} did not reach the expected value; last answer: ${JSON.stringify(samples)}`);
  }

  /** The state of the scrape target (`up`, last error). */
  async targets(): Promise<{ health: string; lastError: string }[]> {
    const body = (await (await fetch(`${this.url}/api/v1/targets`)).json()) as { data: { activeTargets: { health: string; lastError: string }[] } };
    return body.data.activeTargets;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (this.child.exitCode === null) this.child.kill('SIGKILL');
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
