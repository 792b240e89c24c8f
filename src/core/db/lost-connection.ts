/** PostgreSQL connection-failure codes (class 08, admin shutdown) and socket errors. */
const LOST_CONNECTION_CODES = new Set(['08000', '08003', '08006', '08001', '57P01', '57P02', '57P03', 'ECONNRESET', 'EPIPE']);

/** The `code` and `message` of a thrown value, where they are strings. */
function fieldsOf(thrown: unknown): { code?: string; message?: string } {
  if (typeof thrown !== 'object' || thrown === null) return {};
  const { code, message } = thrown as { code?: unknown; message?: unknown };
  return { ...(typeof code === 'string' ? { code } : {}), ...(typeof message === 'string' ? { message } : {}) };
}

/**
 * Whether PostgreSQL itself answered with `thrown` (it carries a SQLSTATE; socket errors have codes
 * too, `ECONNREFUSED`): the statement, or the connection, was refused by the server.
 */
export function answeredByServer(thrown: unknown): boolean {
  const { code } = fieldsOf(thrown);
  return code !== undefined && /^(?!E)[0-9A-Z]{5}$/.test(code);
}

/** Whether `thrown` says the database connection was lost (so a commit in flight has an unknown fate). */
export function connectionLost(thrown: unknown): boolean {
  const { code, message } = fieldsOf(thrown);
  if (code !== undefined && LOST_CONNECTION_CODES.has(code)) return true;
  return typeof message === 'string' && /Connection terminated unexpectedly|connection lost|Client has encountered a connection error/i.test(message);
}

/**
 * Whether the engine gave up waiting for the database's reply to a statement (the statement
 * timeout plus a grace, see `database.statementTimeoutMs`): whether the statement ran is unknown.
 * Never retried, as a lost connection's reads are: the next attempt would wait as long.
 */
export function replyTimedOut(thrown: unknown): boolean {
  // knex puts the statement's text in front of the driver's message.
  const { message } = fieldsOf(thrown);
  return message !== undefined && /(?:^| - )Query read timeout$/.test(message);
}

/**
 * Whether a new connection was given up on because the server never answered it (see
 * `connectionTimeoutMillis` in `openDatabase`): no statement of it ran.
 */
export function connectTimedOut(thrown: unknown): boolean {
  const { message } = fieldsOf(thrown);
  return message !== undefined && /^(?:timeout expired|Connection terminated due to connection timeout)$/.test(message);
}

/**
 * Answers of a database that cannot serve now, besides a lost connection: unreachable, starting
 * or shutting down, out of connections, or a statement cancelled (57014: by the statement timeout,
 * a lock held or a database too busy to answer, or by an operator).
 */
const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ETIMEDOUT', '57014', '53300']);

/** Whether `thrown` is the database being unavailable (an outage to answer with 503), not a fault. */
export function databaseUnavailable(thrown: unknown): boolean {
  if (connectionLost(thrown) || replyTimedOut(thrown) || connectTimedOut(thrown)) return true;
  const err = thrown as { code?: unknown; name?: unknown } | null;
  return typeof err?.code === 'string' ? UNAVAILABLE_CODES.has(err.code) : err?.name === 'KnexTimeoutError';
}

/** Attempts a read gets at least: the pool may hand out a few dead connections before it has seen them all go. */
const READ_ATTEMPTS = 3;

/**
 * The attempts a read on `knex` needs to be sure of one connection opened after a restart: one
 * more than the pool can hold. Each failed attempt takes one dead connection out of the pool, and
 * under load the pool may not have heard of any termination yet, so a full pool of dead (or dying)
 * connections can be handed out one after another.
 */
export function readAttemptsFor(knex: { readonly client: unknown }): number {
  const max = (knex.client as { pool?: { max?: unknown } } | undefined)?.pool?.max;
  return Math.max(READ_ATTEMPTS, typeof max === 'number' && Number.isFinite(max) ? max + 1 : 0);
}

/**
 * Run a read, and run it again when its connection turns out to be lost. After a database restart
 * or failover every pooled connection is dead, but the pool learns so only as each one's
 * termination is read: the first reads may be handed connections that are already gone. Between
 * attempts the event loop turns once, so the pool hears of the other terminations that have
 * arrived. A read changes nothing, so running it again is safe; never use this for a write (its
 * first attempt may have committed). A database that stays unreachable still fails the read.
 * `attempts` defaults to three; pass `readAttemptsFor(knex)` so a full pool of dead connections
 * cannot exhaust them.
 */
export async function readSurvivingLostConnection<T>(read: () => PromiseLike<T>, attempts = READ_ATTEMPTS): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (attempt >= attempts || !connectionLost(error)) throw error;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
}
