import { randomUUID } from 'node:crypto';
import { ErrorCode, McpError, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import { standInAnswer, untilDone, watchAnswer, type AnswerWatch } from './answer-stream.js';
import { ConnectorError } from './connector-error.js';
import { closedBeforeAnswering, isTimeout, mayHaveBeenReceived, networkFailure } from './network-errors.js';
import { OUTCOME_UNKNOWN, describeBody, safeToResend } from './repeatable-requests.js';
import { shownUrl } from './shown-url.js';
import type { StderrLogger } from './stderr-logger.js';
import type { TokenSource } from './token-source.js';

export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

/** The `fetch` for the MCP transport, and what it knows of answers the server never delivered. */
export interface RemoteFetch extends FetchLike {
  /**
   * The failure behind `error` when it stands for a response that never came (the server's answer
   * to the request broke off, or ended, without it), else undefined. Asked once per error.
   */
  lostAnswer(error: unknown): ConnectorError | undefined;
}

/** Where a stand-in error response carries the key of the failure it stands for. */
const STAND_IN = 'gatehouseConnectorLostAnswer';

export interface RemoteFetchOptions {
  readonly url: URL;
  readonly tokens: TokenSource;
  readonly timeoutMs: number;
  readonly logger: StderrLogger;
  /** Whether to retry with backoff when the server is down (off at start-up: fail fast there). */
  readonly retries: () => boolean;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  readonly fetch?: FetchLike;
}

const MAX_DETAIL = 200;

/**
 * How the client transport resumes a request's answer stream that broke off (it reconnects with
 * `Last-Event-ID`): up to `maxRetries` attempts, waiting 0.5 s, 1 s, then 2 s before them (or the
 * interval the server's stream asked for with `retry`). The last attempt that fails, or the first
 * the server refuses, answers the request at once (see `resume` in {@link createRemoteFetch}).
 */
export const RECONNECTION = { initialReconnectionDelay: 500, reconnectionDelayGrowFactor: 2, maxReconnectionDelay: 2_000, maxRetries: 3 } as const;

/** A request's answer stream that broke off after events with ids, which the client transport resumes. */
interface Suspension {
  readonly id: RequestId;
  /** The request's exchange: its body says what was sent; its signal, that the transport closed. */
  readonly request: RequestInit;
  /** Attempts to resume it so far. */
  attempts: number;
  /** Its stand-in answered it: the transport's next attempt has nothing left to resume. */
  answered: boolean;
}

function sleep(ms: number, signal: AbortSignal | null | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The server's own words about a refusal: `error_description` from the body or the challenge. */
async function refusalDetail(response: Response): Promise<string | undefined> {
  const challenge = response.headers.get('www-authenticate') ?? '';
  const fromChallenge = /error_description="((?:[^"\\]|\\.)*)"/.exec(challenge)?.[1];
  let text = '';
  try {
    text = await response.text();
  } catch {
    // The body is only used to explain the refusal.
  }
  let fromBody: string | undefined;
  try {
    const body = JSON.parse(text) as { error_description?: unknown; error?: { message?: unknown } | unknown; message?: unknown };
    if (typeof body.error_description === 'string') fromBody = body.error_description;
    else if (body.error && typeof body.error === 'object' && typeof (body.error as { message?: unknown }).message === 'string') fromBody = (body.error as { message: string }).message;
    else if (typeof body.message === 'string') fromBody = body.message;
  } catch {
    if (text && !/^\s*</.test(text)) fromBody = text.trim();
  }
  const detail = fromBody ?? fromChallenge;
  return detail ? detail.replace(/\s+/g, ' ').slice(0, MAX_DETAIL) : undefined;
}

/**
 * The `fetch` the MCP transport uses: adds the bearer credential, enforces the timeout until the
 * response starts, retries a rejected OAuth token once with a fresh one, retries with backoff while
 * the server is unreachable or refusing with 503, and turns every other failure into a
 * {@link ConnectorError} whose message tells the user what to do.
 */
export function createRemoteFetch(options: RemoteFetchOptions): RemoteFetch {
  const { url: target, tokens, timeoutMs, logger } = options;
  const backoff = options.backoff ?? { initialMs: 250, maxMs: 4_000 };
  const baseFetch = options.fetch ?? fetch;
  const hint = '--url';
  // In-flight requests by JSON-RPC id, so a cancellation also ends the HTTP exchange: a stateless
  // server learns of it only when the connection of the request closes.
  const open = new Map<string, AbortController>();
  // Exchanges ended because their request was cancelled (not because the transport closed).
  const cancelledExchanges = new WeakSet<AbortController>();

  const cancelled = (message: ReturnType<typeof parseMessage>): void => {
    if (message?.method !== 'notifications/cancelled') return;
    const id = JSON.stringify((message.params as { requestId?: unknown } | undefined)?.requestId ?? null);
    const request = open.get(id);
    open.delete(id);
    // The client gave up on the answer: the transport's next attempt to resume it finds nothing to resume.
    for (const suspension of suspensions.values()) if (JSON.stringify(suspension.id) === id) suspension.answered = true;
    if (!request) return;
    cancelledExchanges.add(request);
    request.abort(new DOMException('cancelled by the client', 'AbortError'));
  };

  // Failures of requests whose answer broke off: the ones reported to the transport, and the ones a
  // stand-in error response carries (by its key), for the bridge to tell the user what happened.
  const lost = new WeakSet<ConnectorError>();
  const standIns = new Map<string, ConnectorError>();

  const answerLost = (init: RequestInit, cause: unknown): ConnectorError => {
    const failure = lostAnswerFailure(init, cause);
    lost.add(failure);
    return failure;
  };

  // Answer streams the client transport resumes, by the event id it resumes after.
  const suspensions = new Map<string, Suspension>();

  /**
   * The watch of the answer to request `id`, sent with `request`; `resumed` for a stream that
   * resumes it. `release` ends the exchange's entry among the open ones.
   */
  const watchOf = (
    id: RequestId,
    request: RequestInit,
    resumed: boolean,
    release: () => void = () => undefined,
    exchange?: AbortController,
  ): AnswerWatch & { brokeOff(cause: unknown): ConnectorError } => {
    const standInId = resumed ? `answered-${randomUUID()}` : undefined;
    const brokeOff = (cause: unknown): ConnectorError => {
      logger.debug(`the answer to ${describeBody(request.body)} broke off: ${cause === undefined ? 'the stream ended' : causeText(cause)}.`);
      return answerLost(request, cause);
    };
    return {
      id,
      standInId,
      brokeOff,
      lost(cause) {
        const failure = brokeOff(cause);
        const key = randomUUID();
        standIns.set(key, failure);
        // The transport resumes a resumed stream again, after the stand-in: there is nothing left.
        if (standInId !== undefined) suspend(standInId, { id, request, attempts: 0, answered: true });
        return JSON.stringify({ jsonrpc: '2.0', id, error: { code: ErrorCode.InternalError, message: failure.message, data: { kind: failure.kind, [STAND_IN]: key } } });
      },
      suspended(lastEventId) {
        suspend(lastEventId, { id, request, attempts: 0, answered: false });
      },
      cancelled() {
        if (!exchange || !cancelledExchanges.has(exchange)) return undefined;
        // The transport resumes a stream that ends without the response: it comes back after this id, to nothing.
        const endId = `cancelled-${randomUUID()}`;
        suspend(endId, { id, request, attempts: 0, answered: true });
        return endId;
      },
      finished: release,
    };
  };

  const suspend = (lastEventId: string, suspension: Suspension): void => {
    // What a closed transport left is never resumed.
    for (const [after, { request }] of suspensions) if (request.signal?.aborted) suspensions.delete(after);
    suspensions.set(lastEventId, suspension);
  };

  /** 405 is how a server says it serves no stream here: the transport stops quietly. */
  const nothingToResume = (after: string): Response => {
    suspensions.delete(after);
    return new Response(null, { status: 405, statusText: 'Method Not Allowed' });
  };

  /**
   * One attempt of the client transport to resume an answer stream. When the server refuses it (it
   * forgot the session or the stream's events, or serves no GET stream), or the last attempt the
   * transport makes fails, the request is answered at once with the stand-in for its lost answer,
   * as if the stream had not been resumable. An attempt is made once: the transport retries.
   */
  const resume = async (url: string | URL, init: RequestInit, after: string, suspension: Suspension): Promise<Response> => {
    const { id, request } = suspension;
    // The stand-in answered it, or the client cancelled it.
    if (suspension.answered) return nothingToResume(after);
    const last = ++suspension.attempts >= RECONNECTION.maxRetries;
    // Under the request's key, as its POST was: a cancellation of the request ends its resumption too.
    const requestKey = JSON.stringify(id);
    let response: Response;
    try {
      response = await send(url, init, requestKey, false);
    } catch (error) {
      open.delete(requestKey);
      // Cancelled by the client while it was under way (the cancellation marked it answered).
      if (suspension.answered) return nothingToResume(after);
      if (init.signal?.aborted || !last) throw error;
      suspensions.delete(after);
      return standInAnswer(watchOf(id, request, true), new Error(`its resumption failed (${causeText(error)})`, { cause: error }));
    }
    suspensions.delete(after);
    const exchange = open.get(requestKey);
    const release = (): void => {
      if (open.get(requestKey) === exchange) open.delete(requestKey);
    };
    if (!response.ok) {
      release();
      await response.body?.cancel().catch(() => undefined);
      return standInAnswer(watchOf(id, request, true), new Error(`its resumption was refused (HTTP ${response.status})`));
    }
    const watch = watchOf(id, request, true, release, exchange);
    return watchAnswer(response, watch, (cause) => watch.brokeOff(cause));
  };

  const remoteFetch = async (url: string | URL, init: RequestInit = {}): Promise<Response> => {
    const after = (init.method ?? 'GET').toUpperCase() === 'GET' ? new Headers(init.headers).get('last-event-id') : null;
    const suspension = after === null ? undefined : suspensions.get(after);
    if (after !== null && suspension) return resume(url, init, after, suspension);
    const outgoing = parseMessage(init.body);
    const id = outgoing && 'id' in outgoing && outgoing.method ? (outgoing.id as RequestId) : undefined;
    const requestKey = id === undefined ? undefined : JSON.stringify(id);
    try {
      const response = await send(url, init, requestKey);
      if (id === undefined) return response;
      const attempt = open.get(requestKey!);
      const watch = watchOf(
        id,
        init,
        false,
        () => {
          // A later exchange may reuse the id: release only this one's entry.
          if (open.get(requestKey!) === attempt) open.delete(requestKey!);
        },
        attempt,
      );
      return watchAnswer(response, watch, (cause) => watch.brokeOff(cause));
    } catch (error) {
      if (requestKey !== undefined) open.delete(requestKey);
      throw error;
    } finally {
      cancelled(outgoing);
    }
  };

  const lostAnswer = (error: unknown): ConnectorError | undefined => {
    if (error instanceof ConnectorError) return lost.has(error) ? error : undefined;
    if (!(error instanceof McpError)) return undefined;
    const key = (error.data as Record<string, unknown> | undefined)?.[STAND_IN];
    if (typeof key !== 'string') return undefined;
    const failure = standIns.get(key);
    standIns.delete(key);
    return failure;
  };

  return Object.assign(remoteFetch, { lostAnswer });

  /** Send the exchange; `retry`: retry with backoff while the server is unreachable or unavailable (when `options.retries()` allows). */
  async function send(url: string | URL, init: RequestInit, requestKey: string | undefined, retry = true): Promise<Response> {
    const retrying = (): boolean => retry && options.retries();
    const deadline = Date.now() + timeoutMs;
    const callerSignal = init.signal ?? undefined;
    let delay = backoff.initialMs;
    let renewed = false;
    for (;;) {
      const token = await tokens.token();
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${token}`);
      const remaining = Math.max(1, deadline - Date.now());
      // The timeout aborts only while waiting for the response to start: a streamed answer may take longer.
      const attempt = new AbortController();
      if (requestKey !== undefined) open.set(requestKey, attempt);
      const timer = setTimeout(() => attempt.abort(new DOMException('timed out', 'TimeoutError')), remaining);
      const unfollow = follow(callerSignal, attempt);
      let response: Response;
      try {
        response = await baseFetch(url, { ...init, headers, signal: attempt.signal });
      } catch (error) {
        if (callerSignal?.aborted) throw error;
        if ((attempt.signal.reason as { name?: unknown } | undefined)?.name === 'AbortError') throw attempt.signal.reason;
        const cause = attempt.signal.aborted ? attempt.signal.reason : error;
        const failure = networkFailure(cause, target, 'the server', hint, timeoutMs);
        // A request the server may have received is sent again only when running it twice does no harm.
        const received = mayHaveBeenReceived(cause);
        const resendable = received ? safeToResend(init) : true;
        if ((failure.retryable || (received && resendable && !isTimeout(cause))) && retrying() && Date.now() + delay < deadline) {
          logger.debug(`${failure.message} Retrying in ${delay} ms.`);
          await sleep(delay, callerSignal);
          delay = Math.min(delay * 2, backoff.maxMs);
          continue;
        }
        if (!resendable) throw outcomeUnknown(cause, init, failure);
        throw failure;
      } finally {
        clearTimeout(timer);
        unfollow();
      }
      if (response.status === 401) {
        const detail = await refusalDetail(response);
        if (!renewed && tokens.rejected(token)) {
          renewed = true;
          logger.debug(`the server rejected the access token (${detail ?? '401'}); fetching a new one.`);
          continue;
        }
        const expired = /expired/i.test(detail ?? '');
        throw new ConnectorError(
          expired ? 'expired' : 'unauthorized',
          expired
            ? `the server rejected ${tokens.description}: it has expired (401${detail ? `: ${detail}` : ''}). ${tokens.fixHint}`
            : `the server rejected ${tokens.description} (401${detail ? `: ${detail}` : ''}). ${tokens.fixHint}`,
        );
      }
      if (response.status === 403) {
        const detail = await refusalDetail(response);
        throw new ConnectorError(
          'forbidden',
          `the server refused access (403${detail ? `: ${detail}` : ''}). The credential is valid but not allowed here: check its permissions, the tenant in ${hint}, and the server's allowed hosts.`,
        );
      }
      const retryAfterMs = retryAfter(response.headers.get('retry-after'));
      if ((response.status === 503 || response.status === 429) && retrying() && Date.now() + Math.max(delay, retryAfterMs ?? 0) < deadline) {
        const wait = Math.min(retryAfterMs ?? delay, Math.max(0, deadline - Date.now() - 1));
        await response.body?.cancel().catch(() => undefined);
        logger.debug(`the server is ${response.status === 429 ? 'limiting requests (429)' : 'unavailable (503)'}; retrying in ${wait} ms.`);
        await sleep(wait, callerSignal);
        delay = Math.min(delay * 2, backoff.maxMs);
        continue;
      }
      if (response.status === 429) {
        const detail = await refusalDetail(response);
        const after = retryAfterMs === undefined ? '' : ` It asks to retry after ${Math.ceil(retryAfterMs / 1000)} s.`;
        throw new ConnectorError(
          'rate-limited',
          `the server is limiting requests (429 Too Many Requests${detail ? `: ${detail}` : ''}).${after} Wait and try again; if it persists, ask the server's operator about the rate limit for this credential.`,
        );
      }
      if (response.status === 503) {
        // Unavailable for now (an outage of the server or of a service it needs, such as the identity
        // provider): not a failure of the request, and the server may say when to come back.
        const detail = await refusalDetail(response);
        const after = retryAfterMs === undefined ? '' : ` It asks to retry after ${Math.ceil(retryAfterMs / 1000)} s.`;
        throw new ConnectorError(
          'server',
          `the server is unavailable for now (503 Service Unavailable${detail ? `: ${detail}` : ''}).${after} Try again later; if it persists, the server's operator should check its logs.`,
        );
      }
      if (response.status >= 500) {
        const detail = await refusalDetail(response);
        throw new ConnectorError(
          'server',
          `the server failed with HTTP ${response.status}${detail ? ` (${detail})` : ''}. Try again later; if it persists, the server's operator should check its logs.`,
        );
      }
      if (response.status === 404 && !headers.has('mcp-session-id')) {
        const detail = await refusalDetail(response);
        throw new ConnectorError('protocol', `there is no MCP endpoint at ${shownUrl(target)} (404${detail ? `: ${detail}` : ''}). Check the path in ${hint} (usually …/api/mcp or …/t/<tenant>/api/mcp).`);
      }
      const type = response.headers.get('content-type') ?? '';
      if (init.method === 'POST' && response.ok && response.status !== 202 && response.status !== 204 && !/application\/json|text\/event-stream/i.test(type)) {
        const title = /<title[^>]*>([^<]*)<\/title>/i.exec(await response.text().catch(() => ''))?.[1]?.replace(/\s+/g, ' ').trim().slice(0, MAX_DETAIL);
        throw new ConnectorError(
          'protocol',
          `the server at ${target.origin} answered with ${type.split(';', 1)[0]!.trim() || 'no content type'}${title ? ` ("${title}")` : ''}, not MCP (HTTP ${response.status}). A proxy or login page may be in the way; check ${hint} and your network.`,
        );
      }
      // The caller's signal ends the whole exchange, not only the wait for its start: a transport
      // that closes ends the answers it is still reading (a tool's streamed answer, an event
      // stream), so nothing it began is left open.
      return response.ok && response.body ? untilDone(response, follow(callerSignal, attempt)) : response;
    }
  }

  /** A request that may have run was neither answered nor resent: say so, and that its outcome is unknown. */
  function outcomeUnknown(cause: unknown, init: RequestInit, failure: ConnectorError): ConnectorError {
    if (isTimeout(cause)) {
      const what = describeBody(init.body);
      return new ConnectorError('timeout', `the server at ${target.origin} did not answer within ${timeoutMs} ms after ${what} was sent: ${OUTCOME_UNKNOWN} Raise --timeout for slow tools.`, false, { cause });
    }
    return droppedAfterSending(init, failure);
  }

  function droppedAfterSending(init: RequestInit, cause: unknown): ConnectorError {
    return new ConnectorError('dropped', `the server at ${target.origin} closed the connection before answering, after ${describeBody(init.body)} was sent: ${OUTCOME_UNKNOWN}`, false, { cause });
  }

  /**
   * The server's answer to a request had begun and broke off (or ended) without the response. The
   * server had the request, so one that must not run twice has an unknown outcome; one that
   * repeating cannot harm may be sent again.
   */
  function lostAnswerFailure(init: RequestInit, cause: unknown): ConnectorError {
    const failure = closedBeforeAnswering(target, 'the server', hint, cause);
    return safeToResend(init) ? failure : droppedAfterSending(init, failure);
  }
}

/** Exchanges under way, by their caller's signal (the transport's): one listener on it ends them all. */
const underWay = new WeakMap<AbortSignal, Set<AbortController>>();

/** Abort `attempt` when `signal` aborts, until the returned function is called. */
function follow(signal: AbortSignal | undefined, attempt: AbortController): () => void {
  if (!signal) return () => undefined;
  if (signal.aborted) {
    attempt.abort(signal.reason);
    return () => undefined;
  }
  let attempts = underWay.get(signal);
  if (!attempts) {
    const all = new Set<AbortController>();
    const abortAll = (): void => {
      for (const each of all) each.abort(signal.reason);
    };
    signal.addEventListener('abort', abortAll, { once: true });
    underWay.set(signal, (attempts = all));
  }
  attempts.add(attempt);
  return () => void attempts.delete(attempt);
}

/** `Retry-After` in milliseconds: seconds, or an HTTP date. */
function retryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** A failure of a response body as a few words: undici's "terminated" names its cause. */
function causeText(cause: unknown): string {
  const error = cause as { message?: unknown; cause?: { message?: unknown; code?: unknown } } | null;
  const inner = error?.cause;
  const detail = inner && typeof inner.message === 'string' ? ` (${typeof inner.code === 'string' ? `${inner.code}: ` : ''}${inner.message})` : '';
  return `${typeof error?.message === 'string' ? error.message : String(cause)}${detail}`;
}

function parseMessage(body: unknown): { id?: unknown; method?: string; params?: unknown } | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    const message = JSON.parse(body) as unknown;
    return message && typeof message === 'object' && !Array.isArray(message) ? (message as { method?: string }) : undefined;
  } catch {
    return undefined;
  }
}
