import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  CallToolResultSchema,
  CompleteRequestSchema,
  CancelTaskRequestSchema,
  CancelTaskResultSchema,
  CompleteResultSchema,
  CreateMessageRequestSchema,
  CreateTaskResultSchema,
  ElicitRequestSchema,
  EmptyResultSchema,
  ErrorCode,
  GetPromptRequestSchema,
  GetPromptResultSchema,
  GetTaskPayloadRequestSchema,
  GetTaskRequestSchema,
  GetTaskResultSchema,
  ListPromptsRequestSchema,
  ListPromptsResultSchema,
  ListResourcesRequestSchema,
  ListResourcesResultSchema,
  ListResourceTemplatesRequestSchema,
  ListResourceTemplatesResultSchema,
  ListRootsRequestSchema,
  ListTasksRequestSchema,
  ListTasksResultSchema,
  ListToolsRequestSchema,
  ListToolsResultSchema,
  McpError,
  ReadResourceRequestSchema,
  ReadResourceResultSchema,
  ResultSchema,
  RootsListChangedNotificationSchema,
  SetLevelRequestSchema,
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  isJSONRPCNotification,
  type ClientCapabilities,
  type ClientNotification,
  type ClientRequest,
  type JSONRPCMessage,
  type ServerCapabilities,
  type ServerNotification,
  type ServerRequest,
} from '@modelcontextprotocol/sdk/types.js';
import { ConnectorError } from './connector-error.js';
import { RECONNECTION, createRemoteFetch } from './remote-fetch.js';
import { OUTCOME_UNKNOWN, describeSent, repeatableMethod } from './repeatable-requests.js';
import { maskUrlsIn, shownUrl } from './shown-url.js';
import type { StderrLogger } from './stderr-logger.js';
import type { TokenSource } from './token-source.js';
import { CONNECTOR_BIN, CONNECTOR_VERSION } from './version.js';

export interface BridgeOptions {
  readonly url: URL;
  readonly tokens: TokenSource;
  readonly timeoutMs: number;
  readonly logger: StderrLogger;
  /** The stdio side; a `StdioServerTransport` in the CLI. */
  readonly local: Transport;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
}

export interface Bridge {
  /** Resolves when the local client goes away (stdin closed). */
  readonly closed: Promise<void>;
  close(): Promise<void>;
}

/** The SDK's per-request timer is replaced by one that progress resets. */
const NO_SDK_TIMEOUT = 2_147_483_647;
const NOTIFICATION_SETTLE_MS = 60;
const TIMED_OUT = new McpError(ErrorCode.RequestTimeout, 'timed out');

type Extra = RequestHandlerExtra<ServerRequest, ServerNotification>;
type RemoteExtra = RequestHandlerExtra<ClientRequest, ClientNotification>;

/**
 * What the connector declares to the remote server: every server→client request it can relay. The
 * local client's own capabilities are only known later (it initializes after we do), so a request
 * the local client did not declare is refused here, with the reason, instead of being relayed.
 */
const RELAYED_CLIENT_CAPABILITIES: ClientCapabilities = {
  sampling: {},
  elicitation: { form: {}, url: {} },
  roots: { listChanged: true },
};

/** The local client capability each relayed server→client request needs, and how to name it. */
const RELAYED_REQUESTS = [
  { schema: CreateMessageRequestSchema, capability: 'sampling', what: 'sampling' },
  { schema: ElicitRequestSchema, capability: 'elicitation', what: 'elicitation' },
  { schema: ListRootsRequestSchema, capability: 'roots', what: 'roots' },
] as const;
type AnySchema = Parameters<Client['request']>[1];

/** An error for the local client: our message as is (the SDK would prefix an McpError's), any URL in it masked. */
function protocolError(code: number, message: string, data?: unknown): Error {
  return Object.assign(new Error(maskUrlsIn(message)), { code, data });
}

/** The capabilities to advertise locally: exactly what the remote server offers. */
function mirrored(remote: ServerCapabilities): ServerCapabilities {
  const capabilities: ServerCapabilities = {};
  if (remote.tools) capabilities.tools = { ...remote.tools };
  if (remote.resources) capabilities.resources = { ...remote.resources };
  if (remote.prompts) capabilities.prompts = { ...remote.prompts };
  if (remote.logging) capabilities.logging = {};
  if (remote.completions) capabilities.completions = {};
  if (remote.tasks) capabilities.tasks = structuredClone(remote.tasks);
  return capabilities;
}

/**
 * Connect to the remote server (failing fast: no retries), then serve its tools, resources and
 * prompts on the local transport. From then on a server that goes away is retried with backoff
 * and, if it lost the session, re-initialized; each failure becomes one stderr line plus a
 * JSON-RPC error for the local client.
 */
export async function startBridge(options: BridgeOptions): Promise<Bridge> {
  const { url, tokens, timeoutMs, logger } = options;
  let connected = false;
  const remoteFetch = createRemoteFetch({ url, tokens, timeoutMs, logger, retries: () => connected, backoff: options.backoff });

  const progress = new Map<string, () => void>();
  let localTransport: Transport | undefined;
  let relayed = 0;
  /**
   * Server notifications go straight from the HTTP transport to stdio, ahead of the SDK's deferred
   * notification dispatch: a progress notification must reach the client before the response it
   * precedes, or the client has already forgotten its token.
   */
  const relay = (message: JSONRPCMessage): boolean => {
    // A withdrawn server→client request: the remote client aborts its relay, which tells the local
    // client under the id it knows the request by (relayed as is, it would name the server's id).
    if (!isJSONRPCNotification(message) || message.method === 'notifications/cancelled') return false;
    relayed++;
    if (message.method === 'notifications/progress') {
      const token = (message.params as { progressToken?: unknown } | undefined)?.progressToken;
      progress.get(JSON.stringify(token))?.();
    }
    if (localTransport) void localTransport.send(message).catch((error: Error) => logger.debug(`could not relay ${message.method}: ${error.message}`));
    return true;
  };

  /** The local server, once built: server→client requests are relayed to its client. */
  let localServer: Server | undefined;
  /** Forwarded calls' clocks: stopped while the client is answering the server (a user may take a while). */
  const clocks = new Set<{ hold(): void; resume(): void }>();
  let answering = 0;

  const relayToLocal = async (request: { method: string; params?: Record<string, unknown> }, capability: string, what: string, extra: RemoteExtra) => {
    const server = localServer;
    const declared = server?.getClientCapabilities()?.[capability as keyof ClientCapabilities];
    if (!server || declared === undefined) {
      logger.debug(`refused ${request.method}: the local client did not declare ${what}.`);
      throw new McpError(ErrorCode.InvalidRequest, `the client behind ${CONNECTOR_BIN} does not support ${what} (it did not declare the capability).`);
    }
    if (answering++ === 0) for (const clock of clocks) clock.hold();
    try {
      return await server.request({ method: request.method, params: request.params } as never, ResultSchema, { signal: extra.signal, timeout: NO_SDK_TIMEOUT });
    } finally {
      if (--answering === 0) for (const clock of clocks) clock.resume();
    }
  };

  const connectRemote = async (): Promise<Client> => {
    const client = new Client({ name: CONNECTOR_BIN, version: CONNECTOR_VERSION }, { capabilities: RELAYED_CLIENT_CAPABILITIES });
    for (const { schema, capability, what } of RELAYED_REQUESTS) {
      client.setRequestHandler(schema, ((request: { method: string; params?: Record<string, unknown> }, extra: RemoteExtra) =>
        relayToLocal(request, capability, what, extra)) as never);
    }
    client.onerror = (error) => logger.debug(`remote transport: ${error.message}`);
    const transport = new StreamableHTTPClientTransport(url, { fetch: remoteFetch, reconnectionOptions: RECONNECTION });
    await client.connect(transport, { timeout: timeoutMs });
    const dispatch = transport.onmessage;
    transport.onmessage = (message: JSONRPCMessage) => {
      if (!relay(message)) dispatch?.(message);
    };
    return client;
  };

  let remote: Client;
  try {
    remote = await connectRemote();
  } catch (error) {
    throw startupFailure(remoteFetch.lostAnswer(error) ?? error, url, timeoutMs);
  }
  connected = true;
  const capabilities = remote.getServerCapabilities() ?? {};
  const remoteInfo = remote.getServerVersion();
  logger.info(`connected to ${remoteInfo?.name ?? 'the server'} ${remoteInfo?.version ?? ''} at ${shownUrl(url)}; offers ${Object.keys(mirrored(capabilities)).join(', ') || 'nothing'}.`);

  const local = new Server(
    { name: CONNECTOR_BIN, version: CONNECTOR_VERSION, title: remoteInfo?.title ?? remoteInfo?.name },
    { capabilities: mirrored(capabilities), instructions: remote.getInstructions() },
  );
  // The SDK's clients ignore a cancellation of request id 0 (they check the id for truth), so the
  // first question relayed to the client could never be withdrawn: its ids start at 1.
  Object.assign(local, { _requestMessageId: 1 });
  localServer = local;
  // The local client's roots changed: tell the server, which may ask for them again.
  local.setNotificationHandler(RootsListChangedNotificationSchema, () =>
    remote.notification({ method: 'notifications/roots/list_changed' }).catch((error: Error) => logger.debug(`could not relay notifications/roots/list_changed: ${error.message}`)),
  );
  let reconnecting: Promise<Client> | undefined;

  /** The server lost our session (a restart of a stateful server): initialize again, once for all callers. */
  const reinitialize = async (stale: Client): Promise<Client> => {
    if (remote !== stale) return remote;
    reconnecting ??= connectRemote()
      .then((fresh) => {
        logger.info('the server lost the session; initialized a new one.');
        void stale.close().catch(() => undefined);
        remote = fresh;
        return fresh;
      })
      .finally(() => {
        reconnecting = undefined;
      });
    return reconnecting;
  };

  const forward = async (request: { method: string; params?: Record<string, unknown> }, resultSchema: AnySchema, extra: Extra) => {
    const progressToken = (request.params?._meta as { progressToken?: unknown } | undefined)?.progressToken;
    const outgoing = { method: request.method, params: request.params };
    // Our own timer rather than the SDK's, so that progress (relayed above) keeps a long call alive.
    const deadline = new AbortController();
    const expire = (): void => deadline.abort(TIMED_OUT);
    let timer = answering > 0 ? undefined : setTimeout(expire, timeoutMs);
    const tokenKey = progressToken === undefined ? undefined : JSON.stringify(progressToken);
    const relayedBefore = relayed;
    const restart = (): void => {
      clearTimeout(timer);
      timer = answering > 0 ? undefined : setTimeout(expire, timeoutMs);
    };
    const clock = { hold: () => clearTimeout(timer), resume: restart };
    clocks.add(clock);
    if (tokenKey !== undefined) progress.set(tokenKey, restart);
    const signal = AbortSignal.any([extra.signal, deadline.signal]);
    const send = (client: Client) => client.request(outgoing as never, resultSchema, { signal, timeout: NO_SDK_TIMEOUT });
    const attempt = async (client: Client) => {
      try {
        try {
          return await send(client);
        } catch (error) {
          if (!(error instanceof StreamableHTTPError && error.code === 404)) throw error;
          return await send(await reinitialize(client));
        }
      } catch (error) {
        // An answer that broke off stands for the failure behind it.
        throw remoteFetch.lostAnswer(error) ?? error;
      }
    };
    try {
      let result;
      try {
        result = await attempt(remote);
      } catch (error) {
        // The server's answer broke off. A request that repeating cannot harm is sent once more; any
        // other may have run, and is answered with its unknown outcome ('dropped').
        const lost = remoteFetch.lostAnswer(error);
        if (!lost || lost.kind === 'dropped' || signal.aborted) throw error;
        logger.debug(`${lost.message} Sending ${request.method} again.`);
        result = await attempt(remote);
      }
      // SDK clients dispatch notifications a tick later than responses; a response read in the same
      // chunk as the last notification would overtake it (and a progress token would already be
      // forgotten). Let what was relayed arrive first: long enough for a client whose event loop is
      // held up a while (a busy machine, a garbage collection) to read the two apart; 20 ms was not.
      if (relayed !== relayedBefore) await new Promise((resolve) => setTimeout(resolve, NOTIFICATION_SETTLE_MS));
      return result;
    } catch (error) {
      if (extra.signal.aborted) throw error;
      const failure = localFailure(deadline.signal.aborted ? TIMED_OUT : error, request, url, timeoutMs, logger);
      // As for a result: what was relayed (progress before the answer broke off) arrives first.
      if (relayed !== relayedBefore) await new Promise((resolve) => setTimeout(resolve, NOTIFICATION_SETTLE_MS));
      throw failure;
    } finally {
      clearTimeout(timer);
      clocks.delete(clock);
      if (tokenKey !== undefined) progress.delete(tokenKey);
    }
  };

  const handle = <S extends Parameters<Server['setRequestHandler']>[0]>(schema: S, resultSchema: AnySchema) =>
    local.setRequestHandler(schema, ((request: { method: string; params?: Record<string, unknown> }, extra: Extra) =>
      forward(request, resultSchema, extra)) as never);

  if (capabilities.tools) {
    handle(ListToolsRequestSchema, ListToolsResultSchema);
    // A task-augmented call is answered with the task it created, not the tool's result.
    local.setRequestHandler(CallToolRequestSchema, ((request: { method: string; params?: Record<string, unknown> }, extra: Extra) =>
      forward(request, request.params?.task === undefined ? CallToolResultSchema : CreateTaskResultSchema, extra)) as never);
  }
  if (capabilities.tasks) {
    handle(GetTaskRequestSchema, GetTaskResultSchema);
    // tasks/result yields the underlying request's result (a tool result for tools/call), verbatim.
    handle(GetTaskPayloadRequestSchema, ResultSchema);
    if (capabilities.tasks.list) handle(ListTasksRequestSchema, ListTasksResultSchema);
    if (capabilities.tasks.cancel) handle(CancelTaskRequestSchema, CancelTaskResultSchema);
  }
  if (capabilities.resources) {
    handle(ListResourcesRequestSchema, ListResourcesResultSchema);
    handle(ListResourceTemplatesRequestSchema, ListResourceTemplatesResultSchema);
    handle(ReadResourceRequestSchema, ReadResourceResultSchema);
    if (capabilities.resources.subscribe) {
      handle(SubscribeRequestSchema, EmptyResultSchema);
      handle(UnsubscribeRequestSchema, EmptyResultSchema);
    }
  }
  if (capabilities.prompts) {
    handle(ListPromptsRequestSchema, ListPromptsResultSchema);
    handle(GetPromptRequestSchema, GetPromptResultSchema);
  }
  if (capabilities.logging) handle(SetLevelRequestSchema, EmptyResultSchema);
  if (capabilities.completions) handle(CompleteRequestSchema, CompleteResultSchema);

  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));
  local.onclose = () => resolveClosed();
  localTransport = options.local;
  await local.connect(options.local);

  return {
    closed,
    async close() {
      await local.close().catch(() => undefined);
      await remote.close().catch(() => undefined);
      resolveClosed();
    },
  };
}

/** Why the first connection failed, as one line (the CLI exits 1 with it). */
function startupFailure(error: unknown, url: URL, timeoutMs: number): ConnectorError {
  if (error instanceof ConnectorError) return error;
  if (error instanceof McpError && error.code === ErrorCode.RequestTimeout) {
    return new ConnectorError('timeout', `the server at ${url.origin} did not answer within ${timeoutMs} ms. Check that it is up, or raise --timeout.`);
  }
  if (error instanceof StreamableHTTPError) {
    return new ConnectorError('protocol', `the server at ${shownUrl(url)} did not accept MCP over Streamable HTTP (HTTP ${error.code}). Check that --url is the MCP endpoint.`);
  }
  return new ConnectorError('protocol', `the MCP handshake with ${shownUrl(url)} failed (${oneLine(error)}). Check that --url is a Gatehouse MCP endpoint.`);
}

/** An error as one short line: a schema failure (a reply that is JSON but no JSON-RPC) is named, not dumped. */
function oneLine(error: unknown): string {
  if ((error as { name?: unknown } | null)?.name === 'ZodError') return "the server's answer is not a JSON-RPC message";
  const message = error instanceof Error ? error.message : String(error);
  // A refusal with a JSON-RPC error body (413, 400…): its message, not the body.
  const body = /^Streamable HTTP error: Error POSTing to endpoint: (\{.*\})$/s.exec(message)?.[1];
  if (body !== undefined) {
    try {
      const said = (JSON.parse(body) as { error?: { message?: unknown } }).error?.message;
      if (typeof said === 'string') return said.replace(/\s+/g, ' ').trim().slice(0, 200);
    } catch {
      // Not JSON: the message as it is.
    }
  }
  return message.replace(/^Streamable HTTP error: /, '').replace(/\s+/g, ' ').trim().slice(0, 200);
}

/** A failure of a forwarded request: one stderr line (except the server's own JSON-RPC errors) and a protocol error. */
function localFailure(error: unknown, request: { method: string; params?: Record<string, unknown> }, url: URL, timeoutMs: number, logger: StderrLogger): Error {
  const { method } = request;
  // The server may have run it: a request that must not run twice is not to be retried blindly.
  const unknownOutcome = !repeatableMethod(method) ? ` after ${describeSent(request)} was sent: ${OUTCOME_UNKNOWN}` : undefined;
  if (error instanceof ConnectorError) {
    logger.error(error.message);
    const code = error.kind === 'timeout' ? ErrorCode.RequestTimeout : ErrorCode.InternalError;
    return protocolError(code, error.message, { kind: error.kind });
  }
  if (error instanceof McpError) {
    if (error.code === ErrorCode.RequestTimeout) {
      const line = unknownOutcome
        ? `the server at ${url.origin} did not answer within ${timeoutMs} ms${unknownOutcome} Raise --timeout for slow tools.`
        : `the server at ${url.origin} did not answer within ${timeoutMs} ms (${method}). Check that it is up, or raise --timeout.`;
      logger.error(line);
      return protocolError(ErrorCode.RequestTimeout, line, { kind: 'timeout' });
    }
    if (error.code === ErrorCode.ConnectionClosed) {
      const line = unknownOutcome ? `the connection to the server closed before it answered${unknownOutcome}` : `the connection to the server closed during ${method}. Try again.`;
      logger.error(line);
      return protocolError(ErrorCode.InternalError, line, { kind: unknownOutcome ? 'dropped' : 'unreachable' });
    }
    // The server's own answer (unknown tool, invalid params…): the client needs it verbatim.
    return error;
  }
  if (error instanceof StreamableHTTPError) {
    const line = `the server refused ${method} (HTTP ${error.code === -1 ? 'response' : error.code}: ${oneLine(error)}).`;
    logger.error(line);
    return protocolError(ErrorCode.InternalError, line, { kind: 'protocol' });
  }
  const line = `forwarding ${method} failed: ${oneLine(error)}`;
  logger.error(line);
  return protocolError(ErrorCode.InternalError, line, { kind: 'internal' });
}
