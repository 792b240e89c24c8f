import { randomUUID } from 'node:crypto';
import { inject, injectable, optional } from 'inversify';
import { EngineConfig } from '../kernel/config.js';
import { Logger, safeLog } from '../log/logger.js';
import { accepts, explicitlyAccepts, isJsonContentType } from './content-negotiation.js';
import { NOT_JSON, RefusedJson, parseJsonBody, unreadableBody, unreadableCharset, unreadableEncoding } from './json-body.js';
import type { Principal } from '../ports/principal.js';
import { AuditUnavailableError, DependencyUnavailableError, GatehouseError, HttpError } from '../errors.js';
import { McpDispatcher } from '../mcp/mcp-dispatcher.js';
import { ErrorCode, LimitExceededError, ProtocolError, SUPPORTED_PROTOCOL_VERSIONS, classify, errorResponse, type JsonRpcId, type JsonRpcRequest } from '../mcp/jsonrpc.js';
import type { CallContext } from '../mcp/call-context.js';
import { SessionStore, principalKey, type McpSession } from '../mcp/session-store.js';
import { ClientExchange, RequestCancelledError } from '../mcp/client-exchange.js';
import { SseStream } from '../mcp/sse-stream.js';
import { SessionEventLog, STANDALONE_STREAM, STREAM_COMPLETE, STREAM_GONE } from '../mcp/session-event-log.js';
import { ResponseStream } from './response-stream.js';
import { LazyAbort } from '../mcp/lazy-abort.js';
import { connectTimedOut, databaseUnavailable, replyTimedOut } from '../db/lost-connection.js';
import { RequestAuthenticator } from './request-auth.js';
import { RouteTable, RouteTableToken } from './route-table.js';
import { json, jsonError, jsonText, type HttpRequest, type HttpResponse } from './types.js';
import type { RouteRequest } from './route.js';
import { TENANT_ID } from '../db/tenant-db.js';
import { clipClientText } from '../client-text.js';
import { Telemetry } from '../telemetry/telemetry.js';
import type { RequestObservation } from '../telemetry/request-observation.js';
import { HealthChecks } from '../telemetry/health.js';
import { MetricsEndpoint } from '../telemetry/metrics-endpoint.js';

const ABORT_GRACE_MS = 1000;
const TENANT_PATH = /^\/t\/([^/]+)(\/.*)$/;
const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '[::1]'];
const CORS_ALLOW_HEADERS = 'authorization, content-type, accept, mcp-protocol-version, mcp-session-id, last-event-id, x-api-key, x-csrf-token';
/** What a browser client may read of an answer: its session, why it was refused, and when to retry a 503 or 429. */
const CORS_EXPOSE_HEADERS = 'mcp-session-id, www-authenticate, retry-after';
const STATELESS_METHODS: readonly string[] = ['POST'];
const SESSION_METHODS: readonly string[] = ['GET', 'POST', 'DELETE'];

export { LOOPBACK_HOSTS };

/** A database or dependency outage, as opposed to a bug: answered with 503 and `Retry-After`. */
function isUnavailable(error: unknown): boolean {
  return error instanceof AuditUnavailableError || error instanceof DependencyUnavailableError || databaseUnavailable(error);
}

/** How long a client is asked to wait after an outage: the error's own estimate where it has one. */
function retryAfterOf(error: unknown): Record<string, string> {
  return { 'retry-after': String(error instanceof DependencyUnavailableError ? error.retryAfterSeconds : 5) };
}

/** Log a refusal for an outage, unless whoever raised it reports the outage itself (once, not per request). */
function logUnavailable(logger: Logger, error: unknown, requestId: string): void {
  if (error instanceof DependencyUnavailableError && error.reported) return;
  safeLog(logger, 'warn', { err: error, requestId }, 'request refused: dependency unavailable');
}

/** What a client is told of an outage: the error's own words where they are meant for it. */
function unavailableMessage(error: unknown): string {
  if (error instanceof AuditUnavailableError || error instanceof DependencyUnavailableError) return error.message;
  if ((error as { code?: unknown } | null)?.code === '57014' || replyTimedOut(error) || connectTimedOut(error)) return 'The database did not answer in time; try again shortly.';
  return 'A backing service is unavailable; try again shortly.';
}

/** Whose request ids these are: the principal's, within its session when it has one. */
function requestOwner(principal: Principal, session: McpSession | undefined): string {
  return session ? `${principalKey(principal)}\u0000${session.id}` : principalKey(principal);
}

/** A JSON-RPC result: the envelope is written around the serialised result, not built and serialised again. */
function rpcResult(id: JsonRpcId, result: unknown): HttpResponse {
  return jsonText(200, `{"jsonrpc":"2.0","id":${JSON.stringify(id)},"result":${JSON.stringify(result) ?? 'null'}}`);
}

/** A call context whose stream hooks are set once the response can stream. */
type StreamingCall = { -readonly [K in 'send' | 'closeStream']?: CallContext[K] } & Omit<CallContext, 'send' | 'closeStream'>;

const clientGoneError = (): GatehouseError => new GatehouseError('client_gone', 'The client disconnected.');

/**
 * The context of one call that runs a handler: the request's facts, plus an abort (client gone,
 * cancellation, deadline, drain) whose signal is created only if something reads it. One object
 * per call: no copies of the context, no closures for what the prototype can do.
 */
class RunningCall extends LazyAbort implements StreamingCall {
  readonly principal: Principal;
  readonly requestId: string;
  readonly clientAddress: string | undefined;
  readonly rpcId: JsonRpcId | undefined;
  readonly session: McpSession | undefined;
  readonly observation: RequestObservation | undefined;
  send: ((message: unknown) => void) | undefined = undefined;
  closeStream: (() => void) | undefined = undefined;
  /** What the client's going away does: abort the call, unless a resumable stream keeps it going. */
  onClientGone: (() => void) | undefined = undefined;

  constructor(base: CallContext) {
    super();
    this.principal = base.principal;
    this.requestId = base.requestId;
    this.clientAddress = base.clientAddress;
    this.rpcId = base.rpcId;
    this.session = base.session;
    this.observation = base.observation;
  }

  clientGone(): void {
    if (this.onClientGone) this.onClientGone();
    else this.abortForClientGone();
  }

  abortForClientGone(): void {
    this.abort(clientGoneError());
  }

  /** Whether the client cancelled the call (`notifications/cancelled`): it is sent no response. */
  get cancelledByClient(): boolean {
    return this.abortReason instanceof RequestCancelledError;
  }
}

function rpcHttpError(status: number, id: JsonRpcId | null, code: number, message: string, headers?: Record<string, string>): HttpResponse {
  return json(status, errorResponse(id, code, message), headers);
}

/**
 * A contributed route's request body as JSON. What the headers say (a type that is not JSON, a
 * charset no body can be read in, a content coding) is refused before the body is read; a body
 * that cannot be read in the charset it declares, once it is read.
 */
async function jsonBodyOf(req: HttpRequest): Promise<unknown> {
  const type = req.header('content-type');
  if (type !== undefined) {
    if (!isJsonContentType(type)) throw new HttpError(415, 'unsupported_media_type', 'Content-Type must be application/json.');
    const charset = unreadableCharset(type);
    if (charset) throw new HttpError(415, 'unsupported_media_type', charset);
  }
  const encoding = unreadableEncoding(req);
  if (encoding) throw new HttpError(415, 'unsupported_media_type', encoding);
  const buffer = await req.body();
  // A body is read as JSON only when it says it is JSON (an empty body without a type is malformed JSON).
  if (type === undefined && buffer.length > 0) throw new HttpError(415, 'unsupported_media_type', 'Content-Type must be application/json.');
  const unreadable = unreadableBody(type, buffer);
  if (unreadable) throw new HttpError(415, 'unsupported_media_type', unreadable);
  const parsed = parseJsonBody(buffer, { finiteNumbers: false });
  if (parsed === NOT_JSON) throw new HttpError(400, 'invalid_json', 'The request body is not valid JSON (UTF-8).');
  if (parsed instanceof RefusedJson) throw new HttpError(400, 'invalid_json', `The request body ${parsed.reason}.`);
  return parsed;
}

function hostOf(hostHeader: string): string {
  const host = hostHeader.trim().toLowerCase();
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/** The well-known prefix of Protected Resource Metadata (RFC 9728). */
const WELL_KNOWN_PRM = '/.well-known/oauth-protected-resource';

/**
 * The engine's HTTP surface: origin and host checks, the MCP endpoint (request checks, then
 * authentication, then dispatch) and contributed routes. Errors are JSON on every path, never
 * HTML and never a stack trace.
 */
@injectable()
export class HttpHandler {
  private inFlight = 0;
  private closing = false;
  private idle: (() => void) | undefined;
  private readonly shutdown = new AbortController();
  /** Running handler calls, aborted when a drain times out. */
  private readonly running = new Set<LazyAbort>();
  private origins: { readonly publicUrl: string; readonly allowed: ReadonlySet<string> } | undefined;

  constructor(
    @inject(EngineConfig) private readonly config: EngineConfig,
    @inject(McpDispatcher) private readonly dispatcher: McpDispatcher,
    @inject(RequestAuthenticator) private readonly auth: RequestAuthenticator,
    @inject(RouteTableToken) private readonly routes: RouteTable,
    @inject(Logger) private readonly logger: Logger,
    @inject(SessionStore) private readonly sessions: SessionStore,
    @inject(ClientExchange) private readonly exchange: ClientExchange,
    @inject(SessionEventLog) private readonly events: SessionEventLog,
    @inject(Telemetry) private readonly telemetry: Telemetry,
    @inject(HealthChecks) private readonly healthChecks: HealthChecks,
    @inject(MetricsEndpoint) @optional() private readonly metrics: MetricsEndpoint | undefined,
  ) {}

  /** The methods the MCP endpoint takes: POST, and with sessions GET (the stream) and DELETE (the end). */
  private get mcpMethods(): readonly string[] {
    return this.sessions.enabled ? SESSION_METHODS : STATELESS_METHODS;
  }

  /** Allowed origins: as configured, else the public URL's origin (which `listen()` may set late). */
  private originAllowed(origin: string): boolean {
    if (this.origins?.publicUrl !== this.config.publicUrl) {
      const list = this.config.allowedOrigins ?? [new URL(this.config.publicUrl).origin];
      this.origins = { publicUrl: this.config.publicUrl, allowed: new Set(list.map((entry) => entry.toLowerCase())) };
    }
    if (this.origins.allowed.has(origin.toLowerCase())) return true;
    // Under host-based tenancy, each tenant's own origin (same scheme as the public URL).
    const tenantHost = this.config.allowedOrigins ? undefined : this.config.tenantHost;
    if (!tenantHost) return false;
    try {
      const url = new URL(origin);
      return url.protocol === new URL(this.config.publicUrl).protocol && tenantHost.tenantOf(url.host) !== undefined;
    } catch {
      return false;
    }
  }

  async handle(req: HttpRequest): Promise<HttpResponse> {
    const observation = this.telemetry.begin(randomUUID(), req.method, req.path, req);
    const response = await this.respond(req, observation);
    if (!observation.deferred) this.telemetry.finish(observation, response.status);
    return response;
  }

  private async respond(req: HttpRequest, observation: RequestObservation): Promise<HttpResponse> {
    const { requestId } = observation;
    const origin = req.header('origin');
    const cors = origin !== undefined && this.originAllowed(origin) ? this.corsHeaders(origin) : undefined;
    if (origin !== undefined && !cors) {
      return rpcHttpError(403, null, ErrorCode.InvalidRequest, `Origin ${clipClientText(origin)} is not allowed.`);
    }
    const host = req.header('host');
    // No host name holds a comma: this is two Host headers, which HTTP/1.1 answers with 400.
    if (host?.includes(',')) return rpcHttpError(400, null, ErrorCode.InvalidRequest, 'The request carries more than one Host header.');
    const hosts = this.config.allowedHosts;
    if (hosts) {
      const allowed = host !== undefined && (hosts.includes(hostOf(host)) || this.config.tenantHost?.tenantOf(host) !== undefined);
      if (!allowed) return rpcHttpError(403, null, ErrorCode.InvalidRequest, 'Host header is not allowed.');
    }
    if (this.closing) return jsonError(503, 'shutting_down', 'The server is shutting down.', { headers: { 'retry-after': '5', connection: 'close', ...cors } });
    this.inFlight++;
    try {
      const response = await this.route(req, observation, cors);
      return cors ? { ...response, headers: { ...response.headers, ...cors } } : response;
    } catch (error) {
      const response = this.renderError(error, requestId);
      return cors ? { ...response, headers: { ...response.headers, ...cors } } : response;
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) this.idle?.();
    }
  }

  /** Stop taking requests, wait for in-flight ones (up to the drain timeout), then abort the rest. */
  async drain(): Promise<void> {
    this.closing = true;
    await this.idleWithin(this.config.drainTimeoutMs);
    const reason = new GatehouseError('shutting_down', 'The server is shutting down.');
    this.shutdown.abort(reason);
    for (const controller of this.running) controller.abort(reason);
    // Handlers that honour their signal can still answer.
    await this.idleWithin(ABORT_GRACE_MS);
  }

  private async idleWithin(ms: number): Promise<void> {
    if (this.inFlight === 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.idle = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.idle = undefined;
  }

  private corsHeaders(origin: string): Record<string, string> {
    return { 'access-control-allow-origin': origin, 'access-control-expose-headers': CORS_EXPOSE_HEADERS, vary: 'Origin' };
  }

  /** Not `async`: the MCP endpoint's promise is handed on as it is (the caller awaits whatever this returns, and catches what it throws). */
  private route(req: HttpRequest, observation: RequestObservation, cors: Record<string, string> | undefined): HttpResponse | Promise<HttpResponse> {
    const { requestId } = observation;
    const base = this.config.basePath;
    let path: string;
    if (base && req.path.startsWith(`${WELL_KNOWN_PRM}${base}/`)) {
      // RFC 9728 §3.1: the metadata of a resource under the base path lives at the origin root,
      // `/.well-known/oauth-protected-resource{basePath}/…`; it is served like `{basePath}/.well-known/…`.
      path = `${WELL_KNOWN_PRM}${req.path.slice(WELL_KNOWN_PRM.length + base.length)}`;
    } else {
      if (base && req.path !== base && !req.path.startsWith(`${base}/`)) return jsonError(404, 'not_found', 'No such endpoint.');
      path = req.path.slice(base.length) || '/';
    }
    let tenantHint = this.config.tenantHost?.tenantOf(req.header('host'));
    const tenantMatch = TENANT_PATH.exec(path);
    if (tenantMatch) {
      if (!TENANT_ID.test(tenantMatch[1]!)) return jsonError(404, 'not_found', 'No such tenant endpoint.');
      // A tenant host and a tenant path that disagree name no endpoint.
      if (tenantHint !== undefined && tenantHint !== tenantMatch[1]) return jsonError(404, 'not_found', 'No such tenant endpoint.');
      tenantHint = tenantMatch[1];
      path = tenantMatch[2]!;
    }
    if (req.method === 'OPTIONS' && cors) {
      // The MCP endpoint's preflight names the methods it takes in this configuration; other paths, any route's.
      const methods = path === this.config.mcpPath ? `${this.mcpMethods.join(', ')}, OPTIONS` : 'GET, POST, PUT, PATCH, DELETE, OPTIONS';
      return {
        status: 204,
        headers: { 'access-control-allow-methods': methods, 'access-control-allow-headers': CORS_ALLOW_HEADERS, 'access-control-max-age': '600' },
      };
    }
    if (path === this.config.mcpPath) return this.mcp(req, observation, tenantHint);
    if (!tenantMatch && req.method === 'GET') {
      if (path === '/healthz') return this.healthChecks.live(this.config.instanceId);
      if (path === '/readyz') return this.healthChecks.ready();
      if (path === '/metrics' && this.metrics?.onEngine) return this.metrics.serve(req.header('authorization'));
    }
    return this.contributed(req, path, requestId, tenantHint);
  }

  private async contributed(req: HttpRequest, path: string, requestId: string, tenantHint: string | undefined): Promise<HttpResponse> {
    let match;
    try {
      match = this.routes.match(req.method, path);
    } catch {
      return jsonError(400, 'bad_request', 'The request path is not valid.');
    }
    if (match.kind === 'none') return jsonError(404, 'not_found', 'No such endpoint.');
    if (match.kind === 'wrong-method') {
      return jsonError(405, 'method_not_allowed', `Use ${match.allow.join(' or ')} for this endpoint.`, { headers: { allow: match.allow.join(', ') } });
    }
    let principal: Promise<Principal> | undefined;
    let body: Promise<unknown> | undefined;
    const routeRequest: RouteRequest = {
      method: req.method,
      path: req.path,
      query: req.query,
      clientAddress: req.clientAddress,
      get signal() {
        return req.signal;
      },
      params: match.params,
      requestId,
      tenantHint,
      header: (name: string) => req.header(name),
      body: () => req.body(),
      authenticate: () => (principal ??= this.auth.authenticate(req, tenantHint, requestId)),
      json: () => (body ??= jsonBodyOf(req)),
    };
    const response = await match.route.handler(routeRequest);
    return req.method === 'HEAD' ? { ...response, body: undefined } : response;
  }

  private async mcp(req: HttpRequest, observation: RequestObservation, tenantHint: string | undefined): Promise<HttpResponse> {
    const { requestId } = observation;
    if (this.sessions.enabled && (req.method === 'GET' || req.method === 'DELETE')) return this.sessionRequest(req, requestId, tenantHint);
    if (req.method !== 'POST') {
      // `Allow` names exactly what this endpoint takes: POST, and with sessions GET and DELETE.
      const methods = this.mcpMethods;
      const message =
        req.method === 'GET' && !this.sessions.enabled
          ? 'This server does not offer a server-to-client stream; use POST.'
          : `Method ${clipClientText(req.method)} is not allowed; use ${methods.length === 1 ? methods[0] : `${methods.slice(0, -1).join(', ')} or ${methods.at(-1)}`}.`;
      return rpcHttpError(405, null, ErrorCode.InvalidRequest, message, { allow: methods.join(', ') });
    }
    const contentType = req.header('content-type');
    if (!isJsonContentType(contentType)) {
      return rpcHttpError(415, null, ErrorCode.InvalidRequest, 'Content-Type must be application/json.');
    }
    const charset = unreadableCharset(contentType);
    if (charset) return rpcHttpError(415, null, ErrorCode.InvalidRequest, charset);
    const accept = req.header('accept');
    if (!accepts(accept, 'application/json') && !accepts(accept, 'text/event-stream')) {
      return rpcHttpError(406, null, ErrorCode.InvalidRequest, 'Accept must include application/json or text/event-stream.');
    }
    const encoding = unreadableEncoding(req);
    if (encoding) return rpcHttpError(415, null, ErrorCode.InvalidRequest, encoding);
    let body: Buffer;
    try {
      body = await req.body();
    } catch (error) {
      // A body too large or cut off is refused in JSON-RPC's shape, like the endpoint's other refusals.
      if (error instanceof HttpError) return rpcHttpError(error.status, null, ErrorCode.InvalidRequest, `Invalid request: ${error.message}`, error.headers);
      throw error;
    }
    const unreadable = unreadableBody(contentType, body);
    if (unreadable) return rpcHttpError(415, null, ErrorCode.InvalidRequest, unreadable);
    const parsed = parseJsonBody(body, { finiteNumbers: true });
    if (parsed === NOT_JSON) return rpcHttpError(400, null, ErrorCode.ParseError, 'Parse error: the body is not valid JSON (UTF-8).');
    if (parsed instanceof RefusedJson) return rpcHttpError(400, null, ErrorCode.InvalidRequest, `Invalid request: the message ${parsed.reason}.`);
    const message = classify(parsed);
    if (message.kind === 'invalid') return rpcHttpError(400, message.id, ErrorCode.InvalidRequest, `Invalid request: ${message.reason}`);
    const version = req.header('mcp-protocol-version');
    if (version !== undefined && !SUPPORTED_PROTOCOL_VERSIONS.includes(version)) {
      const id = message.kind === 'request' ? message.message.id : null;
      return rpcHttpError(400, id, ErrorCode.InvalidRequest, `Unsupported MCP-Protocol-Version "${clipClientText(version)}"; supported: ${SUPPORTED_PROTOCOL_VERSIONS.join(', ')}.`);
    }
    if (message.kind !== 'response') this.telemetry.startMcp(observation, message.message, version, req.header('mcp-session-id'));
    // A cached credential is answered at once: no promise to await.
    const authenticated = this.telemetry.span('gatehouse.authenticate', observation, () => this.auth.authenticateNow(req, tenantHint, requestId));
    const principal = authenticated instanceof Promise ? await authenticated : authenticated;
    this.telemetry.principal(observation, principal);
    const isInitialize = message.kind === 'request' && message.message.method === 'initialize';
    const sessionId = this.sessions.enabled && !isInitialize ? req.header('mcp-session-id') : undefined;
    let session: McpSession | undefined;
    if (sessionId !== undefined) {
      session = await this.sessions.get(sessionId, principal);
      if (!session) return rpcHttpError(404, message.kind === 'request' ? message.message.id : null, -32001, 'Session not found.');
    }
    if (message.kind === 'response') {
      // Kept for another instance when the handler awaiting it runs there (a fleet without stickiness).
      await this.exchange.respond(principalKey(principal), message.message);
      return { status: 202 };
    }
    if (message.kind === 'notification') {
      const { method, params } = message.message;
      if (method === 'notifications/cancelled' && (typeof params?.requestId === 'string' || typeof params?.requestId === 'number')) {
        this.exchange.cancel(requestOwner(principal, session), params.requestId, typeof params.reason === 'string' ? params.reason : undefined);
      }
      return { status: 202 };
    }
    const call: CallContext = { principal, requestId, clientAddress: req.clientAddress, signal: this.shutdown.signal, rpcId: message.message.id, session, observation };
    if (isInitialize && this.sessions.enabled) return this.initializeSession(message.message, call);
    return this.answer(req, message.message, call, accept);
  }

  private async initializeSession(request: JsonRpcRequest, call: CallContext): Promise<HttpResponse> {
    let result: unknown;
    try {
      result = await this.dispatcher.dispatch(request, call);
    } catch (error) {
      return this.rpcFailure(request.id, error, call);
    }
    const capabilities = request.params?.capabilities;
    const session = await this.sessions.create(
      call.principal,
      typeof capabilities === 'object' && capabilities !== null ? (capabilities as Record<string, unknown>) : {},
      (result as { protocolVersion: string }).protocolVersion,
    );
    return json(200, { jsonrpc: '2.0', id: request.id, result }, { 'mcp-session-id': session.id });
  }

  /** GET opens the session's server→client stream; DELETE ends the session. */
  private async sessionRequest(req: HttpRequest, requestId: string, tenantHint: string | undefined): Promise<HttpResponse> {
    const principal = await this.auth.authenticate(req, tenantHint, requestId);
    const id = req.header('mcp-session-id');
    if (id === undefined) return rpcHttpError(400, null, ErrorCode.InvalidRequest, `${req.method} needs an MCP-Session-Id header.`);
    const session = await this.sessions.get(id, principal);
    if (!session) return rpcHttpError(404, null, -32001, 'Session not found.');
    if (req.method === 'DELETE') {
      await this.sessions.delete(session);
      return { status: 204 };
    }
    if (!accepts(req.header('accept'), 'text/event-stream')) {
      return rpcHttpError(406, null, ErrorCode.InvalidRequest, 'Accept must include text/event-stream.');
    }
    const lastEventId = req.header('last-event-id');
    const resumed = lastEventId === undefined ? undefined : await this.events.resumption(session.id, lastEventId.trim());
    if (resumed === STREAM_GONE) {
      // Another stream in its place would leave the client waiting for a response that never comes.
      return rpcHttpError(400, null, ErrorCode.InvalidRequest, 'Last-Event-ID names an event of a request’s stream that is no longer kept: its messages cannot be replayed.');
    }
    // Nothing follows a response. 204 is how an event-stream server tells its client to stop
    // reconnecting; followed, the stream would stay open with nothing to send until the client went
    // away (clients that take an error response for no response at all come back after it).
    if (resumed === STREAM_COMPLETE) return { status: 204 };
    const stream = new SseStream(25_000);
    let detach: () => void;
    if (resumed !== undefined && resumed.stream !== STANDALONE_STREAM) {
      // The rest of a request's stream that broke off, from the session's event log.
      const stop = this.events.follow(session.id, resumed.stream, resumed.after, (id, message) => stream.sendEvent(id, message), () => stream.close());
      detach = () => {
        stop();
        stream.close();
      };
    } else {
      // The standalone stream: resumed after the client's last event, else anew (an unknown or
      // expired Last-Event-ID of the standalone stream has nothing to replay).
      detach = await this.sessions.openStream(session, stream, resumed?.after);
    }
    const shutdown = this.shutdown.signal;
    req.signal.addEventListener('abort', detach, { once: true });
    shutdown.addEventListener('abort', detach, { once: true });
    // However the stream ends (client gone, replaced by a newer GET, session deleted, the resumed
    // call answered, a client that stopped reading), it stops listening and lets go of the session:
    // a long-lived engine would otherwise keep one listener per stream ever opened.
    stream.onClose(() => {
      req.signal.removeEventListener('abort', detach);
      shutdown.removeEventListener('abort', detach);
      detach();
    });
    return stream.response();
  }

  /**
   * Answer one request. Plain JSON unless the client accepts `text/event-stream` and the handler
   * sends something (progress, a log message, a server→client request) before its result: then
   * the response becomes an SSE stream of those messages ending with the result.
   */
  private answer(req: HttpRequest, request: JsonRpcRequest, base: CallContext, accept: string | undefined): Promise<HttpResponse> {
    const streamable = explicitlyAccepts(accept, 'text/event-stream');
    if (!McpDispatcher.runsHandlers(request.method)) {
      return streamable ? this.streamed(request, { ...base }, undefined) : this.plain(request, base, undefined);
    }
    // One abort per handler call (a client disconnect, a cancellation or a drain), whose signal
    // exists only if the handler reads it.
    const call = new RunningCall(base);
    if (req.onClose) req.onClose(() => call.clientGone());
    else req.signal.addEventListener('abort', () => call.clientGone(), { once: true });
    this.running.add(call);
    const untrackExchange = this.exchange.track(requestOwner(base.principal, base.session), request.id, call);
    const endRun = base.session ? this.sessions.callRunning(base.session, call) : undefined;
    const untrack = (): void => {
      untrackExchange();
      endRun?.();
      this.running.delete(call);
    };
    return streamable ? this.streamed(request, call, untrack) : this.plain(request, call, untrack);
  }

  private async plain(request: JsonRpcRequest, call: CallContext, untrack: (() => void) | undefined): Promise<HttpResponse> {
    try {
      return rpcResult(request.id, await this.dispatcher.dispatch(request, call));
    } catch (error) {
      return this.rpcFailure(request.id, error, call);
    } finally {
      untrack?.();
    }
  }

  /** Answer as JSON, or as an SSE stream from the first message the handler sends. */
  private streamed(request: JsonRpcRequest, call: StreamingCall, untrack: (() => void) | undefined): Promise<HttpResponse> {
    return new Promise<HttpResponse>((resolve) => {
      const session = call.session;
      const response = new ResponseStream(
        resolve,
        this.logger,
        () => {
          if (call.observation) call.observation.deferred = true;
        },
        session ? { log: this.events, sessionId: session.id } : undefined,
      );
      if (response.resumable && call instanceof RunningCall) {
        // A session's stream is resumable: a client that goes away comes back with Last-Event-ID,
        // so its call goes on (it can still cancel); before the stream opens, leaving aborts as usual.
        call.onClientGone = () => (response.opened ? response.detach() : call.abortForClientGone());
      }
      const finish = (result: HttpResponse): void => {
        untrack?.();
        const streamed = response.opened;
        // A request its client cancelled is sent no response (MCP's cancellation), only its stream's end.
        if (call instanceof RunningCall && call.cancelledByClient) response.abandon();
        else response.finish(result);
        if (streamed && call.observation) this.telemetry.finish(call.observation, result.status);
      };
      call.send = (message) => response.send(message);
      call.closeStream = () => response.closeEarly();
      // As in `plain`: a result that cannot be written as JSON (a BigInt, a circular object) is a
      // failure of the request, answered as one, not a rejection no one handles and no answer.
      const answer = (result: unknown): HttpResponse => {
        try {
          return rpcResult(request.id, result);
        } catch (error) {
          return this.rpcFailure(request.id, error, call);
        }
      };
      this.dispatcher
        .dispatch(request, call)
        .then(
          (result) => finish(answer(result)),
          (error: unknown) => finish(this.rpcFailure(request.id, error, call)),
        )
        .catch((error: unknown) => safeLog(this.logger, 'error', { err: error, requestId: call.requestId }, 'could not finish the response of a request'));
    });
  }

  private rpcFailure(id: JsonRpcId, error: unknown, call: CallContext): HttpResponse {
    const { requestId } = call;
    if (error instanceof LimitExceededError) {
      // Inside a stream that is already open the status is long sent: the error alone tells.
      this.telemetry.rpcError(call.observation, error.rpcCode);
      return json(429, errorResponse(id, error.rpcCode, error.message, error.data), { 'retry-after': String(error.retryAfterSeconds) });
    }
    if (error instanceof ProtocolError) {
      this.telemetry.rpcError(call.observation, error.rpcCode);
      return json(200, errorResponse(id, error.rpcCode, error.message, error.data));
    }
    if (isUnavailable(error)) {
      logUnavailable(this.logger, error, requestId);
      return json(503, errorResponse(id, ErrorCode.InternalError, unavailableMessage(error)), retryAfterOf(error));
    }
    safeLog(this.logger, 'error', { err: error, requestId }, 'request failed');
    return json(500, errorResponse(id, ErrorCode.InternalError, `Internal error (request ${requestId}).`));
  }

  private renderError(error: unknown, requestId: string): HttpResponse {
    if (error instanceof HttpError) {
      if (error.status === 401) {
        return json(401, { error: error.code, error_description: error.message }, error.headers);
      }
      return jsonError(error.status, error.code, error.message, { headers: error.headers, details: error.details });
    }
    if (isUnavailable(error)) {
      logUnavailable(this.logger, error, requestId);
      return jsonError(503, 'unavailable', unavailableMessage(error), { headers: retryAfterOf(error) });
    }
    safeLog(this.logger, 'error', { err: error, requestId }, 'request failed');
    return jsonError(500, 'internal_error', `Internal error (request ${requestId}).`);
  }
}
