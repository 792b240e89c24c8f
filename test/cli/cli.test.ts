import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';

const root = fileURLToPath(new URL('../..', import.meta.url));
const cli = ['--conditions=gatehouse-source', '--import', 'tsx', path.join(root, 'src/cli/gatehouse.ts')];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(args: string[], env: NodeJS.ProcessEnv, { timeoutMs }: { readonly timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    // With a timeout, a command that should have refused at once but serves instead is stopped.
    const child = spawn(process.execPath, [...cli, ...args], { cwd: root, env: { ...process.env, ...env }, ...(timeoutMs ? { timeout: timeoutMs, killSignal: 'SIGKILL' as const } : {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Start a long-running command and resolve once its output matches `ready`. */
function start(args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<{ child: ChildProcess; output: () => string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...cli, ...args], { cwd: root, env: { ...process.env, ...env } });
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`not ready in time:\n${output}`));
    }, 60_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (ready.test(output)) {
        clearTimeout(timer);
        resolve({ child, output: () => output });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before it was ready:\n${output}`));
    });
  });
}

describe('the gatehouse CLI', function () {
  this.timeout(120_000);
  let dataDir: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'gatehouse-cli-'));
    env = { GATEHOUSE_DATA_DIR: dataDir };
  });
  after(() => rm(dataDir, { recursive: true, force: true }));

  it('prints usage with --help and refuses unknown commands with exit code 2', async () => {
    const help = await run(['--help'], env);
    expect(help.code).to.equal(0);
    expect(help.stdout).to.match(/gatehouse keys create --tenant T/);
    const bad = await run(['launch'], env);
    expect(bad.code).to.equal(2);
    expect(bad.stderr).to.match(/Unknown command "launch"/);
    const badFlag = await run(['serve', '--prot', '1'], env);
    expect(badFlag.code).to.equal(2);
  });

  it('creates, lists and revokes keys for a tenant', async () => {
    const tenant = uniqueTenant('cli');
    const created = await run(['keys', 'create', '--tenant', tenant, '--name', 'ci bot', '--expires-in', '30d'], env);
    expect(created.code, created.stderr).to.equal(0);
    const secret = /^(ghk_\S+)$/m.exec(created.stdout)![1];
    const id = /Created key (\S+)/.exec(created.stdout)![1]!;
    expect(secret).to.match(/^ghk_/);
    const listed = await run(['keys', 'list', '--tenant', tenant], env);
    expect(listed.stdout).to.match(new RegExp(`${id}\\s+\\S+\\s+active\\s+mcp\\s+ci bot`));
    expect(listed.stdout).not.to.include(secret!);
    const revoked = await run(['keys', 'revoke', '--tenant', tenant, '--id', id], env);
    expect(revoked.code).to.equal(0);
    expect((await run(['keys', 'list', '--tenant', tenant], env)).stdout).to.match(/revoked/);
    const otherTenant = await run(['keys', 'revoke', '--tenant', `${tenant}-other`, '--id', id], env);
    expect(otherTenant.code).to.equal(2);
    expect(otherTenant.stderr).to.match(/has no key/);
  });

  it('a port or key lifetime that is no number was taken as one (PORT=0x50 served on port 80, --expires-in 0d made an expired key): refused with exit code 2', async () => {
    for (const port of ['0x50', '1e3', '80abc', '99999']) {
      const served = await run(['serve'], { ...env, PORT: port }, { timeoutMs: 30_000 });
      expect(served.code, `PORT=${port}: ${served.stdout}${served.stderr}`).to.equal(2);
      expect(served.stderr).to.include(`Port "${port}" is not a port number (0 to 65535).`);
    }
    const tenant = uniqueTenant('cli');
    for (const lifetime of ['0d', '99999999999999d']) {
      const created = await run(['keys', 'create', '--tenant', tenant, '--name', 'bot', '--expires-in', lifetime], env);
      expect(created.code, created.stdout + created.stderr).to.equal(2);
      expect(created.stderr).to.include(`--expires-in "${lifetime}" must look like 30m, 12h or 90d (at least 1m, at most 36500d).`);
    }
    expect((await run(['keys', 'list', '--tenant', tenant], env)).stdout).not.to.match(/bot/);
  });

  it('a value that starts with "-" was refused as an ambiguous option: it is the value, and an option left without one says how to write it', async () => {
    const tenant = uniqueTenant('cli');
    const created = await run(['keys', 'create', '--tenant', tenant, '--name', '-ops bot'], env);
    expect(created.code, created.stderr).to.equal(0);
    expect((await run(['keys', 'list', '--tenant', tenant], env)).stdout).to.match(/mcp\s+-ops bot/);
    const missing = await run(['keys', 'create', '--tenant', '--name', 'x'], env);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.include('--tenant needs a value (one that starts with "-" can be written --tenant=<value>).');
  });

  it('the demo serves the example tools with the printed key, and stops cleanly on SIGTERM', async () => {
    const demo = await start(['demo', '--port', '0'], env, /Press Ctrl\+C to stop/);
    try {
      const out = demo.output();
      const url = /MCP endpoint\s+(\S+)/.exec(out)![1]!;
      const key = /API key\s+(ghk_\S+)/.exec(out)![1]!;
      expect(out).to.match(/"Authorization": "Bearer ghk_/);
      const client = new Client({ name: 'demo-test', version: '1' });
      await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { authorization: `Bearer ${key}` } } }));
      const created = await client.callTool({ name: 'tickets.create', arguments: { title: 'From the demo test' } });
      expect((created.structuredContent as { ticket: { title: string } }).ticket.title).to.equal('From the demo test');
      // The same data through the example REST API, found and called via the API registry's tools.
      const found = await client.callTool({ name: 'tickets-api.search', arguments: { query: 'list tickets' } });
      expect(JSON.stringify(found.structuredContent)).to.match(/listTickets|list_tickets|get_tickets/i);
      await client.close();
    } finally {
      const exited = new Promise((resolve) => demo.child.once('exit', resolve));
      demo.child.kill('SIGTERM');
      expect(await exited).to.equal(0);
    }
  });
});
