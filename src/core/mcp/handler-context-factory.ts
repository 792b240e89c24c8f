import { inject, injectable } from 'inversify';
import { Database } from '../ports/database.js';
import { Logger, safeLog } from '../log/logger.js';
import { ClientExchange } from './client-exchange.js';
import { SessionStore, principalKey } from './session-store.js';
import { ErrorCode, ProtocolError } from './jsonrpc.js';
import { passesLevel, type McpLogLevel } from './notification-levels.js';
import type { CallContext } from './call-context.js';
import type { HandlerContext } from './handler-context.js';

const CLIENT_REQUEST_TIMEOUT_MS = 5 * 60_000;

/** What `log` and `progress` answer: one settled promise for every call, never a rejected one. */
const SENT: Promise<void> = Promise.resolve();

/** The client capability a server→client request needs, when a session tells us what the client has. */
const NEEDS_CAPABILITY: Readonly<Record<string, string>> = {
  'sampling/createMessage': 'sampling',
  'elicitation/create': 'elicitation',
  'roots/list': 'roots',
};

/** What a context's lazy members are made from; kept under a symbol key, outside the context's names. */
const STATE = Symbol('gatehouse.handlerContext');

interface ContextState {
  readonly call: CallContext;
  readonly labels: Record<string, unknown>;
  readonly root: Logger;
  readonly database: Database;
  logger?: HandlerContext['logger'];
  db?: HandlerContext['db'];
}

type Stateful = { readonly [STATE]: ContextState };

/**
 * `signal`, `logger` and `db` of every context: own, enumerable accessors (a spread or destructuring
 * reads them, as from a plain object), shared by all contexts rather than made per call.
 */
const LAZY_MEMBERS: PropertyDescriptorMap = {
  signal: {
    enumerable: true,
    configurable: true,
    get(this: Stateful) {
      return this[STATE].call.signal;
    },
  },
  logger: {
    enumerable: true,
    configurable: true,
    get(this: Stateful) {
      const state = this[STATE];
      return (state.logger ??= state.root.child({ ...state.labels, requestId: state.call.requestId, tenant: state.call.principal.tenant }));
    },
  },
  db: {
    enumerable: true,
    configurable: true,
    get(this: Stateful) {
      const state = this[STATE];
      return (state.db ??= state.database.forTenant(state.call.principal.tenant));
    },
  },
};

/** Builds what every handler receives, and the client-facing helpers behind it. */
@injectable()
export class HandlerContextFactory {
  constructor(
    @inject(Database) private readonly database: Database,
    @inject(Logger) private readonly logger: Logger,
    @inject(ClientExchange) private readonly exchange: ClientExchange,
    @inject(SessionStore) private readonly sessions: SessionStore,
  ) {}

  /**
   * The context of one handler call. `logger` and `db` are built on first use: most handlers need
   * one of them or none, and the call path should not pay for what it does not use. Extend the
   * result with `Object.assign`, or give the extra members to {@link extend} at once (cheaper).
   */
  create(call: CallContext, labels: Record<string, unknown>): HandlerContext {
    return this.extend({}, call, labels);
  }

  /** `members` made into a handler context (the object itself, with the context's members added). */
  extend<T extends object>(members: T, call: CallContext, labels: Record<string, unknown>): T & HandlerContext {
    const { principal } = call;
    // Added one by one (every context takes the same steps, so they share one shape), then the accessors.
    const context = members as T & Stateful & { -readonly [K in 'principal' | 'tenant' | 'requestId' | 'log' | 'closeStream']: HandlerContext[K] };
    (context as { [STATE]: ContextState })[STATE] = { call, labels, root: this.logger, database: this.database };
    context.principal = principal;
    context.tenant = principal.tenant;
    context.requestId = call.requestId;
    context.log = (level, data, loggerName) => this.log(call, level, data, loggerName);
    context.closeStream = () => call.closeStream?.();
    return Object.defineProperties(context, LAZY_MEMBERS) as unknown as T & HandlerContext;
  }

  /**
   * A handler's `ctx.log`: send `notifications/message` when the client accepts a stream and its
   * level passes. Never throws and never rejects, awaited or not: a message that cannot be sent (a
   * value JSON cannot hold, a stream that failed) is dropped and logged at `warn`.
   */
  log(call: CallContext, level: McpLogLevel, data: unknown, loggerName?: string): Promise<void> {
    const send = call.send;
    // A call that is over for its client (cancelled, past its deadline, drained) tells it nothing more.
    if (!send || call.signal.aborted) return SENT;
    try {
      const threshold = call.session ? call.session.logLevel : this.exchange.levelFor(principalKey(call.principal));
      if (!passesLevel(level, threshold)) return SENT;
      send({ jsonrpc: '2.0', method: 'notifications/message', params: loggerName ? { level, logger: loggerName, data } : { level, data } });
    } catch (error) {
      safeLog(this.logger, 'warn', { err: error, requestId: call.requestId, level }, 'could not send a log message to the client');
    }
    return SENT;
  }

  /**
   * A tool's `ctx.progress`, when the client asked for progress: like {@link log}, it never rejects,
   * and sends nothing once the call is over for its client.
   */
  progress(call: CallContext, progressToken: unknown): ((progress: number, total?: number, message?: string) => Promise<void>) | undefined {
    const send = call.send;
    if (!send || (typeof progressToken !== 'string' && typeof progressToken !== 'number')) return undefined;
    return (progress, total, message) => {
      // Progress stops with the call: a client that cancelled it no longer knows its token.
      if (call.signal.aborted) return SENT;
      try {
        const params: Record<string, unknown> = { progressToken, progress };
        if (total !== undefined) params.total = total;
        if (message !== undefined) params.message = message;
        send({ jsonrpc: '2.0', method: 'notifications/progress', params });
      } catch (error) {
        safeLog(this.logger, 'warn', { err: error, requestId: call.requestId }, 'could not send a progress notification to the client');
      }
      return SENT;
    };
  }

  async requestClient(call: CallContext, method: string, params: Record<string, unknown>): Promise<Record<string, unknown>> {
    const session = call.session;
    const capability = NEEDS_CAPABILITY[method];
    if (session && capability && session.clientCapabilities[capability] === undefined) {
      throw new ProtocolError(ErrorCode.InvalidRequest, `The client did not declare the "${capability}" capability.`);
    }
    let send = call.send;
    if (!send && session && (await this.sessions.hasStream(session))) {
      // On the session's standalone stream, wherever the client holds it (or resumes it).
      send = (message) => {
        this.sessions.sendToStream(session, message).catch((error: unknown) => safeLog(this.logger, 'warn', { err: error, method }, 'could not send a request on the session stream'));
      };
    }
    if (!send) {
      throw new ProtocolError(ErrorCode.InvalidRequest, `Cannot send ${method}: the client accepts no event stream for this request.`);
    }
    return this.exchange.request(principalKey(call.principal), method, params, send, call.signal, CLIENT_REQUEST_TIMEOUT_MS);
  }

  resourceUpdated(tenant: string, uri: string): void {
    this.sessions.resourceUpdated(tenant, uri);
  }
}
