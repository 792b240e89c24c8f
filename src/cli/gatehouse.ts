#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { type ParseArgsConfig } from 'node:util';
import { ApiKeyStore, GatehouseError, createEngine, type Engine, type EngineOptions, type PluginDefinition } from '../core/index.js';
import { parseFlags } from '../connector/flags.js';
import { localLaunch, registryLaunch } from '../connector/launch-command.js';
import { ConfigFileError, findConfigFile, loadConfigFile } from './config-file.js';
import { communityEdition } from '../plugins/oss/index.js';

/** The package version, read from package.json next to the sources or above the build folder. */
function packageVersion(): string {
  for (const candidate of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === '@gatehouse-mcp/engine' && pkg.version) return pkg.version;
    } catch {
      // try the next candidate
    }
  }
  return 'unknown';
}

const VERSION = packageVersion();

const USAGE = `gatehouse ${VERSION} — a governed MCP server engine

Usage:
  gatehouse serve   [--host H] [--port N] [--public-url URL] [--base-path P] [--data-dir DIR]
  gatehouse demo    [--port N] [--data-dir DIR]          serve the demo tenant (with the example tickets plugin) and a fresh API key
  gatehouse migrate [--data-dir DIR]                     apply every plugin's pending migrations
  gatehouse keys create --tenant T [--name N] [--scopes mcp,admin] [--expires-in 30d]
  gatehouse keys list   --tenant T
  gatehouse keys revoke --tenant T --id KEY_ID
  gatehouse audit verify --tenant T [--from D] [--to D] [--public-key key.pem]... [--checkpoints published.jsonl] [--json]
  gatehouse audit verify --file export.jsonl --public-key key.pem [--checkpoints published.jsonl] [--json]
  gatehouse audit prune  --older-than 400d             drop the audit months older than that (Enterprise)

Every command takes:
  --config FILE        the host's engine options and plugins (default: gatehouse.config.ts, .mts, .js
                       or .mjs in the working directory; without one, the Community Edition alone)
  --edition community|enterprise   the edition plugin, when there is no config file

Environment:
  DATABASE_URL         PostgreSQL connection string; without it an embedded database is used
  DATABASE_LISTEN_URL  where each instance listens for changes made by the others (LISTEN needs a
                       session-mode connection; default DATABASE_URL; see docs/deployment.md)
  DATABASE_STATEMENT_TIMEOUT_MS  how long one statement may run before PostgreSQL cancels it and
                       the request gets 503 (default 10000; 0: the server's own setting)
  GATEHOUSE_DATA_DIR   where the embedded database keeps its files (default ./.gatehouse/data)
  PORT                 port to listen on (default 3000)
  GATEHOUSE_PUBLIC_URL the public origin clients use, e.g. https://mcp.example.com
  GATEHOUSE_AUDIT_SIGNING_KEY_FILE  Ed25519 private key (PEM) that signs audit checkpoints (Enterprise);
                       see docs/security.md for the other GATEHOUSE_AUDIT_* settings
`;

class UsageError extends Error {}

const OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  'public-url': { type: 'string' },
  'base-path': { type: 'string' },
  edition: { type: 'string' },
  'data-dir': { type: 'string' },
  config: { type: 'string' },
  tenant: { type: 'string' },
  name: { type: 'string' },
  scopes: { type: 'string' },
  'expires-in': { type: 'string' },
  id: { type: 'string' },
  file: { type: 'string' },
  'public-key': { type: 'string', multiple: true },
  checkpoints: { type: 'string' },
  from: { type: 'string' },
  to: { type: 'string' },
  'older-than': { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
} satisfies ParseArgsConfig['options'];

type Flags = Partial<Record<keyof typeof OPTIONS, string | boolean | string[]>>;

const str = (value: string | boolean | string[] | undefined): string | undefined => (typeof value === 'string' ? value : undefined);

/** The longest `--expires-in` a key takes: a hundred years. */
const MAX_KEY_LIFETIME_DAYS = 36_500;

/** `--port` or `PORT` in digits (an empty `PORT=` counts as unset): 0 picks a free port. */
function parsePort(value: string | undefined): number {
  if (value === undefined || value.trim() === '') return 3000;
  const port = /^\s*\d{1,5}\s*$/.test(value) ? Number(value) : Number.NaN;
  if (!(port >= 0 && port <= 65_535)) throw new UsageError(`Port ${JSON.stringify(value.slice(0, 40))} is not a port number (0 to 65535).`);
  return port;
}

function parseDuration(value: string): Date {
  const match = /^(\d+)([mhd])$/.exec(value);
  const ms = match ? Number(match[1]) * { m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 'm' | 'h' | 'd'] : Number.NaN;
  // A key that expires as it is made, or after the last date there is, is a typing error.
  if (!(ms > 0 && ms <= MAX_KEY_LIFETIME_DAYS * 86_400_000)) {
    throw new UsageError(`--expires-in ${JSON.stringify(value.slice(0, 40))} must look like 30m, 12h or 90d (at least 1m, at most ${MAX_KEY_LIFETIME_DAYS}d).`);
  }
  return new Date(Date.now() + ms);
}

async function editionPlugin(name: string | undefined): Promise<PluginDefinition> {
  if (name === undefined || name === 'community') return communityEdition();
  if (name !== 'enterprise') throw new UsageError(`Unknown edition "${name}": use community or enterprise.`);
  // Resolved at run time, so builds without the Enterprise plugin still compile and run.
  const specifier = '../plugins/ee/index.js';
  try {
    const ee = (await import(specifier)) as { enterpriseEdition: (options?: object) => PluginDefinition; auditOptionsFromEnvironment: () => object };
    return ee.enterpriseEdition({ audit: ee.auditOptionsFromEnvironment() });
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') throw new UsageError('The Enterprise edition is not part of this build.');
    throw error;
  }
}

/** The engine options from the config file, or the edition alone when there is none. */
async function baseOptions(flags: Flags): Promise<EngineOptions> {
  try {
    const file = findConfigFile(str(flags.config));
    if (!file) return { plugins: [await editionPlugin(str(flags.edition))] };
    if (flags.edition !== undefined) throw new UsageError(`--edition cannot be combined with ${file}: its plugins choose the edition.`);
    process.stderr.write(`Using ${file}.\n`);
    return (await loadConfigFile(file)).options;
  } catch (error) {
    throw error instanceof ConfigFileError ? new UsageError(error.message) : error;
  }
}

function hasConfigFile(flags: Flags): boolean {
  try {
    return findConfigFile(str(flags.config)) !== undefined;
  } catch (error) {
    throw error instanceof ConfigFileError ? new UsageError(error.message) : error;
  }
}

interface OpenOptions extends Partial<EngineOptions> {
  /** Add the example tickets plugin and its REST API (the demo only). */
  readonly examples?: boolean;
}

async function openEngine(flags: Flags, { examples = false, ...extra }: OpenOptions = {}): Promise<{ engine: Engine; plugins: readonly PluginDefinition[] }> {
  const base = await baseOptions(flags);
  const plugins = [...base.plugins];
  // The example REST API reaches the engine's database once the engine exists.
  let engine: Engine | undefined;
  if (examples) {
    // Loaded for the demo only: the example's models bring objection, which nothing else the CLI serves needs.
    const [{ ticketsPlugin }, { ticketsApiRegistry }] = await Promise.all([import('../../examples/tickets-plugin/index.js'), import('../../examples/tickets-plugin/rest-api.js')]);
    plugins.push(ticketsPlugin(), ticketsApiRegistry(() => engine!.database));
  }
  const dataDir = str(flags['data-dir']) ?? process.env.GATEHOUSE_DATA_DIR ?? base.database?.dataDir;
  const database = { ...base.database, ...(dataDir !== undefined ? { dataDir } : {}) };
  if (!database.url && !database.knex && !process.env.DATABASE_URL) {
    process.stderr.write(`Using the embedded database in ${dataDir ?? './.gatehouse/data'} (set DATABASE_URL to use PostgreSQL).\n`);
  }
  engine = await createEngine({
    logLevel: 'warn',
    ...base,
    plugins,
    publicUrl: str(flags['public-url']) ?? process.env.GATEHOUSE_PUBLIC_URL ?? base.publicUrl,
    basePath: str(flags['base-path']) ?? base.basePath,
    database,
    ...extra,
  });
  return { engine, plugins };
}

function stopOnSignal(engine: Engine): void {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) process.exit(130);
    stopping = true;
    process.stderr.write(`\n${signal} received: draining requests and stopping…\n`);
    engine.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`Could not stop cleanly: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => stop('SIGINT'));
  process.once('SIGTERM', () => stop('SIGTERM'));
}

/** Listen on the port {@link portOf} read before the engine was opened (a bad port is refused before any work). */
async function listen(engine: Engine, flags: Flags, port: number): Promise<string> {
  const host = str(flags.host) ?? '127.0.0.1';
  try {
    return (await engine.listen({ host, port })).url;
  } catch (error) {
    await engine.close();
    if ((error as { code?: string }).code === 'EADDRINUSE') throw new UsageError(`Port ${port} is already in use: pass --port or set PORT.`);
    throw error;
  }
}

function portOf(flags: Flags): number {
  return parsePort(str(flags.port) ?? process.env.PORT);
}

async function serve(flags: Flags): Promise<void> {
  const port = portOf(flags);
  const { engine } = await openEngine(flags);
  const url = await listen(engine, flags, port);
  stopOnSignal(engine);
  process.stdout.write(`Gatehouse is serving MCP at ${engine.mcpUrl()} (per tenant: ${url}/t/<tenant>/api/mcp)\n`);
}

async function demo(flags: Flags): Promise<void> {
  const port = portOf(flags);
  const { engine } = await openEngine(flags, { examples: true });
  const url = await listen(engine, flags, port);
  stopOnSignal(engine);
  const keys = engine.resolve(ApiKeyStore);
  for (const old of await keys.list('demo')) if (old.name === 'demo key' && !old.revokedAt) await keys.revoke('demo', old.id);
  const { secret } = await keys.create({ tenant: 'demo', name: 'demo key', createdBy: 'gatehouse demo' });
  const mcpUrl = engine.mcpUrl();
  const vscode = { servers: { gatehouse: { type: 'http', url: mcpUrl, headers: { Authorization: `Bearer ${secret}` } } } };
  // The connector this engine ships, started from where it is: the printed configuration works on this machine as it is.
  const launch = localLaunch();
  const stdio = { mcpServers: { gatehouse: { command: launch.command, args: [...launch.args, '--url', mcpUrl], env: { GATEHOUSE_API_KEY: secret } } } };
  const registry = registryLaunch();
  process.stdout.write(
    [
      '',
      'Gatehouse demo is running (Community Edition, tenant "demo") with the example tickets plugin: hand-written',
      'tools (tickets.*, clients.*) and the same data as a REST API exposed through the API registry (tickets-api.*).',
      '',
      `  MCP endpoint   ${mcpUrl}`,
      `  Health         ${url}/healthz`,
      `  Tool registry  ${url}/api/v1/meta/mcp-registry`,
      `  API key        ${secret}`,
      '                 (shown once; every demo start issues a new key and revokes the previous one)',
      '',
      'Try it:',
      `  curl -s ${mcpUrl} -H 'Authorization: Bearer ${secret}' -H 'Content-Type: application/json' \\`,
      `       -H 'Accept: application/json, text/event-stream' -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}'`,
      '',
      'Client configuration for clients that speak Streamable HTTP (e.g. VS Code .vscode/mcp.json):',
      JSON.stringify(vscode, null, 2),
      '',
      'For stdio-only clients (e.g. Claude Desktop), through the connector on this machine:',
      JSON.stringify(stdio, null, 2),
      '',
      `After installing the connector from the registry, "command": "${registry.command}" with`,
      `"args": ${JSON.stringify([...registry.args, '--url', mcpUrl])} does the same.`,
      '',
      'Press Ctrl+C to stop.',
      '',
    ].join('\n'),
  );
}

async function migrate(flags: Flags): Promise<void> {
  const { engine, plugins } = await openEngine(flags, { migrate: true });
  await engine.close();
  const sources = ['core', ...plugins.filter((plugin) => plugin.migrations).map((plugin) => plugin.id)];
  process.stdout.write(`Migrations are up to date (${sources.join(', ')}).\n`);
}

function requireTenant(flags: Flags): string {
  const tenant = str(flags.tenant);
  if (!tenant) throw new UsageError('--tenant is required.');
  return tenant;
}

async function keysCommand(action: string | undefined, flags: Flags): Promise<void> {
  if (!action || !['create', 'list', 'revoke'].includes(action)) throw new UsageError('Use: gatehouse keys create|list|revoke --tenant T');
  const tenant = requireTenant(flags);
  const { engine } = await openEngine(flags);
  try {
    const keys = engine.resolve(ApiKeyStore);
    if (action === 'create') {
      const scopes = (str(flags.scopes) ?? 'mcp').split(',').map((scope) => scope.trim()).filter(Boolean);
      const expiresIn = str(flags['expires-in']);
      const { key, secret } = await keys.create({
        tenant,
        name: str(flags.name) ?? 'cli key',
        scopes,
        expiresAt: expiresIn ? parseDuration(expiresIn) : null,
        createdBy: 'gatehouse cli',
      });
      process.stdout.write(`Created key ${key.id} (${key.prefix}) for tenant ${tenant} with scopes ${scopes.join(', ')}.\n`);
      process.stdout.write(`Secret (shown once, store it now):\n${secret}\n`);
    } else if (action === 'list') {
      const rows = await keys.list(tenant);
      if (rows.length === 0) process.stdout.write(`Tenant ${tenant} has no API keys.\n`);
      for (const key of rows) {
        const state = key.revokedAt ? 'revoked' : key.expiresAt && key.expiresAt <= new Date() ? 'expired' : 'active';
        process.stdout.write(
          `${key.id}  ${key.prefix}  ${state.padEnd(7)}  ${key.scopes.join(',').padEnd(12)}  ${key.name}  last used: ${key.lastUsedAt?.toISOString() ?? 'never'}\n`,
        );
      }
    } else {
      const id = str(flags.id);
      if (!id) throw new UsageError('--id is required.');
      if (!(await keys.revoke(tenant, id))) throw new UsageError(`Tenant ${tenant} has no key ${id}.`);
      process.stdout.write(`Revoked key ${id}. Engines on the same PostgreSQL stop accepting it at once (change notification); engines that cannot hear it (no listening connection) within their credential cache time (30 s by default).\n`);
    }
  } finally {
    await engine.close();
  }
}

interface EnterpriseAuditModule {
  auditCommand(action: string | undefined, flags: object, openEngine: () => Promise<Engine>, out: (text: string) => void): Promise<number>;
  AuditUsageError: new (...args: never[]) => Error;
}

async function auditCommand(action: string | undefined, flags: Flags): Promise<void> {
  const specifier = '../plugins/ee/index.js';
  let ee: EnterpriseAuditModule;
  try {
    ee = (await import(specifier)) as EnterpriseAuditModule;
  } catch (error) {
    if ((error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') throw new UsageError('The audit commands belong to the Enterprise edition, which is not part of this build.');
    throw error;
  }
  let status: number;
  try {
    // The host's config names its Enterprise plugin; without one, the Enterprise edition with its defaults.
    const open = async (): Promise<Engine> => (await openEngine(hasConfigFile(flags) ? flags : { ...flags, edition: 'enterprise' })).engine;
    status = await ee.auditCommand(action, flags, open, (text) => process.stdout.write(text));
  } catch (error) {
    if (error instanceof ee.AuditUsageError) throw new UsageError(error.message);
    throw error;
  }
  if (status !== 0) process.exitCode = status;
}

async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseFlags(argv, OPTIONS);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const flags = parsed.values as Flags;
  const [command, action] = parsed.positionals;
  if (flags.version) return void process.stdout.write(`${VERSION}\n`);
  if (flags.help || !command) return void process.stdout.write(USAGE);
  switch (command) {
    case 'serve':
      return serve(flags);
    case 'demo':
      return demo(flags);
    case 'migrate':
      return migrate(flags);
    case 'keys':
      return keysCommand(action, flags);
    case 'audit':
      return auditCommand(action, flags);
    default:
      throw new UsageError(`Unknown command "${command}".`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof UsageError) {
    process.stderr.write(`gatehouse: ${error.message}\nRun "gatehouse --help" for usage.\n`);
    process.exit(2);
  }
  const message = error instanceof GatehouseError ? error.message : `unexpected error: ${(error as Error).message ?? String(error)}`;
  process.stderr.write(`gatehouse: ${message}\n`);
  process.exit(1);
});
