import { randomBytes } from 'node:crypto';
import { inject, injectable } from 'inversify';
import { EngineConfig } from '../kernel/config.js';
import { Database } from '../ports/database.js';
import { ChangeFeed } from '../ports/change-feed.js';
import { Clock } from '../ports/clock.js';
import { Logger, safeLog } from '../log/logger.js';
import type { Principal } from '../ports/principal.js';
import { isMcpLogLevel, type McpLogLevel } from './notification-levels.js';
import { BoundedCache } from '../cache/bounded-cache.js';

/** A server→client message channel (an SSE stream). */
export interface OutboundChannel {
  send(message: unknown): void;
  close(): void;
}

/** One MCP session: created by `initialize` when sessions are enabled, bound to its principal. */
export interface McpSession {
  readonly id: string;
  /** Tenant + kind + id of the principal that created it; any other principal gets 404. */
  readonly owner: string;
  readonly tenant: string;
  readonly clientCapabilities: Readonly<Record<string, unknown>>;
  readonly protocolVersion: string;
  /** Change through {@link SessionStore.update}, so every instance sees it. */
  readonly logLevel: McpLogLevel | undefined;
  /** Change through {@link SessionStore.update}, so every instance sees it. */
  readonly subscriptions: ReadonlySet<string>;
  /** The GET stream, while the client holds one open on this instance. */
  stream: OutboundChannel | undefined;
  lastSeen: number;
}

interface SessionRow {
  id: string;
  tenant: string;
  owner: string;
  protocol_version: string;
  client_capabilities: unknown;
  log_level: string | null;
  subscriptions: unknown;
  last_seen_at: Date | string;
}

interface Cached {
  session: McpSession & { logLevel: McpLogLevel | undefined; subscriptions: Set<string> };
}

/** The identity a session or an in-flight request is bound to. */
export function principalKey(principal: Principal): string {
  return `${principal.tenant}\u0000${principal.kind}\u0000${principal.id}`;
}

/** Published when a session ends (its id), changes (log level, subscriptions) or a subscribed resource changes. */
export const SESSION_ENDED = 'mcp.sessions.ended';
export const SESSION_CHANGED = 'mcp.sessions.changed';
export const RESOURCE_UPDATED = 'mcp.resources.updated';

/** How long a session read from the database is reused without asking it again (changes are pushed). */
const CACHE_TTL_MS = 60_000;
const TOUCH_MAX_INTERVAL_MS = 5_000;

function parseJson<T>(value: unknown, fallback: T): T {
  if (typeof value === 'string') {
    try {
      return JSON.parse(value) as T;
    } catch {
      return fallback;
    }
  }
  return (value ?? fallback) as T;
}

/**
 * MCP sessions in PostgreSQL (`mcp_sessions`), so a session begun on one instance of a fleet
 * continues on any other: `initialize` here, `tools/call` there, `DELETE` on a third. Each
 * instance keeps the sessions it has seen in a bounded cache; an ended or changed session is
 * dropped from every instance's cache through the change feed. `last_seen_at` is written in
 * batches, and idle sessions are swept by whichever instance runs the fleet sweep. At most
 * `maxSessions` live, and at most `maxSessionsPerTenant` per tenant: a tenant at its cap loses its
 * own least recently used session, never another tenant's.
 *
 * The GET stream of a session is a connection to one instance; a resource update published on any
 * instance reaches it through the change feed.
 */
@injectable()
export class SessionStore {
  private readonly cache: BoundedCache<Cached>;
  /** Sessions with a GET stream open on this instance: never evicted while it is. */
  private readonly attached = new Map<string, Cached>();
  private readonly touched = new Set<string>();
  /** Attached sessions being re-read after a change made on another instance. */
  private readonly refreshing = new Map<string, Promise<void>>();
  private touchTimer: NodeJS.Timeout | undefined;

  constructor(
    @inject(EngineConfig) private readonly config: EngineConfig,
    @inject(Database) private readonly database: Database,
    @inject(ChangeFeed) private readonly changes: ChangeFeed,
    @inject(Logger) private readonly logger: Logger,
    @inject(Clock) private readonly clock: Clock,
  ) {
    this.cache = new BoundedCache<Cached>({ maxEntries: config.sessions?.maxSessions ?? 1, ttlMs: CACHE_TTL_MS, sizeOf: ({ session }) => 1024 + session.subscriptions.size * 128 });
    if (!this.enabled) return;
    changes.subscribe(SESSION_ENDED, (payload) => {
      if (typeof payload.id === 'string') this.forget(payload.id, true);
    }, () => this.cache.clear());
    changes.subscribe(SESSION_CHANGED, (payload) => {
      if (typeof payload.id === 'string') this.forget(payload.id, false);
    });
    changes.subscribe(RESOURCE_UPDATED, (payload) => {
      if (typeof payload.tenant === 'string' && typeof payload.uri === 'string') this.notifySubscribers(payload.tenant, payload.uri);
    });
  }

  get enabled(): boolean {
    return this.config.sessions !== undefined;
  }

  async create(principal: Principal, clientCapabilities: Record<string, unknown>, protocolVersion: string): Promise<McpSession> {
    const limits = this.config.sessions!;
    // Recent use recorded here first, so the least recently used are the ones that go.
    await this.flushTouches();
    await this.evictBeyond(this.database.knex('mcp_sessions').where({ tenant: principal.tenant }), limits.maxSessionsPerTenant - 1);
    await this.evictBeyond(this.database.knex('mcp_sessions'), limits.maxSessions - 1);
    const id = randomBytes(24).toString('base64url');
    await this.database.knex('mcp_sessions').insert({
      id,
      tenant: principal.tenant,
      // JSON, since PostgreSQL text cannot hold the NUL separators of the in-memory key.
      owner: JSON.stringify([principal.tenant, principal.kind, principal.id]),
      protocol_version: protocolVersion,
      client_capabilities: JSON.stringify(clientCapabilities),
      last_seen_at: new Date(this.clock.now()),
    });
    const session = this.remember({
      id,
      owner: principalKey(principal),
      tenant: principal.tenant,
      clientCapabilities,
      protocolVersion,
      logLevel: undefined,
      subscriptions: new Set(),
      stream: undefined,
      // From the moment the session exists (the insert may take a while on a busy database).
      lastSeen: this.clock.now(),
    });
    return session;
  }

  /** The session with this id if `principal` owns it; undefined for unknown, expired or foreign ids alike. */
  async get(id: string, principal: Principal): Promise<McpSession | undefined> {
    if (id.length === 0 || id.length > 200) return undefined;
    const now = this.clock.now();
    let session = (this.attached.get(id) ?? this.cache.get(id))?.session;
    if (!session) {
      const row = (await this.database.knex('mcp_sessions').where({ id }).first()) as SessionRow | undefined;
      if (!row) return undefined;
      session = this.remember(this.fromRow(row));
    }
    if (session.owner !== principalKey(principal)) return undefined;
    if (!session.stream && now - session.lastSeen > this.config.sessions!.idleTimeoutMs) {
      await this.delete(session);
      return undefined;
    }
    session.lastSeen = now;
    this.touch(id);
    return session;
  }

  /** End a session on every instance. */
  async delete(session: McpSession): Promise<void> {
    this.forget(session.id, true);
    this.touched.delete(session.id);
    await this.database.knex('mcp_sessions').where({ id: session.id }).delete();
    await this.publish(SESSION_ENDED, { id: session.id });
  }

  /** Change a session's log level or subscriptions, for every instance. */
  async update(session: McpSession, change: { readonly logLevel?: McpLogLevel; readonly subscriptions?: ReadonlySet<string> }): Promise<void> {
    const patch: Record<string, unknown> = {};
    if (change.logLevel !== undefined) patch.log_level = change.logLevel;
    if (change.subscriptions !== undefined) patch.subscriptions = JSON.stringify([...change.subscriptions]);
    await this.database.knex('mcp_sessions').where({ id: session.id }).update(patch);
    const mutable = session as Cached['session'];
    if (change.logLevel !== undefined) mutable.logLevel = change.logLevel;
    if (change.subscriptions !== undefined) mutable.subscriptions = new Set(change.subscriptions);
    await this.publish(SESSION_CHANGED, { id: session.id });
  }

  /** Hold `stream` as the session's GET stream on this instance until it closes. */
  attach(session: McpSession, stream: OutboundChannel): () => void {
    session.stream?.close();
    session.stream = stream;
    const entry = this.cache.get(session.id) ?? { session: session as Cached['session'] };
    this.attached.set(session.id, entry);
    return () => {
      stream.close();
      if (session.stream !== stream) return;
      session.stream = undefined;
      this.attached.delete(session.id);
    };
  }

  /** Tell the sessions of `tenant` subscribed to `uri`, on whichever instance holds their GET stream. */
  resourceUpdated(tenant: string, uri: string): void {
    void this.publish(RESOURCE_UPDATED, { tenant, uri });
  }

  /** Sessions cached by this instance. */
  get size(): number {
    return this.cache.size;
  }

  /** Sessions in use on this instance (cached or streaming). */
  get count(): number {
    return new Set([...this.cache.values().map(({ session }) => session.id), ...this.attached.keys()]).size;
  }

  /** Sessions of `tenant` cached by this instance. */
  sizeOf(tenant: string): number {
    return this.cache.values().filter(({ session }) => session.tenant === tenant).length;
  }

  async close(): Promise<void> {
    for (const entry of [...this.attached.values()]) entry.session.stream?.close();
    this.attached.clear();
    this.cache.clear();
    await this.flushTouches();
  }

  /** Write the batched `last_seen_at` of sessions used here. */
  async flushTouches(): Promise<void> {
    if (this.touchTimer) clearTimeout(this.touchTimer);
    this.touchTimer = undefined;
    if (this.touched.size === 0) return;
    const ids = [...this.touched];
    this.touched.clear();
    try {
      await this.database.knex('mcp_sessions').whereIn('id', ids).update({ last_seen_at: new Date(this.clock.now()) });
    } catch (error) {
      safeLog(this.logger, 'warn', { err: error }, 'could not record session activity');
    }
  }

  private touch(id: string): void {
    this.touched.add(id);
    const every = Math.min(TOUCH_MAX_INTERVAL_MS, Math.max(10, Math.floor(this.config.sessions!.idleTimeoutMs / 4)));
    this.touchTimer ??= setTimeout(() => void this.flushTouches(), every).unref();
  }

  private notifySubscribers(tenant: string, uri: string): void {
    for (const { session } of this.attached.values()) {
      if (session.tenant !== tenant) continue;
      const send = (): void => {
        if (session.subscriptions.has(uri)) session.stream?.send({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri } });
      };
      // A subscription made on another instance just before the change is being read: wait for it.
      const refreshing = this.refreshing.get(session.id);
      if (refreshing) void refreshing.then(send);
      else send();
    }
  }

  /** Drop a session from this instance's cache; when it `ended`, close its stream here too. */
  private forget(id: string, ended: boolean): void {
    this.cache.delete(id);
    const attached = this.attached.get(id);
    if (!attached) return;
    if (ended) {
      this.attached.delete(id);
      attached.session.stream?.close();
      attached.session.stream = undefined;
      return;
    }
    // Still streaming here: refresh what another instance changed.
    const previous = this.refreshing.get(id) ?? Promise.resolve();
    const refresh: Promise<void> = previous
      .then(() => this.database.knex('mcp_sessions').where({ id }).first())
      .then((row: SessionRow | undefined) => {
        if (!row) return;
        const fresh = this.fromRow(row);
        attached.session.logLevel = fresh.logLevel;
        attached.session.subscriptions = fresh.subscriptions;
      })
      .catch((error: unknown) => safeLog(this.logger, 'warn', { err: error }, 'could not refresh a session'))
      .finally(() => {
        if (this.refreshing.get(id) === refresh) this.refreshing.delete(id);
      });
    this.refreshing.set(id, refresh);
  }

  private remember(session: Cached['session']): Cached['session'] {
    this.cache.set(session.id, { session });
    return session;
  }

  /** End the least recently used sessions the query selects beyond the `keep` most recent. */
  private async evictBeyond(query: ReturnType<Database['knex']>, keep: number): Promise<void> {
    const rows = (await query.clone().select('id').orderBy('last_seen_at', 'desc').orderBy('created_at', 'desc').offset(Math.max(0, keep))) as { id: string }[];
    if (rows.length === 0) return;
    const ids = rows.map((row) => row.id);
    await this.database.knex('mcp_sessions').whereIn('id', ids).delete();
    for (const id of ids) {
      this.forget(id, true);
      this.touched.delete(id);
      await this.publish(SESSION_ENDED, { id });
    }
  }

  private fromRow(row: SessionRow): Cached['session'] {
    const level = row.log_level;
    const local = this.cache.get(row.id)?.session;
    return {
      id: row.id,
      owner: parseJson<string[]>(row.owner, []).join('\u0000'),
      tenant: row.tenant,
      clientCapabilities: parseJson<Record<string, unknown>>(row.client_capabilities, {}),
      protocolVersion: row.protocol_version,
      logLevel: isMcpLogLevel(level) ? level : undefined,
      subscriptions: new Set(parseJson<string[]>(row.subscriptions, [])),
      stream: undefined,
      lastSeen: Math.max(new Date(row.last_seen_at).getTime(), local?.lastSeen ?? 0),
    };
  }

  private async publish(topic: string, payload: Record<string, string>): Promise<void> {
    try {
      await this.changes.publish(topic, payload);
    } catch (error) {
      safeLog(this.logger, 'warn', { err: error, topic }, 'could not tell other instances about a session change');
    }
  }
}
