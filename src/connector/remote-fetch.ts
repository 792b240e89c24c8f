import { ConnectorError } from './connector-error.js';
import { isTimeout, mayHaveBeenReceived, networkFailure } from './network-errors.js';
import { OUTCOME_UNKNOWN, describeBody, safeToResend } from './repeatable-requests.js';
import { shownUrl } from './shown-url.js';
import type { StderrLogger } from './stderr-logger.js';
import type { TokenSource } from './token-source.js';

export type FetchLike = (url: string | URL, init?: RequestInit) => Promise<Response>;

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
export function createRemoteFetch(options: RemoteFetchOptions): FetchLike {
  const { url: target, tokens, timeoutMs, logger } = options;
  const backoff = options.backoff ?? { initialMs: 250, maxMs: 4_000 };
  const baseFetch = options.fetch ?? fetch;
  const hint = '--url';
  // In-flight requests by JSON-RPC id, so a cancellation also ends the HTTP exchange: a stateless
  // server learns of it only when the connection of the request closes.
  const open = new Map<string, AbortController>();

  const cancelled = (body: unknown): void => {
    const message = parseMessage(body);
    if (message?.method !== 'notifications/cancelled') return;
    const id = JSON.stringify((message.params as { requestId?: unknown } | undefined)?.requestId ?? null);
    const request = open.get(id);
    open.delete(id);
    request?.abort(new DOMException('cancelled by the client', 'AbortError'));
  };

  return async (url, init = {}) => {
    const outgoing = parseMessage(init.body);
    const requestKey = outgoing && 'id' in outgoing && outgoing.method ? JSON.stringify(outgoing.id) : undefined;
    try {
      const response = await send(url, init, requestKey);
      if (requestKey === undefined) return response;
      if (!response.body || !response.headers.get('content-type')?.includes('text/event-stream')) {
        open.delete(requestKey);
        return response;
      }
      const release = (): void => void open.delete(requestKey);
      const body = response.body.pipeThrough(new TransformStream({ flush: release }));
      return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
    } catch (error) {
      if (requestKey !== undefined) open.delete(requestKey);
      throw error;
    } finally {
      cancelled(outgoing);
    }
  };

  async function send(url: string | URL, init: RequestInit, requestKey: string | undefined): Promise<Response> {
    const deadline = Date.now() + timeoutMs;
    const callerSignal = init.signal ?? undefined;
    let delay = backoff.initialMs;
    let renewed = false;
    for (;;) {
      const token = await tokens.token();
      const headers = new Headers(init.headers);
      headers.set('authorization', `Bearer ${token}`);
      const remaining = Math.max(1, deadline - Date.now());
      // Abort only while waiting for the response to start: a streamed answer may take longer.
      const attempt = new AbortController();
      if (requestKey !== undefined) open.set(requestKey, attempt);
      const timer = setTimeout(() => attempt.abort(new DOMException('timed out', 'TimeoutError')), remaining);
      const onCallerAbort = (): void => attempt.abort(callerSignal!.reason);
      callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
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
        if ((failure.retryable || (received && resendable && !isTimeout(cause))) && options.retries() && Date.now() + delay < deadline) {
          logger.debug(`${failure.message} Retrying in ${delay} ms.`);
          await sleep(delay, callerSignal);
          delay = Math.min(delay * 2, backoff.maxMs);
          continue;
        }
        if (!resendable) throw outcomeUnknown(cause, init, failure);
        throw failure;
      } finally {
        clearTimeout(timer);
        callerSignal?.removeEventListener('abort', onCallerAbort);
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
      if ((response.status === 503 || response.status === 429) && options.retries() && Date.now() + Math.max(delay, retryAfterMs ?? 0) < deadline) {
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
      return response;
    }
  }

  /** A request that may have run was neither answered nor resent: say so, and that its outcome is unknown. */
  function outcomeUnknown(cause: unknown, init: RequestInit, failure: ConnectorError): ConnectorError {
    const what = describeBody(init.body);
    if (isTimeout(cause)) {
      return new ConnectorError('timeout', `the server at ${target.origin} did not answer within ${timeoutMs} ms after ${what} was sent: ${OUTCOME_UNKNOWN} Raise --timeout for slow tools.`, false, { cause });
    }
    return new ConnectorError('dropped', `the server at ${target.origin} closed the connection before answering, after ${what} was sent: ${OUTCOME_UNKNOWN}`, false, { cause: failure });
  }
}

/** `Retry-After` in milliseconds: seconds, or an HTTP date. */
function retryAfter(value: string | null): number | undefined {
  if (!value) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
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
