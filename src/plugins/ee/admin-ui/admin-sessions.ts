import { randomBytes, timingSafeEqual } from 'node:crypto';
import { inject, injectable } from 'inversify';
import { ApiKeyStore, EngineConfig, HttpError, type Principal, type RouteRequest } from '../../../core/index.js';
import type { AdminSessionResolver } from '../admin/admin-guard.js';

/** Name of the browser admin session cookie. */
export const SESSION_COOKIE = 'gatehouse_admin';
/** How long a session lives from sign-in, whatever its use. */
export const SESSION_LIFETIME_MS = 8 * 60 * 60 * 1000;
/** A session unused this long ends. */
export const SESSION_IDLE_MS = 30 * 60 * 1000;
/** How often a session signed in with an API key checks that the key is still valid. */
export const KEY_RECHECK_MS = 30_000;
/** Sessions kept at most (the oldest is dropped past it), so sign-ins cannot exhaust memory. */
const MAX_SESSIONS = 10_000;

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

interface AdminSession {
  readonly id: string;
  readonly csrfToken: string;
  readonly principal: Principal;
  readonly expiresAt: number;
  lastUsed: number;
  /** When the admin key behind the session was last found valid. */
  keyCheckedAt: number;
}

/** A signed-in session as the sign-in route reports it. */
export interface IssuedSession {
  readonly id: string;
  readonly csrfToken: string;
  readonly expiresAt: Date;
  readonly principal: Principal;
}

const token = (): string => randomBytes(32).toString('base64url');

function sameSecret(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** The value of one cookie in a `Cookie` header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq !== -1 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * Server-side browser sessions of admins, kept in memory: a session id in an HttpOnly,
 * SameSite=Strict cookie, and a CSRF token the page must echo in `X-CSRF-Token` on every change.
 * A process restart signs everyone out, which is acceptable for an admin console.
 */
@injectable()
export class AdminSessions implements AdminSessionResolver {
  private readonly sessions = new Map<string, AdminSession>();

  constructor(
    @inject(EngineConfig) private readonly config: EngineConfig,
    @inject(ApiKeyStore) private readonly keys: ApiKeyStore,
  ) {}

  create(principal: Principal, now = Date.now()): IssuedSession {
    this.sweep(now);
    while (this.sessions.size >= MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    const session: AdminSession = { id: token(), csrfToken: token(), principal, expiresAt: now + SESSION_LIFETIME_MS, lastUsed: now, keyCheckedAt: now };
    this.sessions.set(session.id, session);
    return { id: session.id, csrfToken: session.csrfToken, expiresAt: new Date(session.expiresAt), principal };
  }

  /** The live session named by the request's cookie, if any. */
  current(req: Pick<RouteRequest, 'header'>, now = Date.now()): IssuedSession | undefined {
    const id = cookieValue(req.header('cookie'), SESSION_COOKIE);
    const session = id ? this.sessions.get(id) : undefined;
    if (!session) return undefined;
    if (session.expiresAt <= now || session.lastUsed + SESSION_IDLE_MS <= now) {
      this.sessions.delete(session.id);
      return undefined;
    }
    session.lastUsed = now;
    return { id: session.id, csrfToken: session.csrfToken, expiresAt: new Date(session.expiresAt), principal: session.principal };
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  /**
   * The admin of a request made with the session cookie. A request with an `Authorization`
   * header is left to the bearer path (a cross-site page cannot set that header). A change
   * without the session's CSRF token is refused with 403.
   */
  async resolve(req: RouteRequest): Promise<Principal | undefined> {
    if (req.header('authorization') !== undefined) return undefined;
    const session = this.current(req);
    if (!session || !(await this.stillValid(session.id))) return undefined;
    if (UNSAFE_METHODS.has(req.method.toUpperCase())) {
      const sent = req.header('x-csrf-token');
      if (!sent || !sameSecret(sent, session.csrfToken)) {
        throw new HttpError(403, 'csrf_token_invalid', 'This change needs the X-CSRF-Token header of the admin session; reload the admin page and try again.');
      }
    }
    if (req.tenantHint !== undefined && req.tenantHint !== session.principal.tenant) {
      throw new HttpError(403, 'forbidden', 'This admin session is not valid for this tenant.');
    }
    return session.principal;
  }

  /**
   * A session opened with an admin API key lasts no longer than the key: revoked or expired, the
   * session ends (checked at most every {@link KEY_RECHECK_MS}).
   */
  async stillValid(id: string, now = Date.now()): Promise<boolean> {
    const session = this.sessions.get(id);
    if (!session) return false;
    const keyId = session.principal.attributes.keyId;
    if (typeof keyId !== 'string' || now - session.keyCheckedAt < KEY_RECHECK_MS) return true;
    const key = await this.keys.get(session.principal.tenant, keyId);
    if (!key || key.revokedAt || (key.expiresAt && key.expiresAt.getTime() <= now)) {
      this.sessions.delete(id);
      return false;
    }
    session.keyCheckedAt = now;
    return true;
  }

  /** `Set-Cookie` for a new session. */
  cookie(session: IssuedSession): string {
    const maxAge = Math.floor((session.expiresAt.getTime() - Date.now()) / 1000);
    return `${SESSION_COOKIE}=${session.id}; ${this.attributes()}; Max-Age=${maxAge}`;
  }

  /** `Set-Cookie` that removes the session cookie. */
  clearingCookie(): string {
    return `${SESSION_COOKIE}=; ${this.attributes()}; Max-Age=0`;
  }

  private attributes(): string {
    const secure = this.config.publicUrl.startsWith('https:') ? '; Secure' : '';
    return `Path=${this.config.basePath}/; HttpOnly; SameSite=Strict${secure}`;
  }

  private sweep(now: number): void {
    for (const session of this.sessions.values()) {
      if (session.expiresAt <= now || session.lastUsed + SESSION_IDLE_MS <= now) this.sessions.delete(session.id);
    }
  }
}
