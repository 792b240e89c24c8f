import { ConnectorError } from './connector-error.js';

const REFUSED = new Set(['ECONNREFUSED']);
const DROPPED = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);
const DNS = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL', 'EAI_NODATA']);
const NO_ROUTE = new Set(['EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL']);
const CONNECT_TIMEOUT = new Set(['UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT', 'UND_ERR_HEADERS_TIMEOUT']);
/** Timeouts that end an exchange before anything was sent. */
const BEFORE_SENDING = new Set(['UND_ERR_CONNECT_TIMEOUT']);
const CERTIFICATE = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|HOSTNAME_MISMATCH/;

/** The first `code` on an error or along its `cause` chain (undici wraps the socket error). */
function codeOf(error: unknown): { code: string | undefined; message: string } {
  let current: unknown = error;
  let message = error instanceof Error ? error.message : String(error);
  for (let depth = 0; depth < 5 && current; depth++) {
    const candidate = current as { code?: unknown; cause?: unknown; message?: unknown; errors?: unknown };
    if (typeof candidate.message === 'string' && candidate.message) message = candidate.message;
    if (typeof candidate.code === 'string') return { code: candidate.code, message };
    if (Array.isArray(candidate.errors) && candidate.errors.length) current = candidate.errors[0];
    else current = candidate.cause;
  }
  return { code: undefined, message };
}

export function isTimeout(error: unknown): boolean {
  const name = (error as { name?: unknown } | null)?.name;
  return name === 'TimeoutError' || CONNECT_TIMEOUT.has(codeOf(error).code ?? '');
}

/**
 * Whether the request may have reached the server before the exchange failed: the connection
 * dropped while it was sent or answered, or no answer came in time. A refused connection, a failed
 * DNS lookup or a connect timeout prove it never left.
 */
export function mayHaveBeenReceived(error: unknown): boolean {
  const { code } = codeOf(error);
  if (code && DROPPED.has(code)) return true;
  return isTimeout(error) && !(code && BEFORE_SENDING.has(code));
}

/** The other end closed the connection, or ended its answer, before the answer was complete. */
export function closedBeforeAnswering(target: URL, what: string, hint: string, cause: unknown): ConnectorError {
  return new ConnectorError('unreachable', `${what} at ${target.origin} closed the connection before answering. It may be restarting; if this persists, check ${hint} and its logs.`, false, { cause });
}

/**
 * Turn a failed `fetch` (no HTTP response at all) into one line a user can act on. `what` names the
 * other end ("the server", "the IdP") and `hint` the flag that points at it.
 */
export function networkFailure(error: unknown, target: URL, what: string, hint: string, timeoutMs: number): ConnectorError {
  const where = `${target.origin}`;
  if (isTimeout(error)) {
    return new ConnectorError('timeout', `${what} at ${where} did not answer within ${timeoutMs} ms. Check that it is up, or raise --timeout.`, false, { cause: error });
  }
  const { code, message } = codeOf(error);
  if (code && REFUSED.has(code)) {
    return new ConnectorError('unreachable', `cannot reach ${what} at ${where}: connection refused. Is it running, and are the host and port in ${hint} right?`, true, { cause: error });
  }
  if (code && DROPPED.has(code)) return closedBeforeAnswering(target, what, hint, error);
  if (code && DNS.has(code)) {
    return new ConnectorError('dns', `cannot resolve the host "${target.hostname}" (DNS lookup failed). Check the host name in ${hint} and your network.`, false, { cause: error });
  }
  if (code && NO_ROUTE.has(code)) {
    return new ConnectorError('unreachable', `cannot reach ${what} at ${where}: no route to the host (${code}). Check your network, VPN or proxy.`, false, { cause: error });
  }
  if (code && CERTIFICATE.test(code)) {
    return new ConnectorError('tls', `TLS failure with ${where}: its certificate is not trusted (${code}). Check ${hint}, or install the CA (NODE_EXTRA_CA_CERTS=<ca.pem>).`, false, { cause: error });
  }
  if ((code && (code.startsWith('ERR_SSL') || code === 'EPROTO' || code.startsWith('ERR_TLS'))) || /SSL|TLS/.test(message)) {
    return new ConnectorError('tls', `TLS handshake with ${where} failed (${code ?? message}). Does that port speak https? If the server is plain http, use an http:// URL in ${hint}.`, false, { cause: error });
  }
  return new ConnectorError('unreachable', `cannot reach ${what} at ${where}: ${code ?? message}. Check ${hint} and your network.`, false, { cause: error });
}
