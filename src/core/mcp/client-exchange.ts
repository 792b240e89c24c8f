import { randomUUID } from 'node:crypto';
import { injectable } from 'inversify';
import { ErrorCode } from '@modelcontextprotocol/sdk/types.js';
import { ProtocolError, type JsonRpcId } from './jsonrpc.js';
import type { McpLogLevel } from './notification-levels.js';
import { BoundedCache } from '../cache/bounded-cache.js';

const MAX_LEVELS = 10_000;
const LEVEL_TTL_MS = 24 * 60 * 60_000;

interface Pending {
  readonly owner: string;
  resolve(result: Record<string, unknown>): void;
  reject(error: unknown): void;
}

/** An error the client answered a server→client request with. */
export class ClientRequestError extends ProtocolError {}

/**
 * The per-instance bookkeeping that lets separate HTTP requests refer to each other: in-flight
 * requests (for `notifications/cancelled`), server→client requests awaiting the client's answer,
 * and log levels of clients without a session. Every entry is bound to the principal (and
 * session) it belongs to, so one caller can never cancel or answer for another.
 */
/** What a tracked request can be told: stop. */
export interface Abortable {
  abort(reason?: unknown): void;
}

// `1` and `"1"` are different JSON-RPC ids.
const inFlightKey = (owner: string, id: JsonRpcId): string => `${owner}\u0000${typeof id === 'number' ? 'n' : 's'}${id}`;

@injectable()
export class ClientExchange {
  private readonly inFlight = new Map<string, Set<Abortable>>();
  private readonly pending = new Map<string, Pending>();
  private readonly levels = new BoundedCache<McpLogLevel>({ maxEntries: MAX_LEVELS, ttlMs: LEVEL_TTL_MS, sizeOf: () => 64 });

  /** Track a running request; returns the function that forgets it. */
  track(owner: string, id: JsonRpcId, controller: Abortable): () => void {
    const key = inFlightKey(owner, id);
    let set = this.inFlight.get(key);
    if (!set) this.inFlight.set(key, (set = new Set()));
    set.add(controller);
    return () => {
      set.delete(controller);
      if (set.size === 0 && this.inFlight.get(key) === set) this.inFlight.delete(key);
    };
  }

  /**
   * Abort the caller's in-flight request with this id. Without a session, clients sharing one
   * credential share one id space: every matching request of that credential is aborted.
   */
  cancel(owner: string, id: JsonRpcId, reason: string | undefined): boolean {
    const set = this.inFlight.get(inFlightKey(owner, id));
    if (!set) return false;
    for (const controller of set) controller.abort(new Error(reason ?? 'Cancelled by the client.'));
    return true;
  }

  /** Register a server→client request; `send` delivers it. Resolves with the client's result. */
  request(owner: string, method: string, params: Record<string, unknown>, send: (message: unknown) => void, signal: AbortSignal, timeoutMs: number): Promise<Record<string, unknown>> {
    const id = `gatehouse-${randomUUID()}`;
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.pending.delete(id);
      };
      const onAbort = (): void => {
        done();
        reject(signal.reason ?? new Error('Aborted.'));
      };
      const timer = setTimeout(() => {
        done();
        reject(new ProtocolError(ErrorCode.RequestTimeout, `The client did not answer ${method} within ${timeoutMs} ms.`));
      }, timeoutMs);
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
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
      send({ jsonrpc: '2.0', id, method, params });
    });
  }

  /** Deliver a response the client posted. Returns false when nothing of this caller awaits it. */
  respond(owner: string, message: { id?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown; data?: unknown } }): boolean {
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
