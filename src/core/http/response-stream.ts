import { randomUUID } from 'node:crypto';
import { safeLog, type Logger } from '../log/logger.js';
import { SseStream } from '../mcp/sse-stream.js';
import { STREAM_END, type SessionEventLog } from '../mcp/session-event-log.js';
import type { HttpResponse } from './types.js';

/** How soon a client whose stream was closed early should reconnect. */
const RETRY_MS = 500;

/** An event stream that ends at once: the answer of a request its client cancelled before anything was sent. */
const EMPTY_EVENT_STREAM: HttpResponse = { status: 200, headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' }, body: '' };

/** Where every chain starts: one settled promise for all streams, not one per request. */
const SETTLED: Promise<void> = Promise.resolve();

/**
 * The answer to one request whose client accepts `text/event-stream`: plain JSON unless the
 * handler sends something first, then an SSE stream of those messages ending with the response.
 *
 * Within an MCP session the stream is resumable: it opens with a priming event, every message
 * carries an event id and is kept in the session's event log, and the stream may close before the
 * response (the handler asks for it, or the client goes away) without ending the call: the client
 * reconnects with `Last-Event-ID` — on any instance — and receives the rest.
 */
export class ResponseStream {
  private stream: SseStream | undefined;
  private finished = false;
  private detached = false;
  /** The session stream's pending event-log work, in order (none for a plain answer). */
  private chain: Promise<void> = SETTLED;
  /** The stream's key in the session's event log: made when the first event is kept. */
  private key: string | undefined;

  constructor(
    private readonly respond: (response: HttpResponse) => void,
    private readonly logger: Logger,
    private readonly onOpen: () => void,
    private readonly events?: { readonly log: SessionEventLog; readonly sessionId: string },
  ) {}

  /** Whether the client can resume this stream (it belongs to a session). */
  get resumable(): boolean {
    return this.events !== undefined;
  }

  /** Whether the response stream has been opened. */
  get opened(): boolean {
    return this.stream !== undefined;
  }

  send(message: unknown): void {
    if (this.finished) return;
    this.open();
    if (this.events) this.record(JSON.stringify(message));
    else this.stream!.send(message);
  }

  /** End the HTTP stream now; the call goes on and the client resumes it. Resumable streams only. */
  closeEarly(): void {
    if (!this.events || this.finished) return;
    this.open();
    this.afterPrevious(() => this.detach());
  }

  /** The client went away: keep recording for its return. */
  detach(): void {
    this.detached = true;
    this.stream?.close();
  }

  /** Deliver the response: as the last event of the stream when one is open, else as is. */
  finish(response: HttpResponse): void {
    this.finished = true;
    if (!this.stream) return this.respond(response);
    if (this.events) {
      this.record(response.body as string);
      this.afterPrevious(() => this.stream!.close());
      return;
    }
    this.stream.send(JSON.parse(response.body as string));
    this.stream.close();
  }

  /**
   * The client cancelled the request: end the answer without a response, as MCP asks. A stream not
   * yet open is answered as an empty one. A resumable stream ends with an event that carries an id
   * and no message (kept in the log as {@link STREAM_END}): a client that comes back resumes after
   * it and is told that nothing follows.
   */
  abandon(): void {
    this.finished = true;
    if (!this.stream) return this.respond(EMPTY_EVENT_STREAM);
    if (this.events) {
      this.record(STREAM_END);
      this.afterPrevious(() => this.stream!.close());
      return;
    }
    this.stream.close();
  }

  /**
   * Run `step` after the steps before it. The chain is awaited by no one: a step that fails is
   * logged, and the steps after it (the response, the end of the stream) still run.
   */
  private afterPrevious(step: () => void | Promise<void>): void {
    this.chain = this.chain.then(step).catch((error: unknown) => safeLog(this.logger, 'error', { err: error, sessionId: this.events?.sessionId }, 'a step of a response stream failed'));
  }

  private open(): void {
    if (this.stream) return;
    // A stream that cannot be resumed is aborted when its backlog overflows: the client then sees a
    // broken response, not a clean end without the call's result.
    this.stream = new SseStream(undefined, !this.events);
    this.onOpen();
    this.respond(this.stream.response());
    if (this.events) this.record('', true);
  }

  /** Keep a message in the event log, then send it with its id while the client is connected. */
  private record(text: string, priming = false): void {
    const events = this.events!;
    this.afterPrevious(async () => {
      let id: string | undefined;
      try {
        id = await events.log.append(events.sessionId, (this.key ??= `post:${randomUUID()}`), text, this.detached);
      } catch (error) {
        safeLog(this.logger, 'warn', { err: error, sessionId: events.sessionId }, 'could not keep a stream event for resumption');
      }
      if (this.detached || this.stream!.closed) return;
      const end = text === STREAM_END;
      if (id !== undefined) this.stream!.sendEvent(id, end ? '' : text, priming ? RETRY_MS : undefined);
      else if (!priming && !end) this.stream!.send(JSON.parse(text));
    });
  }
}
