import 'reflect-metadata';
import http from 'node:http';
import type pg from 'pg';
import type { AddressInfo } from 'node:net';
import { Container, type Newable, type ServiceIdentifier } from 'inversify';
import { AuditSink } from '../ports/audit-sink.js';
import { Database } from '../ports/database.js';
import { ChangeFeed } from '../ports/change-feed.js';
import { Clock, systemClock } from '../ports/clock.js';
import { PostgresChangeFeed } from '../changes/postgres-change-feed.js';
import { InProcessChangeFeed } from '../changes/in-process-change-feed.js';
import { BackgroundWork } from '../fleet/background-work.js';
import { InstanceRegistry } from '../fleet/instance-registry.js';
import type { MigrationSource } from '../ports/migrations.js';
import { openDatabase, type KnexDatabase } from '../db/open-database.js';
import { pendingMigrations, runMigrations } from '../db/migrator.js';
import { BootError } from '../errors.js';
import { Logger, PinoLogger, safeLog } from '../log/logger.js';
import { ToolCatalog, ToolCatalogToken } from '../tools/tool-catalog.js';
import { ToolCallPipeline } from '../mcp/tool-call-pipeline.js';
import { ApprovalGate } from '../approvals/approval-gate.js';
import { ApprovalTasks } from '../mcp/approval-tasks.js';
import { McpDispatcher } from '../mcp/mcp-dispatcher.js';
import { McpCatalog, McpCatalogToken } from '../mcp/mcp-catalog.js';
import { SessionStore } from '../mcp/session-store.js';
import { SessionEventLog } from '../mcp/session-event-log.js';
import { ClientExchange } from '../mcp/client-exchange.js';
import { HandlerContextFactory } from '../mcp/handler-context-factory.js';
import { CatalogPipeline } from '../mcp/catalog-pipeline.js';
import { GovernedCalls } from '../mcp/governed-call.js';
import { AuditTrail } from '../audit/audit-trail.js';
import { HttpHandler, LOOPBACK_HOSTS } from '../http/http-handler.js';
import { RequestAuthenticator, mcpResourceUrl } from '../http/request-auth.js';
import { RouteTableToken } from '../http/route-table.js';
import { fromNodeRequest, writeNodeResponse, type NodeHandler, type WriteStallOptions } from '../http/node-adapter.js';
import { clientErrorHandler } from '../http/client-error.js';
import { fromWebRequest, toWebResponse } from '../http/web-adapter.js';
import { ApiKeyStore } from '../keys/api-key-store.js';
import { ApiKeyVerifier } from '../keys/api-key-verifier.js';
import { RegistryEntries } from '../registry/registry-entries.js';
import { Telemetry } from '../telemetry/telemetry.js';
import { PrometheusRegistry } from '../telemetry/prometheus-registry.js';
import { MetricsEndpoint, checkMetricsOptions } from '../telemetry/metrics-endpoint.js';
import { HealthChecks } from '../telemetry/health.js';
import { ReadinessCheck } from '../ports/readiness-check.js';
import { EngineConfig, type EngineOptions } from './config.js';
import { resolveConfig } from './resolve-config.js';
import { GOVERNANCE_PORTS, buildCatalog, checkPlugins, collectRoutes, loadPlugins, resolveAtBoot } from './plugin-loading.js';
import { ShutdownSteps } from './shutdown-steps.js';
import { LifecycleContribution } from './lifecycle.js';
import type { PluginDefinition } from './plugin.js';

/** The core's own services, bound to themselves. */
const CORE_SERVICES = [AuditTrail, BackgroundWork, InstanceRegistry, SessionStore, SessionEventLog, ClientExchange, HandlerContextFactory, GovernedCalls, CatalogPipeline, ApiKeyStore, ApiKeyVerifier, ApprovalGate, ToolCallPipeline, ApprovalTasks, McpDispatcher, RequestAuthenticator, HttpHandler, RegistryEntries] as Newable[];

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
  /**
   * Where the built-in Prometheus endpoint answers: its own listener's URL when `metrics.port` is
   * set, else `{publicUrl}{basePath}/metrics` when `metrics.token` is; undefined when it is off.
   */
  metricsUrl(): string | undefined;
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

interface PoolStats {
  numUsed(): number;
  numFree(): number;
  numPendingAcquires(): number;
}

/** Gauges of the engine's own state: database connections and open sessions. */
function observeEngine(telemetry: Telemetry, database: KnexDatabase, sessions: SessionStore): void {
  const pool = (): PoolStats | undefined => (database.knex.client as { pool?: PoolStats }).pool;
  telemetry.observe('db.client.connection.count', { description: 'Database pool connections by state.', unit: '{connection}' }, (observe) => {
    const stats = pool();
    if (!stats) return;
    observe(stats.numUsed(), { 'db.client.connection.state': 'used' });
    observe(stats.numFree(), { 'db.client.connection.state': 'idle' });
  });
  telemetry.observe('db.client.connection.pending_requests', { description: 'Requests waiting for a database connection.', unit: '{request}' }, (observe) => {
    const stats = pool();
    if (stats) observe(stats.numPendingAcquires());
  });
  if (sessions.enabled) telemetry.observe('gatehouse.mcp.sessions', { description: 'Open MCP sessions on this instance.', unit: '{session}' }, (observe) => observe(sessions.count));
}

type OwnedChangeFeed = PostgresChangeFeed | InProcessChangeFeed;

/** What the first stage makes from the options, before anything is opened. */
interface Blueprint {
  readonly plugins: readonly PluginDefinition[];
  readonly config: EngineConfig;
  readonly catalog: ToolCatalog;
  readonly mcpCatalog: McpCatalog;
  readonly logger: Logger;
  readonly migrationSources: readonly MigrationSource[];
  readonly telemetry: Telemetry;
  readonly metricsEndpoint: MetricsEndpoint | undefined;
}

/** Stage 1 — check the options and the plugin set; nothing is opened yet. */
function plan(options: EngineOptions): Blueprint {
  const plugins = options.plugins ?? [];
  checkPlugins(plugins);
  const config = resolveConfig(options);
  const catalog = buildCatalog(plugins);
  const mcpCatalog = McpCatalog.fromPlugins(plugins);
  const logger = options.logger ?? new PinoLogger(options.logLevel ?? 'info');
  checkMetricsOptions(options.metrics);
  const registry = options.metrics ? new PrometheusRegistry() : undefined;
  const telemetry = new Telemetry({ logger, registry, tenantLabels: options.metrics?.tenantLabels ?? 20 });
  const migrationSources: MigrationSource[] = [CORE_MIGRATIONS];
  for (const plugin of plugins) if (plugin.migrations) migrationSources.push({ id: plugin.id, directory: plugin.migrations });
  return {
    plugins,
    config,
    catalog,
    mcpCatalog,
    logger,
    migrationSources,
    telemetry,
    metricsEndpoint: registry ? new MetricsEndpoint(registry, options.metrics!, logger) : undefined,
  };
}

/** Stage 2 — open the database and make the change feed (started later, after migrations). */
async function openStorage(options: EngineOptions, { config, logger }: Blueprint, shutdown: ShutdownSteps): Promise<{ database: KnexDatabase; changes: OwnedChangeFeed }> {
  const database = await openDatabase(options.database, { logger });
  shutdown.add('close the database', () => database.close());
  const changes =
    database.kind === 'postgres' && database.listenConnection !== undefined
      ? new PostgresChangeFeed({ knex: database.knex, listenConnection: database.listenConnection as string | pg.ClientConfig, logger, instanceId: config.instanceId })
      : new InProcessChangeFeed(logger);
  // Registered now, undone after the audit sink is closed: publications finish before the database goes.
  shutdown.add('stop the change feed', () => changes.stop());
  return { database, changes };
}

/** Stage 3 — one container: core services, each plugin's bindings, routes; every port resolvable. */
async function buildContainer(blueprint: Blueprint, database: KnexDatabase, changes: ChangeFeed, shutdown: ShutdownSteps): Promise<Container> {
  const { plugins, config, logger, catalog, mcpCatalog, telemetry, metricsEndpoint, migrationSources } = blueprint;
  const container = new Container({ defaultScope: 'Singleton' });
  container.bind(EngineConfig).toConstantValue(config);
  container.bind(Logger).toConstantValue(logger);
  container.bind(Telemetry).toConstantValue(telemetry);
  if (metricsEndpoint) container.bind(MetricsEndpoint).toConstantValue(metricsEndpoint);
  container.bind(Database).toConstantValue(database);
  container.bind(ChangeFeed).toConstantValue(changes);
  container.bind(ToolCatalogToken).toConstantValue(catalog);
  container.bind(McpCatalogToken).toConstantValue(mcpCatalog);
  for (const service of CORE_SERVICES) container.bind(service).toSelf();
  await loadPlugins(container, plugins);
  // A plugin may bring its own clock (a test's manual one); otherwise the system's.
  if (!container.isBound(Clock)) container.bind(Clock).toConstantValue(systemClock);
  container.bind(HealthChecks).toConstantValue(
    new HealthChecks(
      database,
      changes,
      () => container.get<AuditSink>(AuditSink),
      migrationSources,
      () => (container.isBound(ReadinessCheck) ? container.getAll<ReadinessCheck>(ReadinessCheck) : []),
    ),
  );
  container.bind(RouteTableToken).toConstantValue(collectRoutes(container, plugins));

  for (const [token, name] of GOVERNANCE_PORTS) resolveAtBoot(container, token, name);
  // Closed through the engine's side of it: events a sink is still recording (a `record` promise) are waited for first.
  const audit = container.get(AuditTrail);
  shutdown.add('flush and close the audit sink', () => audit.close());
  resolveAtBoot(container, HttpHandler, 'the HTTP handler');
  // Built now, so revocations made through this engine (a CLI, an admin route) reach every cache.
  const verifier = resolveAtBoot(container, ApiKeyVerifier, 'the API key verifier');
  shutdown.add('record API key usage', () => verifier.flushUsage());
  return container;
}

/** Stage 4 — apply pending migrations (core first, then each plugin's); with `migrate: false`, refuse to boot when any is pending. */
async function migrate(options: EngineOptions, { migrationSources, logger }: Blueprint, database: KnexDatabase): Promise<void> {
  if (options.migrate === false) {
    // Serving on a database that lacks a plugin's tables fails on the first call that needs them: refuse to boot instead.
    const pending = await pendingMigrations(database.knex, migrationSources);
    if (pending.length) {
      throw new BootError(
        `The database is behind: ${pending.length} migration${pending.length === 1 ? ' is' : 's are'} not applied (${pending.join(', ')}). ` +
          'Run "gatehouse migrate" with the same plugins (gatehouse.config or --config), or boot with migrate: true.',
      );
    }
    return;
  }
  const applied = await runMigrations(database.knex, migrationSources);
  if (applied.length) logger.info({ applied }, 'migrations applied');
}

/** Stage 5 — start the change feed, then each plugin service in order; each start registers its stop. */
async function startServices(container: Container, changes: OwnedChangeFeed, database: KnexDatabase, { logger, telemetry, metricsEndpoint }: Blueprint, shutdown: ShutdownSteps): Promise<void> {
  await changes.start();
  const feed = changes.state();
  if (feed.mode === 'in-process') safeLog(logger, 'info', { changes: feed.status }, 'embedded database: single instance, change notifications stay in this process (LISTEN/NOTIFY skipped)');
  const instances = container.get(InstanceRegistry);
  await instances.start();
  shutdown.add('leave the instance registry', () => instances.stop());
  observeEngine(telemetry, database, container.get(SessionStore));
  if (metricsEndpoint) {
    await metricsEndpoint.start();
    shutdown.add('stop the metrics endpoint', () => metricsEndpoint.stop());
  }
  const lifecycle = container.isBound(LifecycleContribution) ? container.getAll<LifecycleContribution>(LifecycleContribution) : [];
  for (const service of lifecycle) {
    await service.start?.();
    if (service.stop) shutdown.add(`stop ${service.constructor.name}`, () => service.stop!());
  }
  // After plugins had their chance to register jobs of their own.
  const background = container.get(BackgroundWork);
  background.start();
  shutdown.add('stop background work', () => background.stop());
}

/** Stage 6 — the engine object: handlers, listening, and a close() that undoes every stage. */
function serve(options: EngineOptions, { config, catalog, logger, metricsEndpoint }: Blueprint, container: Container, database: KnexDatabase, shutdown: ShutdownSteps): Engine {
  const handler = container.get(HttpHandler);
  const servers = new Set<http.Server>();
  shutdown.add('close the HTTP servers', () => Promise.all([...servers].map((server) => closeServer(server))).then(() => undefined));
  shutdown.add('end the MCP sessions', () => container.get(SessionStore).close());
  shutdown.add('drain in-flight requests', () => handler.drain());

  const stall: WriteStallOptions = {
    timeoutMs: config.writeStallTimeoutMs,
    onStall: (res, unsentBytes) =>
      safeLog(logger, 'warn', { method: res.req.method, path: res.req.url?.split('?')[0], unsentBytes, stalledMs: config.writeStallTimeoutMs }, 'client stopped reading: connection dropped'),
  };
  const nodeHandler: NodeHandler = (req, res, next) => {
    handler
      .handle(fromNodeRequest(req, res, config.maxBodyBytes))
      .then((response) => writeNodeResponse(res, response, stall))
      .catch((error: unknown) => {
        if (next) next(error);
        else {
          safeLog(logger, 'error', { err: error }, 'could not write response');
          res.destroy();
        }
      });
  };

  return {
    async fetch(request, info) {
      return toWebResponse(await handler.handle(fromWebRequest(request, config.maxBodyBytes, info?.clientAddress)));
    },
    nodeHandler,
    async listen(listenOptions = {}) {
      const host = listenOptions.host ?? '127.0.0.1';
      // A request must arrive whole within readTimeoutMs (Node answers 408 and closes); the check runs every second.
      const readTimeout = config.readTimeoutMs;
      const server = http.createServer({ requestTimeout: readTimeout, headersTimeout: readTimeout, connectionsCheckingInterval: Math.min(1_000, readTimeout) }, nodeHandler);
      server.keepAliveTimeout = 65_000;
      // A request Node cannot parse, or that does not arrive in time, is answered in JSON too.
      server.on('clientError', clientErrorHandler(logger));
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
    metricsUrl: () => metricsEndpoint?.listenerUrl ?? (metricsEndpoint?.onEngine ? `${config.publicUrl}${config.basePath}/metrics` : undefined),
    resolve: (token) => container.get(token),
    close: () => shutdown.run(),
  };
}

/**
 * Build and start an engine: one container with the core services and each plugin's
 * contributions, validated before anything is served. Fails closed: a plugin set without exactly
 * one authenticator, policy and audit sink, or with clashing tool names or routes, does not boot.
 * A start that fails part-way stops what it had started, in reverse, and rethrows the cause.
 */
export async function createEngine(options: EngineOptions): Promise<Engine> {
  const blueprint = plan(options);
  const shutdown = new ShutdownSteps();
  try {
    const { database, changes } = await openStorage(options, blueprint, shutdown);
    const container = await buildContainer(blueprint, database, changes, shutdown);
    await migrate(options, blueprint, database);
    await startServices(container, changes, database, blueprint, shutdown);
    return serve(options, blueprint, container, database, shutdown);
  } catch (error) {
    await shutdown.run().catch((unwind: unknown) => safeLog(blueprint.logger, 'error', { err: unwind }, 'a failed start did not unwind cleanly'));
    throw error;
  }
}
