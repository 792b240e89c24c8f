/**
 * A fleet on one PostgreSQL: N engine processes behind HAProxy (round-robin, no stickiness), on a
 * database of their own. Used by the fleet tests, the fleet benchmark and `npm run fleet`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { ApiKeyStore, createEngine } from '@gatehouse-mcp/engine';
import { fleetTools } from './fleet-tools.js';
import { editionPlugin, type FleetEdition } from './fleet-edition.js';

export interface FleetOptions {
  /** Engine processes (default 3). */
  readonly instances?: number;
  /** The PostgreSQL server; a fresh database is made on it (default `DATABASE_URL`). */
  readonly serverUrl?: string;
  /** MCP sessions on (default true). */
  readonly sessions?: boolean;
  /** Keep the database when the fleet stops (for a person trying it). */
  readonly keepDatabase?: boolean;
  /** The edition every instance runs (default enterprise). */
  readonly edition?: FleetEdition;
  /** Also load the tools the stream tests use (a subscribable resource, an elicitation). */
  readonly streamFixtures?: boolean;
}

export interface FleetInstance {
  readonly name: string;
  readonly url: string;
  readonly process: ChildProcess;
  /** Resolves with the exit code once the process has ended. */
  readonly exited: Promise<number | null>;
}

export interface Fleet {
  /** Where clients go: the balancer. */
  readonly url: string;
  readonly mcpUrl: string;
  readonly instances: readonly FleetInstance[];
  readonly tenant: string;
  /** An admin API key of `tenant` (admin API, admin UI). */
  readonly adminKey: string;
  /** A tenant API key for MCP calls (`mcp` scope): what a Community Edition client uses. */
  readonly mcpKey: string;
  readonly databaseUrl: string;
  readonly databaseName: string;
  /** The HAProxy configuration in use. */
  readonly haproxyConfig: string;
  /** Where the processes write their logs. */
  readonly logDir: string;
  /** Admin API call through the balancer with the admin key. */
  admin(method: string, path: string, body?: unknown, base?: string): Promise<{ status: number; body: any }>;
  /** A fresh agent of `tenant` with a role granting every fleet tool, and its API key. */
  agent(name?: string): Promise<{ id: string; keyId: string; key: string }>;
  /** Stop the balancer and every instance; drop the database unless kept. */
  stop(): Promise<void>;
}

const here = fileURLToPath(new URL('.', import.meta.url));
const root = fileURLToPath(new URL('../../', import.meta.url));

/** A free loopback port: bound, read, released. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

/**
 * The balancer configuration: round-robin, no stickiness, readiness checks on `/readyz` (so a dead or draining
 * instance leaves the rotation within a second), and a request whose connection is refused is
 * sent to another instance.
 */
export function haproxyConfig(port: number, backends: readonly { name: string; port: number }[]): string {
  return [
    'global',
    '  maxconn 4096',
    '',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  # SSE streams stay open between messages; engines send a comment every 25 s.',
    '  timeout tunnel 1h',
    '  retries 2',
    '  option redispatch',
    '  option http-server-close',
    '',
    'frontend gatehouse',
    `  bind 127.0.0.1:${port}`,
    '  default_backend engines',
    '',
    'backend engines',
    '  balance roundrobin',
    '  option httpchk',
    '  http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host 127.0.0.1',
    '  http-check expect status 200',
    ...backends.map((backend) => `  server ${backend.name} 127.0.0.1:${backend.port} check inter 500 fall 2 rise 1`),
    '',
  ].join('\n');
}

async function waitForPort(port: number, withinMs: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`The balancer exited (code ${child.exitCode}).`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
      await res.body?.cancel();
      if (res.status === 200) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`The balancer did not serve on port ${port} within ${withinMs} ms.`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function startInstance(name: string, env: Record<string, string>, logDir: string): Promise<FleetInstance> {
  const child = spawn(process.execPath, ['--conditions=gatehouse-source', '--import', 'tsx', join(here, 'fleet-instance.ts')], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.pipe(createWriteStream(join(logDir, `${name}.log`)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Instance ${name} did not start within 60 s (see ${join(logDir, `${name}.log`)}).`)), 60_000);
    void exited.then((code) => reject(new Error(`Instance ${name} exited with code ${code} before serving (see ${join(logDir, `${name}.log`)}).`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const { url } = JSON.parse(line) as { url: string };
        clearTimeout(timer);
        resolve({ name, url, process: child, exited });
      } catch {
        // not the ready line
      }
    });
  });
}

export async function startFleet(options: FleetOptions = {}): Promise<Fleet> {
  const count = options.instances ?? 3;
  const serverUrl = options.serverUrl ?? process.env.DATABASE_URL;
  if (!serverUrl) throw new Error('The fleet needs a PostgreSQL server: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres).');
  const databaseName = `gh12_fleet_${randomBytes(4).toString('hex')}`;
  const server = new pg.Client({ connectionString: serverUrl });
  await server.connect();
  await server.query(`create database "${databaseName}"`);
  await server.end();
  const url = new URL(serverUrl);
  url.pathname = `/${databaseName}`;
  const databaseUrl = url.toString();

  const logDir = await mkdtemp(join(tmpdir(), 'gatehouse-fleet-'));
  const instances: FleetInstance[] = [];
  let balancer: ChildProcess | undefined;
  const stop = async (): Promise<void> => {
    balancer?.kill('SIGTERM');
    await Promise.all(
      instances.map(async (instance) => {
        if (instance.process.exitCode === null && instance.process.signalCode === null) instance.process.kill('SIGTERM');
        const killer = setTimeout(() => instance.process.kill('SIGKILL'), 15_000);
        await instance.exited;
        clearTimeout(killer);
      }),
    );
    if (!options.keepDatabase) {
      const admin = new pg.Client({ connectionString: serverUrl });
      await admin.connect();
      await admin.query(`drop database if exists "${databaseName}" with (force)`);
      await admin.end();
      await rm(logDir, { recursive: true, force: true });
    }
  };

  try {
    // Migrate and make the first admin key before any instance serves.
    const edition = options.edition ?? 'enterprise';
    const setup = await createEngine({ plugins: [editionPlugin(edition), fleetTools], database: { url: databaseUrl }, logLevel: 'warn' });
    const tenant = 'fleet';
    const { secret: adminKey } = await setup.resolve(ApiKeyStore).create({ tenant, name: 'fleet admin', scopes: ['admin'], createdBy: 'fleet' });
    const { secret: mcpKey } = await setup.resolve(ApiKeyStore).create({ tenant, name: 'fleet client', scopes: ['mcp'], createdBy: 'fleet' });
    await setup.close();

    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const env = {
      FLEET_DATABASE_URL: databaseUrl,
      FLEET_PUBLIC_URL: publicUrl,
      FLEET_SESSIONS: options.sessions === false ? 'off' : 'on',
      FLEET_EDITION: edition,
      FLEET_STREAM_FIXTURES: options.streamFixtures ? 'on' : 'off',
    };
    instances.push(...(await Promise.all(Array.from({ length: count }, (_, i) => startInstance(`engine-${i + 1}`, env, logDir)))));
    const haproxyConfigText = haproxyConfig(
      port,
      instances.map((instance) => ({ name: instance.name, port: Number(new URL(instance.url).port) })),
    );
    const configFile = join(logDir, 'haproxy.cfg');
    await writeFile(configFile, haproxyConfigText);
    balancer = spawn('haproxy', ['-f', configFile, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] });
    balancer.stderr!.pipe(createWriteStream(join(logDir, 'haproxy.log')));
    await waitForPort(port, 10_000, balancer);

    const admin: Fleet['admin'] = async (method, path, body, base = publicUrl) => {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${adminKey}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? (JSON.parse(text) as unknown) : undefined };
    };
    let roleId: string | undefined;
    const agent: Fleet['agent'] = async (name = `agent-${randomBytes(3).toString('hex')}`) => {
      if (!roleId) {
        const role = await admin('POST', '/api/v1/mcp/roles', { name: 'fleet tools', permissions: ['fleet:*'] });
        if (role.status !== 201) throw new Error(`Could not create the role: ${JSON.stringify(role.body)}`);
        roleId = role.body.data.id as string;
      }
      const created = await admin('POST', '/api/v1/mcp/agents', { name, roleIds: [roleId] });
      if (created.status !== 201) throw new Error(`Could not create the agent: ${JSON.stringify(created.body)}`);
      const id = created.body.data.id as string;
      const key = await admin('POST', `/api/v1/mcp/agents/${id}/keys`, { name: 'fleet key' });
      if (key.status !== 201) throw new Error(`Could not issue the agent key: ${JSON.stringify(key.body)}`);
      return { id, keyId: key.body.data.id as string, key: key.body.data.secret as string };
    };
    return {
      url: publicUrl,
      mcpUrl: `${publicUrl}/api/mcp`,
      instances,
      tenant,
      adminKey,
      mcpKey,
      databaseUrl,
      databaseName,
      haproxyConfig: haproxyConfigText,
      logDir,
      admin,
      agent,
      stop,
    };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}
