import { randomUUID } from 'node:crypto';
import { inject, injectable } from 'inversify';
import { ErrorCode, ProtocolError, type JsonRpcId } from './jsonrpc.js';
import type { McpLogLevel } from './notification-levels.js';
import { BoundedCache } from '../cache/bounded-cache.js';
import { Database } from '../ports/database.js';
import { ChangeFeed } from '../ports/change-feed.js';
import { Logger, safeLog } from '../log/logger.js';

/** Published when a client's answer to a server→client request was kept for the instance awaiting it. */
export const CLIENT_RESPONSE_POSTED = 'mcp.client-responses.posted';
/** Published when a client cancelled a request that is not running on the instance the cancellation reached. */
export const REQUEST_CANCELLED = 'mcp.requests.cancelled';
/** The most of a cancellation's reason passed to other instances (the change feed carries small payloads). */
const MAX_REASON = 500;

const MAX_LEVELS = 10_000;
const LEVEL_TTL_MS = 24 * 60 * 60_000;
/** The ids this engine gives its server→client requests; an answer to any other cannot be awaited anywhere. */
const OUR_REQUEST_ID = /^gatehouse-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Pending {
  readonly owner: string;
  resolve(result: Record<string, unknown>): void;
  reject(error: unknown): void;
}

/** An error the client answered a server→client request with. */
export class ClientRequestError extends ProtocolError {}

/** A client's answer to a server→client request, as posted. */
export interface ClientResponse {
  id?: unknown;
  result?: unknown;
  error?: { code?: unknown; message?: unknown; data?: unknown };
}

/** Why a request the client cancelled (`notifications/cancelled`) was aborted: its message is the client's reason. */
export class RequestCancelledError extends Error {
  override readonly name = 'RequestCancelledError';
}

/** What a tracked request can be told: stop. */
export interface Abortable {
  abort(reason?: unknown): void;
}

/** A reason as passed on to the client: one line of at most 200 characters. */
const clip = (text: string): string => (text.length > 200 ? `${text.slice(0, 199)}…` : text).replace(/\s+/g, ' ');

// `1` and `"1"` are different JSON-RPC ids.
const inFlightKey = (owner: string, id: JsonRpcId): string => `${owner}\u0000${typeof id === 'number' ? 'n' : 's'}${id}`;

/**
 * The bookkeeping that lets separate HTTP requests refer to each other: in-flight requests (for
 * `notifications/cancelled`), server→client requests awaiting the client's answer, and log levels
 * of clients without a session. Every entry is bound to the principal (and session) it belongs
 * to, so one caller can never cancel or answer for another.
 *
 * In a fleet the client's answer may reach another instance than the one whose handler waits for
 * it: that instance keeps the answer in PostgreSQL (`mcp_client_responses`) and says so on the
 * change feed; the waiting instance takes it from there. Answers that stay on one instance never
 * touch the database. A cancellation of a request running on another instance is passed on the
 * change feed too (with its owner, so it still stops only that caller's request).
 */
@injectable()
export class ClientExchange {
  /** Running requests by owner and id: one request as itself (the common case), several as a set. */
  private readonly inFlight = new Map<string, Abortable | Set<Abortable>>();
  private readonly pending = new Map<string, Pending>();
  /**
   * The waiters of each call's abort signal: one listener per signal however many client requests
   * the call has waiting (a listener each would trip Node's leak warning past ten).
   */
  private readonly aborters = new WeakMap<AbortSignal, Set<() => void>>();
  private readonly levels = new BoundedCache<McpLogLevel>({ maxEntries: MAX_LEVELS, ttlMs: LEVEL_TTL_MS, sizeOf: () => 64 });

  constructor(
    @inject(Database) private readonly database: Database,
    @inject(ChangeFeed) private readonly changes: ChangeFeed,
    @inject(Logger) private readonly logger: Logger,
  ) {
    changes.subscribe(
      CLIENT_RESPONSE_POSTED,
      (payload) => {
        if (typeof payload.request === 'string' && this.pending.has(payload.request)) void this.collect([payload.request]);
      },
      // Announcements may have been missed: look for the answers of every request still waiting.
      () => {
        if (this.pending.size > 0) void this.collect([...this.pending.keys()]);
      },
    );
    changes.subscribe(REQUEST_CANCELLED, ({ owner, id, reason }) => {
      if (typeof owner === 'string' && (typeof id === 'string' || typeof id === 'number')) this.cancelHere(owner, id, typeof reason === 'string' ? reason : undefined);
    });
  }

  /** Track a running request; returns the function that forgets it. */
  track(owner: string, id: JsonRpcId, controller: Abortable): () => void {
    const key = inFlightKey(owner, id);
    const present = this.inFlight.get(key);
    if (present === undefined) this.inFlight.set(key, controller);
    else if (present instanceof Set) present.add(controller);
    else this.inFlight.set(key, new Set([present, controller]));
    return () => {
      const entry = this.inFlight.get(key);
      if (entry === controller) this.inFlight.delete(key);
      else if (entry instanceof Set) {
        entry.delete(controller);
        if (entry.size === 0) this.inFlight.delete(key);
      }
    };
  }

  /**
   * Abort the caller's in-flight request with this id. Without a session, clients sharing one
   * credential share one id space: every matching request of that credential is aborted.
   */
  cancel(owner: string, id: JsonRpcId, reason: string | undefined): boolean {
    if (this.cancelHere(owner, id, reason)) return true;
    // In a fleet the request may run on another instance (a client's requests need not all reach one).
    if (this.changes.state().mode !== 'in-process') {
      this.changes.publish(REQUEST_CANCELLED, { owner, id, reason: reason === undefined ? null : reason.slice(0, MAX_REASON) }).catch((error: unknown) => {
        safeLog(this.logger, 'warn', { err: error }, 'could not pass a cancellation on to the other instances; a request running on another one runs to its end');
      });
    }
    return false;
  }

  /** Abort the caller's matching requests running on this instance; false when there is none. */
  private cancelHere(owner: string, id: JsonRpcId, reason: string | undefined): boolean {
    const entry = this.inFlight.get(inFlightKey(owner, id));
    if (!entry) return false;
    for (const controller of entry instanceof Set ? entry : [entry]) controller.abort(new RequestCancelledError(reason ?? 'Cancelled by the client.'));
    return true;
  }

  /** Register a server→client request; `send` delivers it. Resolves with the client's result. */
  request(owner: string, method: string, params: Record<string, unknown>, send: (message: unknown) => void, signal: AbortSignal, timeoutMs: number): Promise<Record<string, unknown>> {
    if (signal.aborted) return Promise.reject(signal.reason ?? new Error('Aborted.'));
    const id = `gatehouse-${randomUUID()}`;
    // An answer no longer awaited (the call stopped, or the client took too long): the client may
    // still be asking its user, so it is told, as MCP's cancellation goes either way.
    const withdraw = (reason: string): void => {
      try {
        send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason } });
      } catch (error) {
        safeLog(this.logger, 'debug', { err: error, method }, 'could not tell the client that a request to it was withdrawn');
      }
    };
    // What was sent is not kept while the answer is awaited: a large request must not stay in
    // memory for as long as the client takes to answer (or never does).
    const answer = this.awaitAnswer(owner, id, method, signal, timeoutMs, withdraw);
    try {
      send({ jsonrpc: '2.0', id, method, params });
    } catch (error) {
      this.pending.get(id)?.reject(error);
    }
    return answer;
  }

  private awaitAnswer(owner: string, id: string, method: string, signal: AbortSignal, timeoutMs: number, withdraw: (reason: string) => void): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        this.stopWatching(signal, onAbort);
        this.pending.delete(id);
      };
      const onAbort = (): void => {
        done();
        withdraw(`The call that sent ${method} stopped: ${clip((signal.reason as Error | undefined)?.message ?? 'aborted')}`);
        reject(signal.reason ?? new Error('Aborted.'));
      };
      const timer = setTimeout(() => {
        done();
        withdraw(`No answer within ${timeoutMs} ms: it is no longer awaited.`);
        reject(new ProtocolError(ErrorCode.RequestTimeout, `The client did not answer ${method} within ${timeoutMs} ms.`));
      }, timeoutMs);
      if (signal.aborted) {
        done();
        return reject(signal.reason ?? new Error('Aborted.'));
      }
      this.watch(signal, onAbort);
      this.pending.set(id, {
        owner,
        resolve: (result) => {
          done();
          resolve(result);
        },
        reject: (error) => {
          done();
          reject(error);
        },
      });
    });
  }

  private watch(signal: AbortSignal, onAbort: () => void): void {
    let waiters = this.aborters.get(signal);
    if (!waiters) {
      const all = (waiters = new Set());
      this.aborters.set(signal, all);
      signal.addEventListener('abort', () => {
        this.aborters.delete(signal);
        for (const waiter of all) waiter();
      }, { once: true });
    }
    waiters.add(onAbort);
  }

  private stopWatching(signal: AbortSignal, onAbort: () => void): void {
    this.aborters.get(signal)?.delete(onAbort);
  }

  /**
   * Deliver a response the client posted: to the handler waiting for it on this instance, else
   * (in a fleet) to whichever instance's handler waits for it. Resolves once it is delivered or
   * kept for that instance; false when nothing can await it.
   */
  async respond(owner: string, message: ClientResponse): Promise<boolean> {
    if (typeof message.id !== 'string') return false;
    if (this.settle(owner, message)) return true;
    // Ids this engine gives its requests; anything else cannot await an answer anywhere.
    if (!OUR_REQUEST_ID.test(message.id)) return false;
    // The embedded database serves one instance: no other instance can be waiting.
    if (this.changes.state().mode === 'in-process') return false;
    const [row] = (await this.database
      .knex('mcp_client_responses')
      .insert({ request_id: message.id, owner: JSON.stringify(owner), message: JSON.stringify(message) })
      .returning('id')) as ({ id: string | number } | string | number)[];
    const id = String(typeof row === 'object' ? row.id : row);
    await this.changes.publish(CLIENT_RESPONSE_POSTED, { request: message.id, row: id }).catch((error: unknown) => {
      safeLog(this.logger, 'warn', { err: error }, 'could not announce a client response; the waiting instance finds it when its change feed is back');
    });
    return true;
  }

  /** Take the kept answers to these waiting requests and deliver them. */
  private async collect(requestIds: string[]): Promise<void> {
    try {
      const rows = (await this.database.knex('mcp_client_responses').whereIn('request_id', requestIds).orderBy('id').select('id', 'owner', 'message')) as {
        id: string | number;
        owner: string;
        message: string;
      }[];
      for (const row of rows) {
        const message = JSON.parse(row.message) as ClientResponse;
        const owner = JSON.parse(row.owner) as string;
        if (!this.settle(owner, message)) continue;
        await this.database.knex('mcp_client_responses').where({ id: row.id }).delete();
      }
    } catch (error) {
      safeLog(this.logger, 'warn', { err: error }, 'could not take a client response kept by another instance');
    }
  }

  /** Resolve the waiting request of this caller the message answers; false when there is none here. */
  private settle(owner: string, message: ClientResponse): boolean {
    const pending = typeof message.id === 'string' ? this.pending.get(message.id) : undefined;
    if (!pending || pending.owner !== owner) return false;
    if (message.error) {
      const code = typeof message.error.code === 'number' ? message.error.code : ErrorCode.InternalError;
      pending.reject(new ClientRequestError(code, typeof message.error.message === 'string' ? message.error.message : 'The client returned an error.', message.error.data));
    } else {
      const result = message.result;
      pending.resolve(typeof result === 'object' && result !== null ? (result as Record<string, unknown>) : {});
    }
    return true;
  }

  levelFor(owner: string): McpLogLevel | undefined {
    return this.levels.get(owner);
  }

  /** Log levels of session-less clients held now (at most 10,000). */
  get logLevelCount(): number {
    return this.levels.size;
  }

  /** Remember a session-less client's log level (bounded; a day at most, least recently used first out). */
  setLevel(owner: string, level: McpLogLevel): void {
    this.levels.set(owner, level);
  }
}
