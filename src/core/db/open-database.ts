import { mkdir } from 'node:fs/promises';
import knexFactory, { type Knex } from 'knex';
import type pg from 'pg';
import type { Database, TenantDb } from '../ports/database.js';
import { KnexTenantDb } from './tenant-db.js';
import { BootError, ConfigError } from '../errors.js';
import { DataDirLock } from './data-dir-lock.js';
import { checkCount, MAX_DURATION_MS } from '../kernel/option-checks.js';
import { answeredByServer, readAttemptsFor, readSurvivingLostConnection, replyTimedOut } from './lost-connection.js';
import type { Logger } from '../log/logger.js';

export interface DatabaseOptions {
  /** A PostgreSQL connection string. Defaults to `DATABASE_URL`; without one the embedded database is used. */
  readonly url?: string;
  /** Where the embedded database keeps its files (default `./.gatehouse/data`); `memory://` keeps it in memory. */
  readonly dataDir?: string;
  /**
   * Use the embedded database even when `DATABASE_URL` is set (a tool or test that must not touch
   * the shared server). Cannot be combined with `url`.
   */
  readonly embedded?: boolean;
  /** A PostgreSQL schema to use instead of `public` (created if missing). */
  readonly schema?: string;
  /** Connection pool bounds for a server database (default 0..10). */
  readonly pool?: { readonly min?: number; readonly max?: number };
  /** Use an existing knex instance; the engine then never destroys it. */
  readonly knex?: Knex;
  /**
   * Where each instance keeps its one listening connection for cross-instance change
   * notifications (LISTEN/NOTIFY). Defaults to `DATABASE_LISTEN_URL`, else the database URL. Set it
   * when `url` goes through a transaction-mode pooler (PgBouncer `pool_mode = transaction`), which
   * cannot keep a LISTEN: point it at the server directly or at a session-mode pool.
   */
  readonly listenUrl?: string;
  /**
   * How long one statement may run on a PostgreSQL server before the server cancels it, in
   * milliseconds: a statement waiting on a lock someone holds, or a database too busy to answer,
   * then fails the request with `503` and `Retry-After` instead of holding it (and its pooled
   * connection) without end. A reply that has not come 5 s after it (a database that stopped
   * answering at the network level) is given up on, and its connection closed. Defaults to
   * `DATABASE_STATEMENT_TIMEOUT_MS`, else 10000; `0` leaves the server's own setting and sets no
   * bound on replies. Migrations are never cut short by either.
   */
  readonly statementTimeoutMs?: number;
}

export const DEFAULT_STATEMENT_TIMEOUT_MS = 10_000;
/**
 * How long past the statement timeout a query waits for the server's reply before the engine gives
 * up on it. The server cancels first; this bounds a database that stopped answering at the network
 * level (packets dropped, no reset), which no server setting can.
 */
export const REPLY_GRACE_MS = 5_000;
/** How long a request waits for a pooled connection, and a new connection for the server's answer. */
export const CONNECT_TIMEOUT_MS = 10_000;
/**
 * Close `connection` when a query on it gives up waiting for its reply: what the connection is in
 * then is unknown (a statement still running, a transaction left open that its ROLLBACK never
 * reached), so it must not be handed out again. Closing it makes the pool drop it, and the server
 * rolls back whatever the connection left open once it sees the connection gone.
 */
function closeOnReplyTimeout(connection: pg.Client): void {
  const query = connection.query.bind(connection) as (...args: unknown[]) => unknown;
  const close = (error: unknown): void => {
    if (replyTimedOut(error)) (connection as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  };
  (connection as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    const callback = args.at(-1);
    if (typeof callback === 'function') {
      args[args.length - 1] = (error: unknown, ...rest: unknown[]) => {
        close(error);
        return (callback as (...a: unknown[]) => unknown)(error, ...rest);
      };
      return query(...args);
    }
    const result = query(...args);
    if (result instanceof Promise) result.catch(close);
    return result;
  };
}

/** The statement timeout `options` ask for, checked. */
function statementTimeout(options: DatabaseOptions): number {
  const check = (value: number, source: string, given: string): number => {
    if (!Number.isSafeInteger(value) || value < 0 || value > MAX_DURATION_MS) {
      throw new ConfigError(`${source} must be a whole number of milliseconds (0 for no limit), not ${given}.`);
    }
    return value;
  };
  if (options.statementTimeoutMs !== undefined) return check(options.statementTimeoutMs, 'database.statementTimeoutMs', String(options.statementTimeoutMs));
  const fromEnv = process.env.DATABASE_STATEMENT_TIMEOUT_MS;
  if (fromEnv === undefined || fromEnv.trim() === '') return DEFAULT_STATEMENT_TIMEOUT_MS;
  return check(/^\s*\d+\s*$/.test(fromEnv) ? Number(fromEnv) : Number.NaN, 'DATABASE_STATEMENT_TIMEOUT_MS', JSON.stringify(fromEnv));
}

/** Pool bounds the pool can keep: whole numbers, at least one connection, `min` ≤ `max`. */
function checkPool(pool: DatabaseOptions['pool']): void {
  if (pool === undefined) return;
  const max = pool.max === undefined ? 10 : checkCount(pool.max, 'database.pool.max');
  if (pool.min !== undefined && (typeof pool.min !== 'number' || !Number.isSafeInteger(pool.min) || pool.min < 0 || pool.min > max)) {
    throw new ConfigError(`database.pool.min must be a whole number from 0 to database.pool.max (${max}), not ${String(pool.min)}.`);
  }
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The schemes of a connection string the PostgreSQL driver reads. */
const URL_SCHEMES = new Set(['postgres:', 'postgresql:', 'socket:']);

/** Stands in for the empty host of `postgres://user@/database?host=/socket/dir` while the URL is read. */
const EMPTY_HOST = 'empty-host.invalid';

/**
 * `url` as messages may show it (without its password, or any value of a `password` parameter),
 * after refusing a connection string the driver would misread: it takes anything but a URL of its
 * schemes for a host name. The forms the driver reads for a Unix socket pass: a path
 * (`/var/run/postgresql mydb`), and a URL whose host is empty or in the `host` parameter.
 */
function checkUrl(url: string, source: string): string {
  if (url.startsWith('/')) return url;
  let parsed: URL | undefined;
  let emptyHost = false;
  try {
    parsed = new URL(url);
  } catch {
    // `user@/database`: a URL with credentials needs a host; the driver reads the host as empty.
    try {
      parsed = new URL(url.replace('@/', `@${EMPTY_HOST}/`));
      emptyHost = true;
    } catch {
      throw new ConfigError(`${source} is not a URL: write postgres://user:password@host:5432/database.`);
    }
  }
  parsed.password = '';
  if (parsed.searchParams.has('password')) parsed.searchParams.set('password', '');
  const shown = emptyHost ? parsed.href.replace(`@${EMPTY_HOST}/`, '@/') : parsed.href;
  if (!URL_SCHEMES.has(parsed.protocol)) throw new ConfigError(`${source} is not a PostgreSQL URL (${shown}): write postgres://user:password@host:5432/database.`);
  return shown;
}

/**
 * Whether a statement failed for want of a connection, not by itself: a socket error, a connection
 * lost or never made (no code), or the server refusing the connection (classes 08 connection, 28
 * authorization, 3D no such database, 53 out of connections, 57P starting or shutting down).
 */
function connectFailed(error: unknown): boolean {
  return !answeredByServer(error) || /^(08|28|3D|53|57P)/.test(String((error as { code: string }).code));
}

/**
 * The first connection to a PostgreSQL server failed: say which server, and whether it answered
 * (a database or role that does not exist, a password refused) or could not be reached.
 */
function unreachable(error: unknown, shown: string, source: string): BootError {
  const message = error instanceof Error ? error.message : String(error);
  return new BootError(
    answeredByServer(error)
      ? `The database server at ${shown} refused the connection: ${message}. Check ${source}.`
      : `Cannot connect to the database at ${shown}: ${message}. Check ${source} and that PostgreSQL is running and reachable there.`,
    { cause: error },
  );
}

type KnexClientClass = new (...args: never[]) => { processResponse(obj: { method?: string }, runner: unknown): unknown };

interface EmbeddedModules {
  readonly PGlite: typeof import('@electric-sql/pglite').PGlite;
  readonly ClientPGlite: KnexClientClass;
  readonly EmbeddedClient: KnexClientClass;
}

let embeddedModules: Promise<EmbeddedModules> | undefined;

/**
 * The embedded database and its knex dialect, loaded on first use: an engine on a PostgreSQL
 * server never needs them, and they weigh on every start.
 */
function loadEmbedded(): Promise<EmbeddedModules> {
  embeddedModules ??= Promise.all([import('knex-pglite'), import('@electric-sql/pglite')]).then(([dialect, { PGlite }]) => {
    const ClientPGlite = dialect.default as unknown as KnexClientClass;
    /**
     * The embedded dialect derives the SQL command from knex's method name, which is `del` for a
     * delete: without this, `delete()` resolves to a result object instead of the row count that the
     * PostgreSQL dialect returns.
     */
    class EmbeddedClient extends ClientPGlite {
      override processResponse(obj: { method?: string }, runner: unknown): unknown {
        return super.processResponse(obj.method === 'del' ? { ...obj, method: 'delete' } : obj, runner);
      }
    }
    return { PGlite, ClientPGlite, EmbeddedClient };
  });
  return embeddedModules;
}

export class KnexDatabase implements Database {
  constructor(
    readonly knex: Knex,
    readonly kind: 'postgres' | 'embedded',
    private readonly owned: boolean,
    /** The listening connection of the change feed (a server database only). */
    readonly listenConnection?: string | Record<string, unknown>,
    /** The embedded database's directory lock, released on close. */
    private readonly lock?: DataDirLock,
  ) {}

  forTenant(tenant: string, trx?: Knex.Transaction): TenantDb {
    return new KnexTenantDb(tenant, trx ?? this.knex);
  }

  read<T>(run: () => PromiseLike<T>): Promise<T> {
    return readSurvivingLostConnection(run, readAttemptsFor(this.knex));
  }

  async close(): Promise<void> {
    if (!this.owned) return;
    try {
      await this.knex.destroy();
    } finally {
      this.lock?.release();
    }
  }
}

async function isPgliteKnex(knex: Knex): Promise<boolean> {
  return knex.client instanceof (await loadEmbedded()).ClientPGlite;
}

/**
 * What knex says of its connections ("Connection Error: …" when a pooled connection dies) goes
 * to the engine's logger as structured lines, not to the console.
 */
function knexLog(logger: Logger): Knex.Config['log'] {
  const fields = { component: 'database' };
  // knex writes an error's stack into some messages ("Acquire connection error: Error: …\n    at …"): the first line says it.
  const line = (message: unknown): string => String(message).split(/\n\s+at /, 1)[0]!;
  return {
    debug: (message: unknown) => logger.debug(fields, line(message)),
    warn: (message: unknown) => logger.warn(fields, line(message)),
    error: (message: unknown) => logger.error(fields, line(message)),
    deprecate: (method: unknown, alternative: unknown) => logger.warn(fields, `${String(method)} is deprecated, use ${String(alternative)}`),
  };
}

/**
 * Open the engine's database: a PostgreSQL server when a URL is given (or `DATABASE_URL` is set)
 * and `embedded` is not asked for, else the embedded one. With `logger`, knex's own messages go
 * there instead of the console.
 */
export async function openDatabase(options: DatabaseOptions = {}, { logger }: { readonly logger?: Logger } = {}): Promise<KnexDatabase> {
  if (options.knex) {
    const embedded = await isPgliteKnex(options.knex);
    const settings = (options.knex.client as { connectionSettings?: string | Record<string, unknown> }).connectionSettings;
    return new KnexDatabase(options.knex, embedded ? 'embedded' : 'postgres', false, embedded ? undefined : listenConnection(options, settings));
  }
  if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
    throw new ConfigError(`Database schema "${options.schema}" is invalid: use lowercase letters, digits and _.`);
  }
  if (options.embedded && options.url !== undefined) {
    throw new ConfigError('The database options name both a url and embedded: true; give one of them.');
  }
  checkPool(options.pool);
  const url = options.embedded ? undefined : (options.url ?? process.env.DATABASE_URL);
  const source = options.url !== undefined ? 'database.url' : 'DATABASE_URL';
  const shown = url ? checkUrl(url, source) : undefined;
  const listen = url ? listenConnection(options, url) : undefined;
  const searchPath = options.schema ? [options.schema] : undefined;
  let knex: Knex;
  let kind: 'postgres' | 'embedded';
  let lock: DataDirLock | undefined;
  let embeddedDir: string | undefined;
  if (url) {
    kind = 'postgres';
    const timeoutMs = statementTimeout(options);
    knex = knexFactory({
      client: 'pg',
      connection: {
        connectionString: url,
        // A connection the server never answers (a host that accepts and then stays silent) is given
        // up and its socket closed, as the pool gives up waiting for it: not left open for the outage.
        connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
        ...(timeoutMs > 0 ? { query_timeout: Math.min(timeoutMs + REPLY_GRACE_MS, MAX_DURATION_MS) } : {}),
      },
      searchPath,
      pool: {
        min: options.pool?.min ?? 0,
        max: options.pool?.max ?? 10,
        // Set on each new connection (not as a startup parameter, which poolers such as PgBouncer refuse).
        ...(timeoutMs > 0
          ? {
              afterCreate: (connection: pg.Client, done: (error: Error | null, connection: pg.Client) => void) => {
                closeOnReplyTimeout(connection);
                connection.query(`set statement_timeout = ${timeoutMs}`).then(
                  () => done(null, connection),
                  (error: Error) => done(error, connection),
                );
              },
            }
          : {}),
      },
      acquireConnectionTimeout: CONNECT_TIMEOUT_MS,
      ...(logger ? { log: knexLog(logger) } : {}),
    });
  } else {
    kind = 'embedded';
    const dataDir = options.dataDir ?? './.gatehouse/data';
    embeddedDir = dataDir;
    if (!dataDir.startsWith('memory://')) {
      await mkdir(dataDir, { recursive: true }).catch((error: unknown) => {
        throw new BootError(`The embedded database's directory ${dataDir} could not be created: ${(error as Error).message}.`, { cause: error });
      });
      lock = DataDirLock.acquire(dataDir);
    }
    const { PGlite, EmbeddedClient } = await loadEmbedded();
    const pglite = new PGlite(dataDir);
    knex = knexFactory({
      client: EmbeddedClient as unknown as typeof knexFactory.Client,
      connection: { pglite } as unknown as Knex.StaticConnectionConfig,
      searchPath,
      ...(logger ? { log: knexLog(logger) } : {}),
    });
  }
  try {
    // A search path may name a schema that does not exist yet; create it through the same pool. The
    // first statement also tells at once a wrong URL, a server that is down, or a data directory the
    // embedded database cannot use.
    await (options.schema ? knex.raw('create schema if not exists ??', [options.schema]) : knex.raw('select 1'));
  } catch (error) {
    await knex.destroy().catch(() => undefined);
    lock?.release();
    if (embeddedDir !== undefined) {
      throw new BootError(`The embedded database in ${embeddedDir} could not be opened: ${(error as Error).message}. Its directory must hold only an embedded database's files (or nothing yet).`, { cause: error });
    }
    throw shown !== undefined && connectFailed(error) ? unreachable(error, shown, source) : error;
  }
  return new KnexDatabase(knex, kind, true, kind === 'postgres' ? listen : undefined, lock);
}

function listenConnection(options: DatabaseOptions, fallback: string | Record<string, unknown> | undefined): string | Record<string, unknown> | undefined {
  const url = options.listenUrl ?? process.env.DATABASE_LISTEN_URL;
  if (url === undefined) return fallback;
  checkUrl(url, options.listenUrl !== undefined ? 'database.listenUrl' : 'DATABASE_LISTEN_URL');
  return url;
}
