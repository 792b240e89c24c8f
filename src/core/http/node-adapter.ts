import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../errors.js';
import { ResponseAborted, type HttpRequest, type HttpResponse } from './types.js';

export type NodeHandler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => void;

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    return Promise.reject(new HttpError(413, 'payload_too_large', `The request body exceeds ${limit} bytes.`, { headers: { connection: 'close' } }));
  }
  // A framework may already have parsed the body (e.g. express.json()); accept it as is.
  const preParsed = (req as IncomingMessage & { body?: unknown }).body;
  if (preParsed !== undefined && req.readableEnded) {
    return Promise.resolve(Buffer.isBuffer(preParsed) ? preParsed : Buffer.from(typeof preParsed === 'string' ? preParsed : JSON.stringify(preParsed)));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.resume();
        reject(new HttpError(413, 'payload_too_large', `The request body exceeds ${limit} bytes.`, { headers: { connection: 'close' } }));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)));
    req.once('error', (error) => reject(new HttpError(400, 'bad_request', `Could not read the request body: ${error.message}`)));
  });
}

/**
 * Headers of which Node keeps only the first when a request repeats them, and that the engine reads
 * for security: a second one is joined on, as the Fetch API does, so that a request with two
 * credentials or two hosts is refused as malformed instead of judged by whichever came first.
 */
const FIRST_KEPT = new Set(['authorization', 'host']);

/**
 * The request's header lookup, closed over its header block alone: whoever keeps it (an
 * authenticator keeping the requests it saw) keeps the headers, not the request, its response and
 * its connection, which every function made inside `fromNodeRequest` would keep through its scope.
 */
function headerLookup(headers: IncomingHttpHeaders, raw: readonly string[]): (name: string) => string | undefined {
  return (name) => {
    const value = headers[name];
    if (value !== undefined && FIRST_KEPT.has(name)) return everyValue(raw, name) ?? (value as string);
    return typeof value === 'string' || value === undefined ? value : value.join(', ');
  };
}

/** The values of a header the request repeats, joined with `, `; undefined when it is sent once. */
function everyValue(raw: readonly string[], name: string): string | undefined {
  let joined: string | undefined;
  let count = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const field = raw[i]!;
    if (field.length !== name.length || field.toLowerCase() !== name) continue;
    joined = count++ === 0 ? raw[i + 1]! : `${joined}, ${raw[i + 1]!}`;
  }
  return count > 1 ? joined : undefined;
}

export function fromNodeRequest(req: IncomingMessage, res: ServerResponse, limit: number): HttpRequest {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  // Abort plumbing is created only when something asks for it: most requests never do.
  let controller: AbortController | undefined;
  let listeners: (() => void)[] | undefined;
  let gone = false;
  res.once('close', () => {
    if (res.writableFinished) return;
    gone = true;
    controller?.abort();
    if (listeners) for (const listener of listeners) listener();
  });
  let body: Promise<Buffer> | undefined;
  let query: URLSearchParams | undefined;
  return {
    method: req.method ?? 'GET',
    path: q === -1 ? url : url.slice(0, q),
    // Parsed on first use: the MCP endpoint never reads it.
    get query() {
      return (query ??= q === -1 ? new URLSearchParams() : new URLSearchParams(url.slice(q + 1)));
    },
    header: headerLookup(req.headers, req.rawHeaders),
    body: () => (body ??= readBody(req, limit)),
    clientAddress: req.socket.remoteAddress,
    get signal() {
      if (!controller) {
        controller = new AbortController();
        if (gone) controller.abort();
      }
      return controller.signal;
    },
    onClose(listener) {
      if (gone) listener();
      else (listeners ??= []).push(listener);
    },
  };
}

const GONE = Symbol('client gone');
/** Statuses that never carry a body (nor a Content-Length of one). */
const NO_BODY = new Set([204, 304]);

/**
 * `work`'s outcome, or GONE as soon as the response closes. The close listener is removed when the
 * wait ends: a race against one long-lived promise would keep every chunk of the body alive until
 * the response ends (a streamed export would hold all of itself in memory).
 */
function unlessClosed<T>(res: ServerResponse, work: Promise<T>): Promise<T | typeof GONE> {
  if (res.destroyed) return Promise.resolve(GONE);
  return new Promise((resolve, reject) => {
    const onClose = (): void => resolve(GONE);
    res.once('close', onClose);
    work.then(
      (value) => {
        res.off('close', onClose);
        resolve(value);
      },
      (error: unknown) => {
        res.off('close', onClose);
        reject(error);
      },
    );
  });
}

/** The header block of a response as `writeHead` takes it: a flat list of names and values. */
function headerList(headers: Readonly<Record<string, string>> | undefined, contentLength: number | undefined): string[] {
  const list: string[] = [];
  if (headers) for (const name in headers) list.push(name, headers[name]!);
  if (contentLength !== undefined) list.push('content-length', String(contentLength));
  return list;
}

/** How long a response may hold unsent data without the client taking any, unless configured. */
export const DEFAULT_WRITE_STALL_TIMEOUT_MS = 30_000;

/** How the writer treats a client that stops reading (see `writeStallTimeoutMs`). */
export interface WriteStallOptions {
  /** How long a response with unsent data may go with the client taking none of it before it is cut. */
  readonly timeoutMs: number;
  /** Told once when a response is cut for it (before the socket is destroyed). */
  readonly onStall?: (res: ServerResponse, unsentBytes: number) => void;
}

const DEFAULT_STALL: WriteStallOptions = { timeoutMs: DEFAULT_WRITE_STALL_TIMEOUT_MS };

/** A fixed body larger than this is written in slices, so a slow reader's progress is seen. */
const SLICE_ABOVE = 256 * 1024;
const SLICE = 64 * 1024;

/**
 * Wait until the response drains: true when it did, false when it closed first. A response that
 * makes no progress for the stall timeout has its socket destroyed (which closes it). The one
 * timer exists only while this response waits, and never keeps the process alive.
 */
function drained(res: ServerResponse, stall: WriteStallOptions): Promise<boolean> {
  if (res.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const done = (value: boolean): void => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(value);
    };
    const onDrain = (): void => done(true);
    const onClose = (): void => done(false);
    const timer = cutWhenStalled(res, stall);
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

/**
 * An ended response the connection could not take at once (the client is not reading, or slowly):
 * cut when it is not all sent within the stall timeout. Ended responses see no `drain`: the time
 * bounds the whole rest, which is at most one slice and the connection's buffers.
 */
function watchUnsent(res: ServerResponse, stall: WriteStallOptions): void {
  if (res.writableLength === 0 || res.destroyed) return;
  const timer = cutWhenStalled(res, stall);
  res.once('close', () => clearTimeout(timer));
}

/**
 * The one timer of a waiting response: when it fires and the client took none of the unsent data
 * in the period, the stall is reported and the response destroyed. A client that took some (a slow
 * reader of a large message) gets another period: only a client that takes nothing for the whole
 * timeout is cut, however large the write it is working through.
 */
function cutWhenStalled(res: ServerResponse, stall: WriteStallOptions): NodeJS.Timeout {
  let last = unsent(res);
  // The write being waited on may still be corked until the next tick: measure from where it went out.
  setImmediate(() => (last = unsent(res)));
  const timer = setTimeout(() => {
    const now = unsent(res);
    if (!res.destroyed && (now.buffered < last.buffered || (now.buffered === last.buffered && now.inWrite < last.inWrite))) {
      last = now;
      timer.refresh();
      return;
    }
    try {
      stall.onStall?.(res, res.writableLength);
    } finally {
      // Also drops what the socket held: its buffers, and the response with everything it keeps.
      res.destroy();
    }
  }, stall.timeoutMs);
  timer.unref();
  return timer;
}

/**
 * What the response still has to send: its own and its socket's buffers (`writableLength`, which
 * counts a write until all of it is out), and what libuv still holds of the write in progress
 * (`writeQueueSize`, which Node's own socket timeout reads for the same purpose: it shrinks as the
 * kernel takes data, long before the write completes).
 */
function unsent(res: ServerResponse): { readonly buffered: number; readonly inWrite: number } {
  const handle = (res.socket as { _handle?: { writeQueueSize?: number } | null } | null)?._handle;
  return { buffered: res.writableLength, inWrite: handle?.writeQueueSize ?? 0 };
}

/** A large fixed body as slices, written by the streaming path (which sees each drain). */
async function* slices(body: string | Uint8Array): AsyncGenerator<string | Uint8Array> {
  for (let at = 0; at < body.length; at += SLICE) yield typeof body === 'string' ? body.slice(at, at + SLICE) : body.subarray(at, at + SLICE);
}

export async function writeNodeResponse(res: ServerResponse, response: HttpResponse, stall: WriteStallOptions = DEFAULT_STALL): Promise<void> {
  let body = response.body;
  let headers = response.headers;
  if (body === undefined || typeof body === 'string' || body instanceof Uint8Array) {
    // Status line, headers and body in one write: the header block is built once, with the length.
    const length = body === undefined ? undefined : typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    const explicit = headers !== undefined && ('content-length' in headers || 'transfer-encoding' in headers);
    if (body === undefined || length! <= SLICE_ABOVE) {
      res.writeHead(response.status, headerList(headers, explicit || NO_BODY.has(response.status) ? undefined : (length ?? 0)));
      res.end(body);
      watchUnsent(res, stall);
      return;
    }
    if (!explicit) headers = { ...headers, 'content-length': String(length) };
    body = slices(body);
  }
  res.statusCode = response.status;
  if (headers) for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.flushHeaders();
  // A client that goes away (or stops reading while writes are backed up) ends the writing: no
  // wait for a `drain` that will never come, and the body is told to stop (`return()`).
  const iterator = body[Symbol.asyncIterator]();
  let written: Promise<unknown> = Promise.resolve();
  let finished = false;
  try {
    for (;;) {
      const step = await unlessClosed(res, iterator.next());
      if (step === GONE || res.destroyed) break;
      if (step.done) {
        finished = true;
        break;
      }
      written = new Promise((resolve) => res.write(step.value, resolve));
      if (res.writableNeedDrain && !(await drained(res, stall))) break;
    }
  } catch (error) {
    finished = true;
    // A body that fails after the first byte must not look complete: abort the response (no
    // terminating chunk), so the reader sees an error instead of a clean, truncated end. What the
    // body said last (an error record) is sent first.
    await Promise.race([written, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    res.destroy();
    if (error instanceof ResponseAborted) return;
    throw error;
  }
  if (!finished) {
    void Promise.resolve(iterator.return?.()).catch(() => undefined);
    res.destroy();
    return;
  }
  res.end();
  watchUnsent(res, stall);
}
