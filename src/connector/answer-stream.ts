import type { RequestId } from '@modelcontextprotocol/sdk/types.js';

/**
 * The body of the server's answer to one request, watched for that request's JSON-RPC response.
 * The MCP SDK's client transport waits for a response that a broken stream never brings: it only
 * logs the broken stream, and the request waits for the connector's timeout. Watching the body
 * lets the connector answer at once instead.
 */
export interface AnswerWatch {
  /** The id of the request the body answers. */
  readonly id: RequestId;
  /**
   * The body ended (or failed with `cause`) without the response. Returns the JSON-RPC error
   * response that stands in for it, as the text of a message.
   */
  lost(cause: unknown): string;
  /**
   * The stream broke off (or ended) without the response after events with ids: the client
   * transport resumes it with `Last-Event-ID: lastEventId`.
   */
  suspended?(lastEventId: string): void;
  /**
   * Set for a resumed stream, which the client transport resumes again however it ends: the id its
   * stand-in event carries, for the transport to come back with (see {@link AnswerWatch.suspended}).
   */
  readonly standInId?: string;
  /**
   * Asked when the body was aborted: if its request was cancelled by the client, the id of an event
   * that ends the stream instead, which the client transport resumes after, to nothing (it would
   * otherwise reopen the stream of a request it gave up on, and hold it until the server answered).
   */
  cancelled?(): string | undefined;
  /** The exchange is over, whatever its outcome (called once). */
  finished(): void;
}

/** Whether a failure of the body is our own doing (a cancelled request, a closed transport), not the server's. */
function aborted(error: unknown): boolean {
  return (error as { name?: unknown } | null)?.name === 'AbortError';
}

/** Whether this message text is the response (result or error) to request `id`. */
function answers(data: string, id: RequestId): boolean {
  // Notifications and server → client requests are by far the most frequent events: skip them unparsed.
  if (!data.includes('"result"') && !data.includes('"error"')) return false;
  try {
    const message = JSON.parse(data) as unknown;
    if (!message || typeof message !== 'object' || Array.isArray(message)) return false;
    return (message as { id?: unknown }).id === id && ('result' in message || 'error' in message);
  } catch {
    return false;
  }
}

/** The id and method of a server→client request, if this message text is one. */
function serverRequest(data: string): { id: string | number; method: string } | undefined {
  // Notifications (progress, log messages) are by far the most frequent events: skip them unparsed.
  if (!data.includes('"method"') || !data.includes('"id"')) return undefined;
  try {
    const message = JSON.parse(data) as { id?: unknown; method?: unknown } | null;
    const id = message?.id;
    if ((typeof id !== 'string' && typeof id !== 'number') || typeof message?.method !== 'string') return undefined;
    return { id, method: message.method };
  } catch {
    return undefined;
  }
}

const END_OF_LINE = /\r\n|\r|\n/g;

/**
 * Splits an SSE stream into whole events (the spec's line and event rules: CR, LF or CRLF ends a
 * line, an empty line ends an event). Text is handed back only up to the end of the last whole
 * event, so a stream cut short never passes on half an event. Each piece of text is scanned once,
 * however long an event grows.
 */
export class EventStreamCutter {
  /** Text of the unfinished event, not passed on yet. */
  private held: string[] = [];
  /** Pieces of the unfinished line. */
  private partial: string[] = [];
  /** The lines of the event being read. */
  private lines: string[] = [];
  /** The last piece ended with CR: an LF starting the next one completes a CRLF, not another line. */
  private afterCr = false;
  private first = true;

  constructor(private readonly onEvent: (event: { type: string; data: string | undefined; id: string | undefined }) => void) {}

  /** Add text from the stream; returns the text of the events it completed. */
  push(text: string): string {
    let out = '';
    let start = this.afterCr && text.startsWith('\n') ? 1 : 0;
    let passed = 0;
    if (text) this.afterCr = false;
    END_OF_LINE.lastIndex = start;
    for (let end = END_OF_LINE.exec(text); end; end = END_OF_LINE.exec(text)) {
      this.partial.push(text.slice(start, end.index));
      let line = this.partial.join('');
      this.partial = [];
      start = end.index + end[0].length;
      if (end[0] === '\r' && start === text.length) this.afterCr = true;
      if (this.first) {
        this.first = false;
        if (line.startsWith('\uFEFF')) line = line.slice(1);
      }
      if (line !== '') {
        this.lines.push(line);
        continue;
      }
      this.dispatch();
      out += this.held.join('') + text.slice(passed, start);
      this.held = [];
      passed = start;
    }
    if (start < text.length) this.partial.push(text.slice(start));
    if (passed < text.length) this.held.push(text.slice(passed));
    return out;
  }

  private dispatch(): void {
    let type = '';
    let id: string | undefined;
    const data: string[] = [];
    for (const line of this.lines) {
      const colon = line.indexOf(':');
      if (colon === 0) continue;
      const name = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (name === 'data') data.push(value);
      else if (name === 'event') type = value;
      else if (name === 'id' && !value.includes('\0')) id = value;
    }
    this.lines = [];
    this.onEvent({ type: type || 'message', data: data.length ? data.join('\n') : undefined, id });
  }
}

/** The SSE event that delivers the stand-in for the response `watch` waits for. */
function standInEvent(watch: AnswerWatch, cause: unknown): string {
  return `${watch.standInId === undefined ? '' : `id: ${watch.standInId}\n`}event: message\ndata: ${watch.lost(cause)}\n\n`;
}

/**
 * The answer to a resumption of a stream that cannot be resumed (`cause` says why): an event stream
 * of the stand-in alone, which the client transport delivers as the response.
 */
export function standInAnswer(watch: AnswerWatch, cause: unknown): Response {
  const response = new Response(standInEvent(watch, cause), { headers: { 'content-type': 'text/event-stream' } });
  watch.finished();
  return response;
}

/** How {@link relayBody} passes a body on: each chunk (true when it enqueued something), its end, its failure. */
interface Relay {
  chunk(value: Uint8Array, controller: ReadableStreamDefaultController<Uint8Array>): boolean;
  end(controller: ReadableStreamDefaultController<Uint8Array>): void;
  fail(error: unknown, controller: ReadableStreamDefaultController<Uint8Array>): void;
}

/**
 * `body`, passed on through `relay`. `finished` is told once that the exchange is over: when the
 * body ends or fails (before `relay` hears of it), or when the reader cancels it.
 */
function relayBody(body: ReadableStream<Uint8Array>, finished: () => void, relay: Relay): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  let over = false;
  const finish = (): void => {
    if (over) return;
    over = true;
    finished();
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          finish();
          return relay.fail(error, controller);
        }
        if (chunk.done) {
          finish();
          return relay.end(controller);
        }
        if (relay.chunk(chunk.value, controller)) return;
      }
    },
    cancel(reason) {
      finish();
      return reader.cancel(reason);
    },
  });
}

/**
 * An SSE body, passed on event by event. When it ends or breaks without the response, the stand-in
 * error response is delivered as its last event and the stream ends normally, so the request is
 * answered at once. A resumable stream (its events carry ids) is left to the client transport,
 * which resumes it with `Last-Event-ID`, and the watch is told where from.
 */
function watchEventStream(body: ReadableStream<Uint8Array>, watch: AnswerWatch): ReadableStream<Uint8Array> {
  const decoder = new TextDecoder();
  const encoder = new TextEncoder();
  let answered = false;
  /** The id the client transport resumes after: that of the last event it dispatched (one with data). */
  let lastEventId: string | undefined;
  /** The server→client requests that came on the stream (the request's questions to the client), by id. */
  const asked = new Map<string | number, string>();
  const events = new EventStreamCutter(({ type, data, id }) => {
    if (id && data !== undefined) lastEventId = id;
    if (type !== 'message' || data === undefined) return;
    if (answers(data, watch.id)) answered = true;
    else {
      const request = serverRequest(data);
      if (request) asked.set(request.id, request.method);
    }
  });
  const standIn = (cause: unknown): Uint8Array => encoder.encode(standInEvent(watch, cause));
  /** Whether the stream is left to the client transport to resume (told to the watch), rather than ended with the stand-in. */
  const resumed = (): boolean => {
    if (lastEventId === undefined) return false;
    watch.suspended?.(lastEventId);
    return true;
  };
  return relayBody(body, () => watch.finished(), {
    chunk(value, controller) {
      const complete = events.push(decoder.decode(value, { stream: true }));
      if (complete) controller.enqueue(encoder.encode(complete));
      return complete !== '';
    },
    end(controller) {
      const rest = events.push(decoder.decode());
      if (rest) controller.enqueue(encoder.encode(rest));
      if (!answered && !resumed()) controller.enqueue(standIn(undefined));
      controller.close();
    },
    fail(error, controller) {
      const endId = !answered && aborted(error) ? watch.cancelled?.() : undefined;
      if (endId !== undefined) {
        // The server's withdrawal of its questions cannot come on a stream that ended: the client
        // transport is told here, so that the questions still open with the user are closed.
        for (const [id, method] of asked) {
          const withdrawn = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: `The call that sent ${method} was cancelled.` } };
          controller.enqueue(encoder.encode(`event: message\ndata: ${JSON.stringify(withdrawn)}\n\n`));
        }
        // An event with an id and no message (a data line is what makes it an event).
        controller.enqueue(encoder.encode(`id: ${endId}\ndata:\n\n`));
        return controller.close();
      }
      if (answered || aborted(error) || resumed()) return controller.error(error);
      controller.enqueue(standIn(error));
      controller.close();
    },
  });
}

/** The same body passed on as it comes, failing as it fails. */
const PASS_THROUGH: Relay = {
  chunk(value, controller) {
    controller.enqueue(value);
    return true;
  },
  end: (controller) => controller.close(),
  fail: (error, controller) => controller.error(error),
};

/**
 * A JSON body, passed on as it comes. When it breaks before its end, it fails with the error
 * `failure` makes of the cause (the client transport rejects the request with it).
 */
function watchJsonBody(body: ReadableStream<Uint8Array>, watch: AnswerWatch, failure: (cause: unknown) => Error): ReadableStream<Uint8Array> {
  return relayBody(body, () => watch.finished(), { ...PASS_THROUGH, fail: (error, controller) => controller.error(aborted(error) ? error : failure(error)) });
}

/** `response` as it is, with `done` told once when its body has ended, failed or been cancelled. */
export function untilDone(response: Response, done: () => void): Response {
  if (!response.body) {
    done();
    return response;
  }
  return new Response(relayBody(response.body, done, PASS_THROUGH), { status: response.status, statusText: response.statusText, headers: response.headers });
}

/**
 * The server's answer to a request, with its body watched for the request's response: an SSE
 * stream or a JSON body that ends without it is answered with an error at once. Any other answer
 * (a refusal, no body) is returned as it is, and the exchange counts as finished.
 */
export function watchAnswer(response: Response, watch: AnswerWatch, failure: (cause: unknown) => Error): Response {
  const type = response.headers.get('content-type') ?? '';
  let body: ReadableStream<Uint8Array> | undefined;
  if (response.body && response.ok && /^\s*text\/event-stream\s*(;|$)/i.test(type)) body = watchEventStream(response.body, watch);
  else if (response.body && response.ok && /^\s*application\/json\s*(;|$)/i.test(type)) body = watchJsonBody(response.body, watch, failure);
  if (!body) {
    watch.finished();
    return response;
  }
  return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
}
