import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

/** The connector's entry point, run from source through tsx. */
export const CONNECTOR_CLI = fileURLToPath(new URL('../../../src/connector/cli.ts', import.meta.url));
/** Resolved here, so the connector starts from any working directory. */
export const FROM_SOURCE = ['--import', import.meta.resolve('tsx'), CONNECTOR_CLI];

/** A minimal environment: the connector must not depend on anything else the test process has. */
export function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of ['PATH', 'HOME', 'TMPDIR', 'SYSTEMROOT']) if (process.env[name]) env[name] = process.env[name]!;
  return { ...env, ...extra };
}

export interface ConnectedConnector {
  readonly client: Client;
  /** Everything the connector wrote to stderr so far. */
  stderr(): string;
  /** Resolve once stderr contains `text` (or fail after `timeoutMs`). */
  waitForStderr(text: string | RegExp, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

/** Start the real connector process and connect an SDK client to it over stdio. */
export async function connectConnector(args: readonly string[], env: Record<string, string>, command: readonly string[] = FROM_SOURCE): Promise<ConnectedConnector> {
  const transport = new StdioClientTransport({ command: process.execPath, args: [...command, ...args], env: baseEnv(env), stderr: 'pipe' });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const client = new Client({ name: 'connector-test', version: '1.0.0' });
  try {
    await client.connect(transport);
  } catch (error) {
    await client.close().catch(() => undefined);
    throw new Error(`the connector did not start: ${(error as Error).message}\nstderr:\n${stderr}`);
  }
  return {
    client,
    stderr: () => stderr,
    async waitForStderr(text, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      const found = (): boolean => (typeof text === 'string' ? stderr.includes(text) : text.test(stderr));
      while (!found()) {
        if (Date.now() > deadline) throw new Error(`stderr never showed ${String(text)}; it was:\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      return stderr;
    },
    close: () => client.close(),
  };
}

export interface ExitedConnector {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run the connector to completion (for start-up failures, --help, print-config); stdin is closed at once. */
export function runConnector(args: readonly string[], env: Record<string, string> = {}, options: { timeoutMs?: number; command?: readonly string[]; cwd?: string } = {}): Promise<ExitedConnector> {
  const { timeoutMs = 20_000, command = FROM_SOURCE, cwd } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...command, ...args], { env: baseEnv(env), stdio: ['pipe', 'pipe', 'pipe'], cwd });
    child.stdin.end();
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the connector did not exit within ${timeoutMs} ms; stderr:\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
