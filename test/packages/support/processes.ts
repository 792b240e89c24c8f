import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const exec = promisify(execFile);

export interface Finished {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a command to completion; a non-zero exit is returned, not thrown. */
export async function runCommand(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Finished> {
  try {
    const { stdout, stderr } = await exec(command, [...args], { cwd: options.cwd, env: options.env ?? process.env, timeout: options.timeoutMs ?? 120_000, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number | string; stdout?: string; stderr?: string; message: string };
    if (typeof failed.code !== 'number') throw new Error(`${command} ${args.join(' ')} did not finish: ${failed.message}\n${failed.stderr ?? ''}`);
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}

export interface Running {
  readonly child: ChildProcess;
  output(): string;
  /** Send `signal` (default SIGINT) to the process group as a terminal's Ctrl+C does; resolve with the command's exit code once every process of the group is gone. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Start a long-running command in its own process group; resolve once its output matches `ready`. */
export async function startCommand(command: string, args: readonly string[], ready: RegExp, options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Running> {
  const child = spawn(command, [...args], { cwd: options.cwd, env: options.env ?? process.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : null))));
  const running: Running = {
    child,
    output: () => output,
    async stop(signal = 'SIGINT') {
      // What Ctrl+C in a terminal does: the signal reaches the whole process group (npx and the engine it started).
      const group = -child.pid!;
      const groupAlive = (): boolean => {
        try {
          process.kill(group, 0);
          return true;
        } catch {
          return false;
        }
      };
      if (groupAlive()) process.kill(group, signal);
      const code = await exited;
      const deadline = Date.now() + 30_000;
      while (groupAlive()) {
        if (Date.now() > deadline) {
          process.kill(group, 'SIGKILL');
          throw new Error(`${command} ${args.join(' ')}: a process of its group was still running 30 s after ${signal}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return code;
    },
  };
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  while (!ready.test(output)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      throw new Error(`${command} ${args.join(' ')} never printed ${String(ready)}; output:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return running;
}

/** A stdio server entry as clients store it. */
export interface StdioServerEntry {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Record<string, string>;
}

/** Start a printed stdio configuration as a client would, and call one tool through it. */
export async function callThroughConfig(entry: StdioServerEntry, env: Record<string, string>, tool: string, args: Record<string, unknown>, options: { cwd?: string } = {}) {
  const transport = new StdioClientTransport({ command: entry.command, args: [...entry.args], env: { ...entry.env, ...env }, stderr: 'pipe', cwd: options.cwd });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const client = new Client({ name: 'pasted-config', version: '1.0.0' });
  try {
    await client.connect(transport);
    return await client.callTool({ name: tool, arguments: args });
  } catch (error) {
    throw new Error(`the pasted configuration failed: ${(error as Error).message}\nstderr:\n${stderr}`);
  } finally {
    await client.close().catch(() => undefined);
  }
}
