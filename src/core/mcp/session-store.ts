import { randomBytes } from 'node:crypto';
import { storableJson } from '../db/storable-text.js';
import { inject, injectable } from 'inversify';
import { EngineConfig } from '../kernel/config.js';
import { Database } from '../ports/database.js';
import { ChangeFeed } from '../ports/change-feed.js';
import { Clock } from '../ports/clock.js';
import { Logger, safeLog } from '../log/logger.js';
import type { Principal } from '../ports/principal.js';
import { isMcpLogLevel, type McpLogLevel } from './notification-levels.js';
import { BoundedCache } from '../cache/bounded-cache.js';
import { BackgroundWork } from '../fleet/background-work.js';
import { SessionEventLog, STANDALONE_STREAM } from './session-event-log.js';
import type { Abortable } from './client-exchange.js';
import { GatehouseError } from '../errors.js';

/** A server→client message channel (an SSE stream). */
export interface OutboundChannel {
  send(message: unknown): void;
  /** Send a message (or, with empty `data`, a priming event) with the event id a client resumes after. */
  sendEvent(id: string, data: string, retryMs?: number): void;
  close(): void;
  /** Run `listener` once when the channel closes (at once if it is closed already). */
  onClose(listener: () => void): void;
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
  /** Whether the client has opened its standalone (GET) stream, on any instance (as last read). */
  streamOpened: boolean;
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
  stream_opened_at?: Date | string | null;
}

interface Cached {
  session: McpSession & { logLevel: McpLogLevel | undefined; subscriptions: Set<string> };
}

/** The identity a session or an in-flight request is bound to. */
export function principalKey(principal: Principal): string {
  return `${principal.tenant}\u0000${principal.kind}\u0000${principal.id}`;
}

/**
 * Published when a session ends (its id; `deleted` and the instance when its client deleted it),
 * changes (log level, subscriptions) or opens its standalone stream somewhere.
 */
export const SESSION_ENDED = 'mcp.sessions.ended';
export const SESSION_CHANGED = 'mcp.sessions.changed';
export const SESSION_STREAM_OPENED = 'mcp.sessions.stream-opened';

/** How soon a client whose stream ended should reconnect (the SSE `retry` field). */
export const STREAM_RETRY_MS = 500;
/** The name of the background job that writes the batched `last_seen_at` of sessions. */
export const SESSION_TOUCH_JOB = 'mcp.sessions.last-seen';

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
 * The standalone (GET) stream of a session is a connection to one instance, but what it carries
 * (resource updates, server→client requests) is kept in the session's event log: each message gets
 * an event id, whichever instance produced it, and the instance holding the stream follows the log.
 * A client that reconnects with `Last-Event-ID` on any instance receives what it missed. A stream
 * opened anew (on any instance) closes the session's previous one, so no message goes out twice.
 */
@injectable()
export class SessionStore {
  private readonly cache: BoundedCache<Cached>;
  /** Sessions with a GET stream open on this instance: never evicted while it is. */
  private readonly attached = new Map<string, Cached>();
  private readonly touched = new Set<string>();
  /**
   * The calls of sessions running here: their sessions are in use though their clients may post
   * nothing, and they are aborted when their client deletes the session.
   */
  private readonly running = new Map<string, Set<Abortable>>();
  /** Attached sessions being re-read after a change made on another instance. */
  private readonly refreshing = new Map<string, Promise<void>>();
  private touchTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    @inject(EngineConfig) private readonly config: EngineConfig,
    @inject(Database) private readonly database: Database,
    @inject(ChangeFeed) private readonly changes: ChangeFeed,
    @inject(Logger) private readonly logger: Logger,
    @inject(Clock) private readonly clock: Clock,
    @inject(SessionEventLog) private readonly events: SessionEventLog,
    @inject(BackgroundWork) private readonly work: BackgroundWork,
  ) {
    this.cache = new BoundedCache<Cached>({ maxEntries: config.sessions?.maxSessions ?? 1, ttlMs: CACHE_TTL_MS, sizeOf: ({ session }) => 1024 + session.subscriptions.size * 128 });
    if (!this.enabled) return;
    changes.subscribe(SESSION_ENDED, (payload) => {
      if (typeof payload.id !== 'string') return;
      this.forget(payload.id, true);
      if (payload.deleted === true && payload.instance !== this.config.instanceId) this.abortCalls(payload.id);
    }, () => this.cache.clear());
    changes.subscribe(SESSION_CHANGED, (payload) => {
      if (typeof payload.id === 'string') this.forget(payload.id, false);
    });
    changes.subscribe(SESSION_STREAM_OPENED, (payload) => {
      // The client reconnected elsewhere: the stream held here is stale.
      if (typeof payload.id === 'string' && payload.instance !== this.config.instanceId) this.closeStream(payload.id);
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
      // JSON text, which keeps whatever the client sent (jsonb refuses NUL and lone surrogates).
      client_capabilities: storableJson(clientCapabilities),
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
      streamOpened: false,
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
    let fresh = false;
    if (!session) {
      const row = (await this.database.knex('mcp_sessions').where({ id }).first()) as SessionRow | undefined;
      if (!row) return undefined;
      session = this.remember(this.fromRow(row));
      fresh = true;
    }
    if (session.owner !== principalKey(principal)) return undefined;
    if (!session.stream && now - session.lastSeen > this.config.sessions!.idleTimeoutMs) {
      // Idle here, but another instance may have used it since this one cached it: its row knows.
      const row = fresh ? undefined : ((await this.database.knex('mcp_sessions').where({ id }).first()) as SessionRow | undefined);
      const seen = row ? this.fromRow(row).lastSeen : session.lastSeen;
      if (now - seen > this.config.sessions!.idleTimeoutMs) {
        await this.end(session, false);
        return undefined;
      }
    }
    session.lastSeen = now;
    this.touch(id);
    return session;
  }

  /** End a session on every instance, as its client asked (`DELETE`): its calls still running are aborted, wherever they run. */
  async delete(session: McpSession): Promise<void> {
    await this.end(session, true);
  }

  /** End a session on every instance; `byClient` when its client ended it. */
  private async end(session: McpSession, byClient: boolean): Promise<void> {
    this.forget(session.id, true);
    this.touched.delete(session.id);
    await this.database.knex('mcp_sessions').where({ id: session.id }).delete();
    if (!byClient) return this.publish(SESSION_ENDED, { id: session.id });
    this.abortCalls(session.id);
    await this.publish(SESSION_ENDED, { id: session.id, deleted: true, instance: this.config.instanceId });
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

  /**
   * Serve the session's standalone stream on `stream` until it closes: from just after
   * `lastEventId` (a client resuming, on whichever instance it was before), else from now, after a
   * priming event whose id the client can resume after. Closes the session's previous standalone
   * stream, here or on another instance. Returns the way to end it.
   */
  async openStream(session: McpSession, stream: OutboundChannel, lastEventId?: string): Promise<() => void> {
    const mutable = session as Cached['session'];
    if (!mutable.streamOpened) {
      await this.database.knex('mcp_sessions').where({ id: session.id }).whereNull('stream_opened_at').update({ stream_opened_at: new Date(this.clock.now()) });
      mutable.streamOpened = true;
    }
    let after = lastEventId;
    if (after === undefined) {
      after = await this.events.append(session.id, STANDALONE_STREAM, '', false);
      stream.sendEvent(after, '', STREAM_RETRY_MS);
    }
    session.stream?.close();
    session.stream = stream;
    // The entry held while attached is this very session, whose stream was just set: two requests
    // that read the session at once may each have cached an object of their own.
    const cached = this.cache.get(session.id);
    const entry = cached?.session === mutable ? cached : { session: mutable };
    this.attached.set(session.id, entry);
    const stop = this.events.follow(session.id, STANDALONE_STREAM, after, (id, message) => stream.sendEvent(id, message), () => stream.close());
    stream.onClose(() => {
      stop();
      if (session.stream !== stream) return;
      session.stream = undefined;
      this.attached.delete(session.id);
    });
    await this.publish(SESSION_STREAM_OPENED, { id: session.id, instance: this.config.instanceId });
    return () => stream.close();
  }

  /**
   * Whether the session's client has opened its standalone stream (on any instance): what a
   * server→client request outside of a response stream needs to reach it.
   */
  async hasStream(session: McpSession): Promise<boolean> {
    if (session.streamOpened) return true;
    const row = (await this.database.knex('mcp_sessions').where({ id: session.id }).first('stream_opened_at')) as Pick<SessionRow, 'stream_opened_at'> | undefined;
    const opened = row?.stream_opened_at !== null && row?.stream_opened_at !== undefined;
    (session as Cached['session']).streamOpened = opened;
    return opened;
  }

  /** Send a message on the session's standalone stream, wherever the client holds it (or will resume it). */
  async sendToStream(session: McpSession, message: unknown): Promise<void> {
    await this.events.append(session.id, STANDALONE_STREAM, JSON.stringify(message), true);
  }

  /** Tell the sessions of `tenant` subscribed to `uri`, on whichever instance holds their standalone stream. */
  resourceUpdated(tenant: string, uri: string): void {
    if (!this.enabled) return;
    void this.notifySubscribers(tenant, uri).catch((error: unknown) => safeLog(this.logger, 'warn', { err: error, tenant }, 'could not tell subscribed sessions about a resource update'));
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
    this.closed = true;
    for (const entry of [...this.attached.values()]) entry.session.stream?.close();
    this.attached.clear();
    this.cache.clear();
    await this.flushTouches();
  }

  /**
   * Write the batched `last_seen_at` of sessions used here (and of those whose standalone stream is
   * held here: a client listening is a client using its session). Runs under the fleet's advisory
   * lock for this job, waiting for it, so two instances never write these rows at once; a time
   * never moves back.
   */
  async flushTouches(): Promise<void> {
    if (this.touchTimer) clearTimeout(this.touchTimer);
    this.touchTimer = undefined;
    // Sessions streaming here, or with a call running here, are in use even when they post nothing:
    // keep writing theirs.
    if ((this.attached.size > 0 || this.running.size > 0) && !this.closed) {
      for (const id of this.attached.keys()) this.touched.add(id);
      for (const id of this.running.keys()) this.touched.add(id);
      this.scheduleFlush();
    }
    if (this.touched.size === 0) return;
    const ids = [...this.touched];
    this.touched.clear();
    const at = new Date(this.clock.now());
    try {
      await this.work.runSerialized(SESSION_TOUCH_JOB, async (trx) => {
        await trx('mcp_sessions').whereRaw('id = any(?::text[])', [ids]).update({ last_seen_at: trx.raw('greatest(last_seen_at, ?)', [at]) });
      });
    } catch (error) {
      safeLog(this.logger, 'warn', { err: error }, 'could not record session activity');
    }
  }

  /**
   * `call` of the session runs here until the returned function is called: the session is in use
   * meanwhile, so a call that outlasts the idle timeout does not see its session swept as idle,
   * and the call is aborted if the client deletes the session (not when it is evicted to make room
   * or found expired: its client may still be waiting on the call's stream).
   */
  callRunning(session: McpSession, call: Abortable): () => void {
    const id = session.id;
    let calls = this.running.get(id);
    if (!calls) this.running.set(id, (calls = new Set()));
    calls.add(call);
    return () => {
      if (!calls.delete(call)) return;
      if (calls.size === 0 && this.running.get(id) === calls) this.running.delete(id);
      // The end of a call is a use too: its idle time starts now.
      const cached = (this.attached.get(id) ?? this.cache.get(id))?.session;
      if (cached) cached.lastSeen = Math.max(cached.lastSeen, this.clock.now());
      this.touch(id);
    };
  }

  private touch(id: string): void {
    this.touched.add(id);
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    const every = Math.min(TOUCH_MAX_INTERVAL_MS, Math.max(10, Math.floor(this.config.sessions!.idleTimeoutMs / 4)));
    this.touchTimer ??= setTimeout(() => void this.flushTouches(), every).unref();
  }

  /** The sessions of `tenant` subscribed to `uri` that have a standalone stream get the update on it. */
  private async notifySubscribers(tenant: string, uri: string): Promise<void> {
    const rows = (await this.database
      .knex('mcp_sessions')
      .where({ tenant })
      .whereNotNull('stream_opened_at')
      .andWhereRaw('subscriptions @> ?::jsonb', [JSON.stringify([uri])])
      .select('id')) as { id: string }[];
    const message = { jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri } };
    for (const { id } of rows) await this.events.append(id, STANDALONE_STREAM, JSON.stringify(message), true);
  }

  /** Close the standalone stream of this session held here, if any. */
  private closeStream(id: string): void {
    this.attached.get(id)?.session.stream?.close();
  }

  /** Abort the calls of a session its client deleted that run here. */
  private abortCalls(id: string): void {
    for (const call of this.running.get(id) ?? []) call.abort(new GatehouseError('session_ended', 'The session ended.'));
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
    await this.database.knex('mcp_sessions').whereRaw('id = any(?::text[])', [ids]).delete();
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
      streamOpened: row.stream_opened_at !== null && row.stream_opened_at !== undefined,
      lastSeen: Math.max(new Date(row.last_seen_at).getTime(), local?.lastSeen ?? 0),
    };
  }

  private async publish(topic: string, payload: Record<string, string | boolean>): Promise<void> {
    try {
      await this.changes.publish(topic, payload);
    } catch (error) {
      safeLog(this.logger, 'warn', { err: error, topic }, 'could not tell other instances about a session change');
    }
  }
}
