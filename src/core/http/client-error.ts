import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { clipClientText } from '../client-text.js';
import { safeLog, type Logger } from '../log/logger.js';

/**
 * How long a refused connection stays open after its answer, for the client to read it and hang
 * up. Closing at once, while the rest of what the client sent is still arriving, makes the kernel
 * reset the connection, and a reset can discard the answer before the client reads it.
 */
const LINGER_MS = 1_000;

/** What the client is told, by the error Node's HTTP server reports (the statuses Node itself answers). */
function refusalOf(code: string): { readonly status: number; readonly code: string; readonly message: string } | undefined {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, code: 'request_header_fields_too_large', message: 'The request headers are too large.' };
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return { status: 413, code: 'payload_too_large', message: 'The chunk extensions of the request body are too large.' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, code: 'request_timeout', message: 'The request did not arrive whole in time.' };
    default:
      return undefined;
  }
}

/** Sockets already answered: the parser reports again when more arrives or the client hangs up. */
const answered = new WeakSet<Duplex>();

/**
 * A listener for a Node HTTP server's `clientError` event (`server.on('clientError', …)`): a
 * request Node cannot parse (a garbage request line, invalid header characters, a bad
 * `Content-Length`, headers over the size limit) or that does not arrive whole in time never
 * reaches the request handler; Node's own answer is a bare status line. This answers it like
 * the engine answers every other error: JSON, `{ error: { code, message } }`, with
 * `Connection: close`: 400 `bad_request` naming what the parser found, 431 for headers over
 * the size limit, 413 for chunk extensions over theirs, 408 when the request or its headers did
 * not arrive within the server's timeout. The client's bytes are never echoed or logged. A
 * connection that cannot take an answer (reset by the client, no longer writable, or a response
 * already under way on it) is closed without one.
 *
 * `logger` gets one `warn` line per refused request (status, Node's error code, client address)
 * and a `debug` line per connection closed without an answer.
 */
export function clientErrorHandler(logger?: Logger): (error: Error, socket: Duplex) => void {
  return (error, socket) => {
    if (answered.has(socket)) return;
    const code = clipClientText((error as { code?: unknown }).code ?? 'unknown', 64);
    const clientAddress = (socket as { remoteAddress?: string }).remoteAddress;
    // Node's own condition: a response whose head is out cannot be followed by another.
    const current = (socket as { _httpMessage?: { headersSent?: boolean } | null })._httpMessage;
    if (code === 'ECONNRESET' || !socket.writable || current?.headersSent) {
      if (logger) safeLog(logger, 'debug', { reason: code, clientAddress }, 'client connection closed before a request was read');
      socket.destroy();
      return;
    }
    answered.add(socket);
    const parseError = code.startsWith('HPE_');
    const reason = (error as { reason?: unknown }).reason;
    const refusal = refusalOf(code) ?? {
      status: 400,
      code: 'bad_request',
      message: parseError && typeof reason === 'string' && reason !== '' ? `The request is not valid HTTP: ${clipClientText(reason.replace(/\.$/, ''), 100)}.` : 'The request is not valid HTTP.',
    };
    if (logger) safeLog(logger, 'warn', { status: refusal.status, reason: code, clientAddress }, 'request refused before it was read');
    const body = JSON.stringify({ error: { code: refusal.code, message: refusal.message } });
    const head =
      `HTTP/1.1 ${refusal.status} ${STATUS_CODES[refusal.status]}\r\n` +
      `Content-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    // After a parse error the parser takes no further request: what still arrives is read and
    // dropped until the client hangs up. A request that timed out could still complete (and run
    // after its 408), so its connection is closed as soon as the answer is out.
    socket.end(`${head}${body}`, parseError ? undefined : () => socket.destroy());
  };
}
