import type { DatabaseOptions } from '../db/open-database.js';
import type { Logger, LogLevel } from '../log/logger.js';
import type { PluginDefinition } from './plugin.js';
import type { TenantHostPattern } from '../http/tenant-host.js';
import type { MetricsOptions } from '../telemetry/metrics-endpoint.js';

/** Options of {@link createEngine}. Only `plugins` is required. */
export interface EngineOptions {
  /**
   * The features of this engine: exactly one edition plugin (`communityEdition()` or
   * `enterpriseEdition(...)`) plus any tool plugins.
   */
  readonly plugins: readonly PluginDefinition[];
  /**
   * The public origin clients reach the engine at, e.g. `https://mcp.example.com`. The canonical
   * resource URL (the expected token audience) is built from it, never from the `Host` header.
   * `listen()` fills it in for a loopback server when unset.
   */
  readonly publicUrl?: string;
  /** A path prefix under which everything is mounted, e.g. `/gatehouse`. Default: none. */
  readonly basePath?: string;
  /** The MCP endpoint path under the base path. Default `/api/mcp`. */
  readonly mcpPath?: string;
  readonly database?: DatabaseOptions;
  /** Apply pending migrations while booting. Default true. */
  readonly migrate?: boolean;
  /**
   * Browser origins allowed to call (exact `scheme://host[:port]`). Requests with an `Origin` not
   * listed get 403. Requests without `Origin` (non-browser clients) are not affected. Default: the
   * public URL's origin.
   */
  readonly allowedOrigins?: readonly string[];
  /**
   * When set, the `Host` header must name one of these hosts (with or without port), else 403.
   * Guards a server bound to loopback against DNS rebinding; `listen()` on a loopback address sets
   * it to the loopback names when unset.
   */
  readonly allowedHosts?: readonly string[];
  /**
   * Host-based tenancy: a host pattern whose first label names the tenant, e.g.
   * `{tenant}.mcp.example.com`. A request to `acme.mcp.example.com` is then for tenant `acme`
   * (as `/t/acme/…` is), tenants' canonical MCP URLs become `https://acme.mcp.example.com/api/mcp`
   * (scheme from `publicUrl`), and those hosts and origins pass the host and origin checks.
   */
  readonly tenantHost?: string;
  /** Largest accepted request body in bytes (413 past it). Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** How long a verified credential may be reused from cache (the revocation delay). Default 30 s. */
  readonly credentialCacheTtlMs?: number;
  /** Page size of list methods (`tools/list`…). Default 100. */
  readonly pageSize?: number;
  /** How long `close()` waits for in-flight requests before aborting them. Default 10 s. */
  readonly drainTimeoutMs?: number;
  /**
   * How long a response may hold unsent data for a client that takes none of it (no progress) before
   * the engine drops the connection: a client that stops reading without disconnecting would
   * otherwise hold its connection, its stream and what was queued for it forever. Covers SSE
   * streams, exports and large answers. Default 30 s.
   */
  readonly writeStallTimeoutMs?: number;
  /**
   * How long a client has to send a whole request, headers and body, to a server started with
   * `listen()`: a client that trickles bytes (or stops mid-request) would otherwise hold its
   * connection for Node's default of five minutes. It is answered 408 and disconnected. Streams are
   * not affected: a request is whole once its body has arrived. Default 30 s.
   */
  readonly readTimeoutMs?: number;
  /**
   * The deadline of one tool call, resource read or prompt: past it the handler's `signal` is
   * aborted and the caller gets an error (audited as `failed`, "deadline exceeded"). A tool may set
   * its own with `timeoutMs`. Default 60 s.
   */
  readonly callTimeoutMs?: number;
  /** Server name and version sent on `initialize`. */
  readonly serverInfo?: { readonly name: string; readonly version: string };
  /** Instructions for the model, sent on `initialize`. */
  readonly instructions?: string;
  /**
   * MCP sessions (`MCP-Session-Id`), off by default: the engine is stateless and every request
   * stands alone. Turn them on for clients that need a server→client stream (GET), resource
   * subscriptions, or session-scoped log levels. Sessions are kept in the database, so behind a
   * load balancer any instance continues any session (no sticky routing). Every request is still
   * authenticated; a session is bound to the principal that created it. `idleTimeoutMs` (default
   * 30 min) ends unused sessions; `maxSessions` (default 10 000) bounds how many each instance
   * keeps cached in memory.
   */
  readonly sessions?: boolean | {
    /** A session unused this long (with no open GET stream and no call running) ends. Default 30 min. */
    readonly idleTimeoutMs?: number;
    /** Most sessions this instance holds; past it the least recently used ends. Default 10,000. */
    readonly maxSessions?: number;
    /** Most sessions of one tenant; past it that tenant's least recently used ends. Default 1,000 (at most `maxSessions`). */
    readonly maxSessionsPerTenant?: number;
  };
  readonly logger?: Logger;
  readonly logLevel?: LogLevel;
  /**
   * The built-in Prometheus endpoint `/metrics`, off by default: on with a `token` (served by the
   * engine's handler to `Authorization: Bearer <token>`) and/or a `port` of its own. Traces and
   * metrics also go to the OpenTelemetry API's global providers whenever the host registers an
   * SDK; see docs/observability.md.
   */
  readonly metrics?: MetricsOptions;
}

/** The resolved configuration, injectable by plugins. */
export interface EngineConfig {
  /** This engine instance (a fresh id per process start), as other instances of a fleet know it. */
  readonly instanceId: string;
  publicUrl: string;
  readonly basePath: string;
  readonly mcpPath: string;
  readonly allowedOrigins: readonly string[] | undefined;
  allowedHosts: readonly string[] | undefined;
  readonly tenantHost: TenantHostPattern | undefined;
  readonly maxBodyBytes: number;
  readonly credentialCacheTtlMs: number;
  readonly pageSize: number;
  readonly drainTimeoutMs: number;
  readonly writeStallTimeoutMs: number;
  readonly readTimeoutMs: number;
  readonly callTimeoutMs: number;
  readonly serverInfo: { readonly name: string; readonly version: string };
  readonly instructions: string | undefined;
  /** Undefined when sessions are off. */
  readonly sessions: { readonly idleTimeoutMs: number; readonly maxSessions: number; readonly maxSessionsPerTenant: number } | undefined;
}

export const EngineConfig = Symbol.for('gatehouse.EngineConfig');

