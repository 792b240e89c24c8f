import { randomBytes } from 'node:crypto';
import { inject, injectable } from 'inversify';
import { EngineConfig } from '../kernel/config.js';
import type { Principal } from '../ports/principal.js';
import type { McpLogLevel } from './notification-levels.js';

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

/**
 * Sessions, held in memory by this engine instance. With sessions on and more than one instance,
 * the load balancer must route a session's requests to the instance that created it (sticky
 * routing on the `MCP-Session-Id` header). Idle sessions expire.
 */
@injectable()
export class SessionStore {
  private readonly sessions = new Map<string, McpSession>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(@inject(EngineConfig) private readonly config: EngineConfig) {}

  get enabled(): boolean {
    return this.config.sessions !== undefined;
  }

  /** Open sessions on this instance. */
  get count(): number {
    return this.sessions.size;
  }

  create(principal: Principal, clientCapabilities: Record<string, unknown>, protocolVersion: string): McpSession {
    const limits = this.config.sessions!;
    if (this.sessions.size >= limits.maxSessions) this.evictOldest();
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
    this.sessions.set(session.id, session);
    this.sweeper ??= setInterval(() => this.sweep(), Math.min(SWEEP_MS, limits.idleTimeoutMs)).unref();
    return session;
  }

  /** The session with this id if `principal` owns it; undefined for unknown, expired or foreign ids alike. */
  get(id: string, principal: Principal): McpSession | undefined {
    const session = this.sessions.get(id);
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
    this.sessions.delete(session.id);
    session.stream?.close();
    session.stream = undefined;
    session.subscriptions.clear();
  }

  /** Tell the sessions of `tenant` subscribed to `uri` that it changed (on their GET streams). */
  resourceUpdated(tenant: string, uri: string): number {
    let told = 0;
    for (const session of this.sessions.values()) {
      if (session.tenant !== tenant || !session.subscriptions.has(uri) || !session.stream) continue;
      session.stream.send({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri } });
      told++;
    }
    return told;
  }

  get size(): number {
    return this.sessions.size;
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const session of [...this.sessions.values()]) this.delete(session);
  }

  private sweep(): void {
    const cutoff = Date.now() - this.config.sessions!.idleTimeoutMs;
    for (const session of [...this.sessions.values()]) {
      if (session.lastSeen < cutoff && !session.stream) this.delete(session);
    }
  }

  private evictOldest(): void {
    let oldest: McpSession | undefined;
    for (const session of this.sessions.values()) if (!oldest || session.lastSeen < oldest.lastSeen) oldest = session;
    if (oldest) this.delete(oldest);
  }
}
