import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type pg from 'pg';
import type { AddressInfo } from 'node:net';
import { Container, ContainerModule, type Newable, type ServiceIdentifier } from 'inversify';
import { Authenticator } from '../ports/authenticator.js';
import { Policy } from '../ports/policy.js';
import { AuditSink } from '../ports/audit-sink.js';
import { Database } from '../ports/database.js';
import { ChangeFeed } from '../ports/change-feed.js';
import { PostgresChangeFeed } from '../changes/postgres-change-feed.js';
import { InProcessChangeFeed } from '../changes/in-process-change-feed.js';
import type { MigrationSource } from '../ports/migrations.js';
import { openDatabase, type KnexDatabase } from '../db/open-database.js';
import { pendingMigrations, runMigrations } from '../db/migrator.js';
import { Logger, PinoLogger, safeLog } from '../log/logger.js';
import { BootError, ConfigError, GatehouseError } from '../errors.js';
import { ToolCatalog, ToolCatalogToken, type ToolEntry } from '../tools/tool-catalog.js';
import { ToolCallPipeline } from '../mcp/tool-call-pipeline.js';
import { McpDispatcher } from '../mcp/mcp-dispatcher.js';
import { McpCatalog, McpCatalogToken } from '../mcp/mcp-catalog.js';
import { SessionStore } from '../mcp/session-store.js';
import { ClientExchange } from '../mcp/client-exchange.js';
import { HandlerContextFactory } from '../mcp/handler-context-factory.js';
import { CatalogPipeline } from '../mcp/catalog-pipeline.js';
import { GovernedCalls } from '../mcp/governed-call.js';
import { HttpHandler, LOOPBACK_HOSTS } from '../http/http-handler.js';
import { RequestAuthenticator, mcpResourceUrl } from '../http/request-auth.js';
import { RouteContribution } from '../http/route.js';
import { RouteTable, RouteTableToken } from '../http/route-table.js';
import { TenantHostPattern } from '../http/tenant-host.js';
import { fromNodeRequest, writeNodeResponse, type NodeHandler } from '../http/node-adapter.js';
import { fromWebRequest, toWebResponse } from '../http/web-adapter.js';
import { ApiKeyStore } from '../keys/api-key-store.js';
import { ApiKeyVerifier } from '../keys/api-key-verifier.js';
import { RegistryEntries } from '../registry/registry-entries.js';
import { EngineConfig, type EngineOptions } from './config.js';
import { LifecycleContribution } from './lifecycle.js';
import type { PluginDefinition } from './plugin.js';

/** The ports an edition must provide, each exactly once. */
const GOVERNANCE_PORTS: readonly [symbol, string][] = [
  [Authenticator, 'Authenticator'],
  [Policy, 'Policy'],
  [AuditSink, 'AuditSink'],
];

const CORE_MIGRATIONS: MigrationSource = { id: 'core', directory: new URL('../../../migrations/', import.meta.url) };

export interface ListenOptions {
  /** Default 0 (any free port). */
  readonly port?: number;
  /** Default `127.0.0.1`. */
  readonly host?: string;
}

export interface ToolSummary {
  readonly name: string;
  readonly pluginId: string;
  readonly permission: string | undefined;
}

/** A running engine. Create it with {@link createEngine}; stop it with `close()`. */
export interface Engine {
  /** Web-standard handler: `Request → Response` (Next.js route handlers, Hono, Bun, Deno…). */
  fetch(request: Request, info?: { clientAddress?: string }): Promise<Response>;
  /** Node `http` / Express handler. Mount it at the root or under the configured base path. */
  readonly nodeHandler: NodeHandler;
  /** Serve on a Node `http` server of the engine's own. */
  listen(options?: ListenOptions): Promise<{ readonly url: string; readonly port: number }>;
  /** The canonical MCP URL, optionally of one tenant (`…/t/<tenant>/api/mcp`). */
  mcpUrl(tenant?: string): string;
  readonly tools: readonly ToolSummary[];
  readonly database: Database;
  /** Resolve a service from the engine's container (advanced; for CLIs and host integration). */
  resolve<T>(token: ServiceIdentifier<T>): T;
  /** Stop accepting requests, drain in-flight ones, flush audit, stop plugins, close the database. */
  close(): Promise<void>;
}

/** Stop a server: let connections finish their last response, then cut whatever is left. */
async function closeServer(server: http.Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (let waited = 0; waited < 1000; waited += 50) {
    server.closeIdleConnections();
    const done = await Promise.race([closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 50))]);
    if (done) return;
  }
  server.closeAllConnections();
  await closed;
}

function normaliseBasePath(value: string | undefined, name: string): string {
  if (!value || value === '/') return '';
  if (!/^(\/[A-Za-z0-9._~-]+)+$/.test(value)) throw new ConfigError(`${name} "${value}" must look like /segment[/segment…].`);
  return value;
}

type Positive = (value: number | undefined, fallback: number, name: string) => number;

function sessionLimits(options: Exclude<EngineOptions['sessions'], boolean | undefined>, positive: Positive): EngineConfig['sessions'] {
  const maxSessions = positive(options.maxSessions, 10_000, 'sessions.maxSessions');
  return {
    idleTimeoutMs: positive(options.idleTimeoutMs, 30 * 60_000, 'sessions.idleTimeoutMs'),
    maxSessions,
    maxSessionsPerTenant: Math.min(maxSessions, positive(options.maxSessionsPerTenant, 1_000, 'sessions.maxSessionsPerTenant')),
  };
}

function resolveConfig(options: EngineOptions): EngineConfig {
  let publicUrl = 'http://localhost';
  if (options.publicUrl) {
    let url: URL;
    try {
      url = new URL(options.publicUrl);
    } catch {
      throw new ConfigError(`publicUrl "${options.publicUrl}" is not a URL.`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError('publicUrl must be http(s).');
    publicUrl = url.origin;
  }
  const positive: Positive = (value, fallback, name) => {
    if (value === undefined) return fallback;
    if (!Number.isFinite(value) || value <= 0) throw new ConfigError(`${name} must be a positive number.`);
    return value;
  };
  return {
    instanceId: randomUUID(),
    publicUrl,
    basePath: normaliseBasePath(options.basePath, 'basePath'),
    mcpPath: normaliseBasePath(options.mcpPath ?? '/api/mcp', 'mcpPath') || '/api/mcp',
    allowedOrigins: options.allowedOrigins,
    allowedHosts: options.allowedHosts?.map((host) => host.toLowerCase()),
    tenantHost: options.tenantHost === undefined ? undefined : new TenantHostPattern(options.tenantHost),
    maxBodyBytes: positive(options.maxBodyBytes, 1024 * 1024, 'maxBodyBytes'),
    credentialCacheTtlMs: positive(options.credentialCacheTtlMs, 30_000, 'credentialCacheTtlMs'),
    pageSize: positive(options.pageSize, 100, 'pageSize'),
    drainTimeoutMs: positive(options.drainTimeoutMs, 10_000, 'drainTimeoutMs'),
    serverInfo: options.serverInfo ?? { name: 'gatehouse', version: '0.1.0' },
    instructions: options.instructions,
    sessions: options.sessions ? sessionLimits(options.sessions === true ? {} : options.sessions, positive) : undefined,
  };
}

function checkPlugins(plugins: readonly PluginDefinition[]): void {
  const seen = new Set<string>();
  for (const plugin of plugins) {
    if (plugin?.kind !== 'gatehouse.plugin') throw new BootError('Every entry of "plugins" must be made with definePlugin() (or an edition factory such as communityEdition()).');
    if (seen.has(plugin.id)) throw new BootError(`Plugin "${plugin.id}" is registered twice.`);
    seen.add(plugin.id);
  }
}

function buildCatalog(plugins: readonly PluginDefinition[]): ToolCatalog {
  const owners = new Map<string, string>();
  const entries: ToolEntry[] = [];
  for (const plugin of plugins) {
    for (const tool of plugin.tools ?? []) {
      const owner = owners.get(tool.name);
      if (owner !== undefined) {
        throw new BootError(
          owner === plugin.id
            ? `Tool "${tool.name}" is defined twice by plugin "${plugin.id}".`
            : `Tool "${tool.name}" is defined by both plugin "${owner}" and plugin "${plugin.id}"; tool names must be unique.`,
        );
      }
      owners.set(tool.name, plugin.id);
      entries.push({ tool, pluginId: plugin.id });
    }
  }
  return new ToolCatalog(entries);
}

/** Load each plugin's bindings, recording which plugin bound which governance port. */
async function loadPlugins(container: Container, plugins: readonly PluginDefinition[]): Promise<void> {
  const bindersOf = new Map<symbol, string[]>(GOVERNANCE_PORTS.map(([token]) => [token, []]));
  for (const plugin of plugins) {
    if (!plugin.register) continue;
    const module = new ContainerModule((options) => {
      plugin.register!({
        bind: ((token: ServiceIdentifier) => {
          bindersOf.get(token as symbol)?.push(plugin.id);
          return options.bind(token);
        }) as typeof options.bind,
        isBound: options.isBound,
        onActivation: options.onActivation,
        onDeactivation: options.onDeactivation,
      });
    });
    try {
      await container.load(module);
    } catch (error) {
      throw new BootError(`Plugin "${plugin.id}" failed to register: ${(error as Error).message}`, { cause: error });
    }
  }
  for (const [token, name] of GOVERNANCE_PORTS) {
    const binders = bindersOf.get(token)!;
    if (binders.length === 0) {
      throw new BootError(`No plugin provides ${name}. Register exactly one edition plugin, e.g. communityEdition() or enterpriseEdition(…).`);
    }
    if (binders.length > 1) {
      throw new BootError(`${name} is provided by more than one plugin (${binders.map((id) => `"${id}"`).join(', ')}); exactly one edition plugin may provide it.`);
    }
  }
}

function resolveAtBoot<T>(container: Container, token: ServiceIdentifier<T>, what: string): T {
  try {
    return container.get(token);
  } catch (error) {
    throw new BootError(`Cannot build ${what}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Build and start an engine: one container with the core services and each plugin's
 * contributions, validated before anything is served. Fails closed: a plugin set without exactly
 * one authenticator, policy and audit sink, or with clashing tool names or routes, does not boot.
 */
export async function createEngine(options: EngineOptions): Promise<Engine> {
  const plugins = options.plugins ?? [];
  checkPlugins(plugins);
  const config = resolveConfig(options);
  const catalog = buildCatalog(plugins);
  const mcpCatalog = McpCatalog.fromPlugins(plugins);
  const logger = options.logger ?? new PinoLogger(options.logLevel ?? 'info');
  const database: KnexDatabase = await openDatabase(options.database);
  const servers = new Set<http.Server>();
  const changes =
    database.kind === 'postgres' && database.listenConnection !== undefined
      ? new PostgresChangeFeed({ knex: database.knex, listenConnection: database.listenConnection as string | pg.ClientConfig, logger, instanceId: config.instanceId })
      : new InProcessChangeFeed(logger);

  try {
    const container = new Container({ defaultScope: 'Singleton' });
    container.bind(EngineConfig).toConstantValue(config);
    container.bind(Logger).toConstantValue(logger);
    container.bind(Database).toConstantValue(database);
    container.bind(ChangeFeed).toConstantValue(changes);
    container.bind(ToolCatalogToken).toConstantValue(catalog);
    container.bind(McpCatalogToken).toConstantValue(mcpCatalog);
    for (const service of [SessionStore, ClientExchange, HandlerContextFactory, GovernedCalls, CatalogPipeline, ApiKeyStore, ApiKeyVerifier, ToolCallPipeline, McpDispatcher, RequestAuthenticator, HttpHandler, RegistryEntries] as Newable[]) {
      container.bind(service).toSelf();
    }
    await loadPlugins(container, plugins);

    const routes = new RouteTable();
    try {
      for (const plugin of plugins) for (const route of plugin.routes ?? []) routes.add(route, plugin.id);
      const contributions = container.isBound(RouteContribution) ? container.getAll<RouteContribution>(RouteContribution) : [];
      for (const contribution of contributions) for (const route of contribution.routes()) routes.add(route, contribution.constructor.name);
    } catch (error) {
      throw error instanceof GatehouseError ? new BootError(error.message, { cause: error }) : error;
    }
    container.bind(RouteTableToken).toConstantValue(routes);

    for (const [token, name] of GOVERNANCE_PORTS) resolveAtBoot(container, token, name);
    const handler = resolveAtBoot(container, HttpHandler, 'the HTTP handler');
    const audit = container.get<AuditSink>(AuditSink);
    // Built now, so revocations made through this engine (a CLI, an admin route) reach every cache.
    resolveAtBoot(container, ApiKeyVerifier, 'the API key verifier');

    const sources: MigrationSource[] = [CORE_MIGRATIONS];
    for (const plugin of plugins) if (plugin.migrations) sources.push({ id: plugin.id, directory: plugin.migrations });
    if (options.migrate !== false) {
      const applied = await runMigrations(database.knex, sources);
      if (applied.length) logger.info({ applied }, 'migrations applied');
    } else {
      // Serving on a database that lacks a plugin's tables fails on the first call that needs them: refuse to boot instead.
      const pending = await pendingMigrations(database.knex, sources);
      if (pending.length) {
        throw new BootError(
          `The database is behind: ${pending.length} migration${pending.length === 1 ? ' is' : 's are'} not applied (${pending.join(', ')}). ` +
            'Run "gatehouse migrate" with the same plugins (gatehouse.config or --config), or boot with migrate: true.',
        );
      }
    }

    await changes.start();
    const feed = changes.state();
    if (feed.mode === 'in-process') logger.info({ changes: feed.status }, 'embedded database: single instance, change notifications stay in this process (LISTEN/NOTIFY skipped)');
    const lifecycle = container.isBound(LifecycleContribution) ? container.getAll<LifecycleContribution>(LifecycleContribution) : [];
    for (const service of lifecycle) await service.start?.();

    const nodeHandler: NodeHandler = (req, res, next) => {
      handler
        .handle(fromNodeRequest(req, res, config.maxBodyBytes))
        .then((response) => writeNodeResponse(res, response))
        .catch((error: unknown) => {
          if (next) next(error);
          else {
            safeLog(logger, 'error', { err: error }, 'could not write response');
            res.destroy();
          }
        });
    };

    let closed: Promise<void> | undefined;
    const engine: Engine = {
      async fetch(request, info) {
        return toWebResponse(await handler.handle(fromWebRequest(request, config.maxBodyBytes, info?.clientAddress)));
      },
      nodeHandler,
      async listen(listenOptions = {}) {
        const host = listenOptions.host ?? '127.0.0.1';
        const server = http.createServer(nodeHandler);
        server.keepAliveTimeout = 65_000;
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen(listenOptions.port ?? 0, host, () => resolve());
        });
        servers.add(server);
        const { port } = server.address() as AddressInfo;
        const hostInUrl = host.includes(':') ? `[${host}]` : host;
        const url = `http://${hostInUrl === '0.0.0.0' || hostInUrl === '[::]' ? '127.0.0.1' : hostInUrl}:${port}`;
        if (!options.publicUrl) config.publicUrl = url;
        if (!options.allowedHosts && LOOPBACK_HOSTS.includes(hostInUrl)) config.allowedHosts = LOOPBACK_HOSTS;
        return { url, port };
      },
      mcpUrl: (tenant) => mcpResourceUrl(config, tenant),
      tools: catalog.entries.map(({ tool, pluginId }) => ({ name: tool.name, pluginId, permission: tool.permission })),
      database,
      resolve: (token) => container.get(token),
      close() {
        closed ??= (async () => {
          await handler.drain();
          container.get(SessionStore).close();
          await Promise.all([...servers].map((server) => closeServer(server)));
          for (const service of [...lifecycle].reverse()) {
            try {
              await service.stop?.();
            } catch (error) {
              logger.error({ err: error }, 'a plugin failed to stop cleanly');
            }
          }
          await container.get(ApiKeyVerifier).flushUsage();
          await audit.close();
          await changes.stop();
          await database.close();
        })();
        return closed;
      },
    };
    return engine;
  } catch (error) {
    await changes.stop().catch(() => undefined);
    await database.close().catch(() => undefined);
    throw error;
  }
}
