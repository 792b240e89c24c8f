import { randomBytes } from 'node:crypto';
import { inject, injectable } from 'inversify';
import { EngineConfig } from '../kernel/config.js';
import type { Principal } from '../ports/principal.js';
import type { McpLogLevel } from './notification-levels.js';
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
  logLevel: McpLogLevel | undefined;
  readonly subscriptions: Set<string>;
  /** The GET stream, while the client holds one open. */
  stream: OutboundChannel | undefined;
  lastSeen: number;
}

/** The identity a session or an in-flight request is bound to. */
export function principalKey(principal: Principal): string {
  return `${principal.tenant}\u0000${principal.kind}\u0000${principal.id}`;
}

const SWEEP_MS = 60_000;
// A session is a small record plus its subscriptions (bounded per session by the catalog pipeline).
const sessionBytes = (session: McpSession): number => 1024 + session.subscriptions.size * 128;

/**
 * Sessions, held in memory by this engine instance. With sessions on and more than one instance,
 * the load balancer must route a session's requests to the instance that created it (sticky
 * routing on the `MCP-Session-Id` header). Idle sessions expire. At most `maxSessions` are held,
 * and at most `maxSessionsPerTenant` per tenant: a tenant at its cap loses its own least recently
 * used session, never another tenant's.
 */
@injectable()
export class SessionStore {
  private readonly sessions: BoundedCache<McpSession> | undefined;
  private readonly byTenant = new Map<string, Set<McpSession>>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(@inject(EngineConfig) private readonly config: EngineConfig) {
    const limits = config.sessions;
    this.sessions = limits && new BoundedCache<McpSession>({
      maxEntries: limits.maxSessions,
      maxBytes: limits.maxSessions * 64 * 1024,
      ttlMs: 0,
      sizeOf: sessionBytes,
      onRemove: (session) => this.forget(session),
    });
  }

  get enabled(): boolean {
    return this.config.sessions !== undefined;
  }

  /** Open sessions on this instance. */
  get count(): number {
    return this.sessions?.size ?? 0;
  }

  create(principal: Principal, clientCapabilities: Record<string, unknown>, protocolVersion: string): McpSession {
    const limits = this.config.sessions!;
    const sessions = this.sessions!;
    let mine = this.byTenant.get(principal.tenant);
    if (mine && mine.size >= limits.maxSessionsPerTenant) this.evictOldest(mine);
    const session: McpSession = {
      id: randomBytes(24).toString('base64url'),
      owner: principalKey(principal),
      tenant: principal.tenant,
      clientCapabilities,
      protocolVersion,
      logLevel: undefined,
      subscriptions: new Set(),
      stream: undefined,
      lastSeen: Date.now(),
    };
    sessions.set(session.id, session);
    if (!sessions.has(session.id)) return session;
    mine = this.byTenant.get(principal.tenant);
    if (!mine) this.byTenant.set(principal.tenant, (mine = new Set()));
    mine.add(session);
    this.sweeper ??= setInterval(() => this.sweep(), Math.min(SWEEP_MS, limits.idleTimeoutMs)).unref();
    return session;
  }

  /** The session with this id if `principal` owns it; undefined for unknown, expired or foreign ids alike. */
  get(id: string, principal: Principal): McpSession | undefined {
    const session = this.sessions?.get(id);
    if (!session || session.owner !== principalKey(principal)) return undefined;
    const now = Date.now();
    if (!session.stream && now - session.lastSeen > this.config.sessions!.idleTimeoutMs) {
      this.delete(session);
      return undefined;
    }
    session.lastSeen = now;
    return session;
  }

  delete(session: McpSession): void {
    if (!this.sessions?.delete(session.id)) this.forget(session);
  }

  /** Tell the sessions of `tenant` subscribed to `uri` that it changed (on their GET streams). */
  resourceUpdated(tenant: string, uri: string): number {
    let told = 0;
    for (const session of this.byTenant.get(tenant) ?? []) {
      if (!session.subscriptions.has(uri) || !session.stream) continue;
      session.stream.send({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri } });
      told++;
    }
    return told;
  }

  get size(): number {
    return this.sessions?.size ?? 0;
  }

  /** Sessions held for `tenant`. */
  sizeOf(tenant: string): number {
    return this.byTenant.get(tenant)?.size ?? 0;
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.sessions?.clear();
  }

  private forget(session: McpSession): void {
    const mine = this.byTenant.get(session.tenant);
    if (mine?.delete(session) && mine.size === 0) this.byTenant.delete(session.tenant);
    session.stream?.close();
    session.stream = undefined;
    session.subscriptions.clear();
  }

  private sweep(): void {
    const cutoff = Date.now() - this.config.sessions!.idleTimeoutMs;
    for (const session of this.sessions?.values() ?? []) {
      if (session.lastSeen < cutoff && !session.stream) this.delete(session);
    }
  }

  private evictOldest(sessions: Iterable<McpSession>): void {
    let oldest: McpSession | undefined;
    for (const session of sessions) if (!oldest || session.lastSeen < oldest.lastSeen) oldest = session;
    if (oldest) this.delete(oldest);
  }
}
