import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { inject, injectable } from 'inversify';
import { API_KEYS_CHANGED, ApiKeyStore, BackgroundWork, ChangeFeed, Database, EngineConfig, HttpError, Logger, safeLog, storableJson, type Principal, type RouteRequest } from '../../../core/index.js';
import type { AdminSessionResolver } from '../admin/admin-guard.js';

/** Name of the browser admin session cookie. */
export const SESSION_COOKIE = 'gatehouse_admin';
/** How long a session lives from sign-in, whatever its use. */
export const SESSION_LIFETIME_MS = 8 * 60 * 60 * 1000;
/** A session unused this long ends. */
export const SESSION_IDLE_MS = 30 * 60 * 1000;
/** How often a session signed in with an API key checks that the key is still valid. */
export const KEY_RECHECK_MS = 30_000;
/** Sessions cached in memory at most (the oldest is dropped past it). */
const MAX_CACHED = 10_000;
/** How long a session read from the database is reused before asking it again (ends are pushed). */
const CACHE_TTL_MS = 30_000;
const TOUCH_INTERVAL_MS = 10_000;
/** Published when an admin signs out or a session ends: every instance forgets it. */
export const ADMIN_SESSION_ENDED = 'ee.admin-sessions.ended';

const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

interface AdminSession {
  readonly id: string;
  readonly csrfToken: string;
  readonly principal: Principal;
  readonly expiresAt: number;
  lastUsed: number;
  /** When the admin key behind the session was last found valid. */
  keyCheckedAt: number;
  /** When this instance read it from the database. */
  loadedAt: number;
}

interface AdminSessionRow {
  id_hash: string;
  csrf_token: string;
  tenant: string;
  principal: unknown;
  expires_at: Date | string;
  last_used_at: Date | string;
  key_checked_at: Date | string;
}

/** A signed-in session as the sign-in route reports it. */
export interface IssuedSession {
  readonly id: string;
  readonly csrfToken: string;
  readonly expiresAt: Date;
  readonly principal: Principal;
}

const token = (): string => randomBytes(32).toString('base64url');
const hashOf = (id: string): string => createHash('sha256').update(id).digest('hex');

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
 * Server-side browser sessions of admins, kept in the database (`admin_sessions`, the id stored
 * hashed) so that a signed-in admin is known to every instance of a fleet: a session id in an
 * HttpOnly, SameSite=Strict cookie, and a CSRF token the page must echo in `X-CSRF-Token` on every
 * change. Sessions read from the database are cached briefly; a sign-out is pushed to every
 * instance through the change feed, and a key revocation makes every instance recheck the keys
 * behind its sessions.
 */
/** The background job that writes the batched `last_used_at` of admin sessions. */
export const ADMIN_SESSION_TOUCH_JOB = 'ee.admin-sessions.last-used';

@injectable()
export class AdminSessions implements AdminSessionResolver {
  private readonly sessions = new Map<string, AdminSession>();
  private readonly touched = new Map<string, number>();
  private touchTimer: NodeJS.Timeout | undefined;

  constructor(
    @inject(EngineConfig) private readonly config: EngineConfig,
    @inject(ApiKeyStore) private readonly keys: ApiKeyStore,
    @inject(Database) private readonly database: Database,
    @inject(ChangeFeed) private readonly changes: ChangeFeed,
    @inject(Logger) private readonly logger: Logger,
    @inject(BackgroundWork) private readonly work: BackgroundWork,
  ) {
    changes.subscribe(
      ADMIN_SESSION_ENDED,
      (payload) => {
        if (typeof payload.idHash === 'string') this.sessions.delete(payload.idHash);
      },
      () => this.sessions.clear(),
    );
    // A key revoked anywhere: check the keys behind the sessions again on their next use.
    changes.subscribe(API_KEYS_CHANGED, () => {
      for (const session of this.sessions.values()) session.keyCheckedAt = 0;
    });
  }

  async create(principal: Principal, now = Date.now()): Promise<IssuedSession> {
    const id = token();
    const csrfToken = token();
    const expiresAt = now + SESSION_LIFETIME_MS;
    await this.database.knex('admin_sessions').insert({
      id_hash: hashOf(id),
      csrf_token: csrfToken,
      tenant: principal.tenant,
      // JSON text: the label is the host's, exactly as given (jsonb refuses NUL and lone surrogates).
      principal: storableJson(principal),
      expires_at: new Date(expiresAt),
      last_used_at: new Date(now),
      key_checked_at: new Date(now),
    });
    this.remember({ id: hashOf(id), csrfToken, principal, expiresAt, lastUsed: now, keyCheckedAt: now, loadedAt: Date.now() });
    return { id, csrfToken, expiresAt: new Date(expiresAt), principal };
  }

  /** The live session named by the request's cookie, if any. */
  async current(req: Pick<RouteRequest, 'header'>, now = Date.now()): Promise<IssuedSession | undefined> {
    const id = cookieValue(req.header('cookie'), SESSION_COOKIE);
    if (!id || id.length > 200) return undefined;
    const session = await this.load(hashOf(id));
    if (!session) return undefined;
    if (session.expiresAt <= now || session.lastUsed + SESSION_IDLE_MS <= now) {
      await this.end(id);
      return undefined;
    }
    session.lastUsed = now;
    this.touch(session.id, session.lastUsed);
    return { id, csrfToken: session.csrfToken, expiresAt: new Date(session.expiresAt), principal: session.principal };
  }

  /** End a session on every instance. */
  async end(id: string): Promise<void> {
    const idHash = hashOf(id);
    this.sessions.delete(idHash);
    this.touched.delete(idHash);
    await this.database.knex('admin_sessions').where({ id_hash: idHash }).delete();
    await this.changes.publish(ADMIN_SESSION_ENDED, { idHash }).catch((error: unknown) => {
      safeLog(this.logger, 'warn', { err: error }, 'could not tell other instances about a sign-out; they notice within a minute');
    });
  }

  /**
   * The admin of a request made with the session cookie. A request with an `Authorization`
   * header is left to the bearer path (a cross-site page cannot set that header). A change
   * without the session's CSRF token is refused with 403.
   */
  async resolve(req: RouteRequest): Promise<Principal | undefined> {
    if (req.header('authorization') !== undefined) return undefined;
    const session = await this.current(req);
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
   * session ends (checked at most every {@link KEY_RECHECK_MS}, and on the next use after a key
   * revocation anywhere in the fleet).
   */
  async stillValid(id: string, now = Date.now()): Promise<boolean> {
    const session = await this.load(hashOf(id));
    if (!session) return false;
    const keyId = session.principal.attributes.keyId;
    if (typeof keyId !== 'string' || (session.keyCheckedAt !== 0 && now - session.keyCheckedAt < KEY_RECHECK_MS)) return true;
    const key = await this.keys.get(session.principal.tenant, keyId);
    if (!key || key.revokedAt || (key.expiresAt && key.expiresAt.getTime() <= now)) {
      await this.end(id);
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

  /**
   * Write the batched `last_used_at` of sessions used here, under the fleet's advisory lock for
   * this job (waiting for it): two instances never write these rows at once, and a time never
   * moves back.
   */
  async flushTouches(): Promise<void> {
    if (this.touchTimer) clearTimeout(this.touchTimer);
    this.touchTimer = undefined;
    const batch = [...this.touched];
    this.touched.clear();
    if (batch.length === 0) return;
    await this.work
      .runSerialized(ADMIN_SESSION_TOUCH_JOB, async (trx) => {
        for (const [idHash, at] of batch) {
          await trx('admin_sessions').where({ id_hash: idHash }).update({ last_used_at: trx.raw('greatest(last_used_at, ?)', [new Date(at)]) });
        }
      })
      .catch((error: unknown) => safeLog(this.logger, 'warn', { err: error }, 'could not record admin session activity'));
  }

  private attributes(): string {
    const secure = this.config.publicUrl.startsWith('https:') ? '; Secure' : '';
    return `Path=${this.config.basePath}/; HttpOnly; SameSite=Strict${secure}`;
  }

  private touch(idHash: string, at: number): void {
    this.touched.set(idHash, at);
    this.touchTimer ??= setTimeout(() => void this.flushTouches(), TOUCH_INTERVAL_MS).unref();
  }

  private async load(idHash: string): Promise<AdminSession | undefined> {
    const cached = this.sessions.get(idHash);
    if (cached && Date.now() - cached.loadedAt < CACHE_TTL_MS) return cached;
    const row = (await this.database.read(() => this.database.knex('admin_sessions').where({ id_hash: idHash }).first())) as AdminSessionRow | undefined;
    if (!row) {
      this.sessions.delete(idHash);
      return undefined;
    }
    const principal = (typeof row.principal === 'string' ? JSON.parse(row.principal) : row.principal) as Principal;
    return this.remember({
      id: idHash,
      csrfToken: row.csrf_token,
      principal,
      expiresAt: new Date(row.expires_at).getTime(),
      lastUsed: Math.max(new Date(row.last_used_at).getTime(), cached?.lastUsed ?? 0),
      keyCheckedAt: Math.max(new Date(row.key_checked_at).getTime(), cached?.keyCheckedAt ?? 0),
      loadedAt: Date.now(),
    });
  }

  private remember(session: AdminSession): AdminSession {
    while (this.sessions.size >= MAX_CACHED) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(session.id, session);
    return session;
  }
}
