import { ResponseAborted, type HttpResponse } from '../http/types.js';
import type { OutboundChannel } from './session-store.js';

const SSE_HEADERS = { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' };

/**
 * Most characters of events a stream holds for a client that is not reading them (beyond what the
 * socket buffers took). Past it the stream ends: a client that reads again sees the end and
 * reconnects (resuming from `Last-Event-ID` where the stream is resumable). A stream that cannot be
 * resumed (see `abortOnOverflow`) is aborted instead, so its client sees a broken response rather
 * than one that ended cleanly without its result.
 */
export const MAX_QUEUED_CHARS = 1024 * 1024;

/** A server-sent-events response body fed with JSON-RPC messages. */
export class SseStream implements OutboundChannel {
  private readonly queue: string[] = [];
  private queued = 0;
  private wake: (() => void) | undefined;
  private ended = false;
  private overflowed = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly closeListeners: (() => void)[] = [];

  /**
   * `heartbeatMs`: send a comment line this often, so idle long-lived streams survive proxies.
   * `abortOnOverflow`: a stream whose backlog overflows aborts its response (no clean end): for a
   * stream the client cannot resume, where a clean end would hide that messages were lost.
   */
  constructor(heartbeatMs?: number, private readonly abortOnOverflow = false) {
    if (heartbeatMs) {
      this.heartbeat = setInterval(() => this.enqueue(': keep-alive\n\n'), heartbeatMs);
      this.heartbeat.unref();
    }
  }

  get closed(): boolean {
    return this.ended;
  }

  send(message: unknown): void {
    this.enqueue(`event: message\ndata: ${JSON.stringify(message)}\n\n`);
  }

  /**
   * Send an event with an id the client can resume after (`Last-Event-ID`). An empty `data` is a
   * priming event; `retryMs` tells the client how soon to reconnect when the stream ends early.
   */
  sendEvent(id: string, data: string, retryMs?: number): void {
    const retry = retryMs === undefined ? '' : `retry: ${retryMs}\n`;
    this.enqueue(data === '' ? `id: ${id}\n${retry}data: \n\n` : `id: ${id}\n${retry}event: message\ndata: ${data}\n\n`);
  }

  close(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.wake?.();
    for (const listener of this.closeListeners.splice(0)) listener();
  }

  /** Run `listener` once when the stream closes (at once if it is closed already). */
  onClose(listener: () => void): void {
    if (this.ended) listener();
    else this.closeListeners.push(listener);
  }

  response(headers?: Readonly<Record<string, string>>): HttpResponse {
    return { status: 200, headers: headers ? { ...SSE_HEADERS, ...headers } : SSE_HEADERS, body: this.events() };
  }

  private enqueue(chunk: string): void {
    if (this.ended) return;
    // One event is always taken, however large: only a backlog behind it ends the stream.
    if (this.queue.length > 0 && this.queued + chunk.length > MAX_QUEUED_CHARS) {
      // The client stopped reading: end the stream rather than hold everything sent to it.
      this.queue.length = 0;
      this.queued = 0;
      this.overflowed = true;
      this.close();
      return;
    }
    this.queue.push(chunk);
    this.queued += chunk.length;
    this.wake?.();
  }

  /**
   * The body: queued messages until closed. Its `return()` (a writer that stops because the client
   * went away) closes the stream at once, even while it waits for the next message.
   */
  private events(): AsyncIterableIterator<string> {
    const next = async (): Promise<IteratorResult<string>> => {
      for (;;) {
        if (this.queue.length) {
          const value = this.queue.shift()!;
          this.queued -= value.length;
          return { value, done: false };
        }
        if (this.ended) {
          if (this.overflowed && this.abortOnOverflow) throw new ResponseAborted('The client did not read the stream: its backlog overflowed.');
          return { value: undefined, done: true };
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
      }
    };
    const iterator: AsyncIterableIterator<string> = {
      next,
      return: async () => {
        this.close();
        this.queue.length = 0;
        this.queued = 0;
        return { value: undefined, done: true };
      },
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }
}
