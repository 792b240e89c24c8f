import type { Transport } from '@modelcontextprotocol/sdk/shared/transport.js';
import { ErrorCode, JSONRPCMessageSchema, type JSONRPCMessage, type RequestId } from '@modelcontextprotocol/sdk/types.js';

/** JSON-RPC's code for a line that is not JSON. */
const PARSE_ERROR = -32700;
/** A line longer than this is dropped unread (and answered when its id can be found at its ends). */
export const MAX_LINE_BYTES = 64 * 1024 * 1024;
/** How much of each end of a dropped line is kept to find its id. */
const KEPT_END = 1024;
const BOM = '\uFEFF';

/** An answer for the client, when a line cannot be handled as a message. */
export interface LineAnswer {
  readonly id: RequestId | null;
  readonly code: number;
  readonly message: string;
}

export type ParsedLine = { readonly messages: JSONRPCMessage[]; readonly answers: LineAnswer[] };

function isId(value: unknown): value is RequestId {
  return typeof value === 'string' || (typeof value === 'number' && Number.isInteger(value));
}

/** The id of something shaped like a request (an object with a valid `id` and a `method`), else null. */
function requestIdOf(value: unknown): RequestId | null {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return null;
  const { id } = value as { id?: unknown };
  return isId(id) ? id : null;
}

/** Whether a value that is no valid message still needs an answer: it has an id and is no response. */
function expectsAnswer(value: unknown): boolean {
  if (!value || typeof value !== 'object' || Array.isArray(value)) return true;
  if ('result' in value || 'error' in value) return false;
  // A notification (a method, no id) is never answered, even a malformed one.
  return 'id' in value || !('method' in value);
}

function invalid(value: unknown): LineAnswer[] {
  if (!expectsAnswer(value)) return [];
  return [{ id: requestIdOf(value), code: ErrorCode.InvalidRequest, message: 'Invalid Request: not a JSON-RPC 2.0 message (jsonrpc "2.0", a string or integer id, a string method, params an object).' }];
}

/**
 * One line of stdin: the messages in it and, for what is not a message, the JSON-RPC error to
 * answer (so that no request id is left without an answer). A byte order mark and a trailing CR
 * are ignored. A batch (an array) is not part of MCP since 2025-06-18: each request in it is
 * answered with an error saying so.
 */
export function parseLine(raw: string): ParsedLine {
  const line = (raw.startsWith(BOM) ? raw.slice(1) : raw).replace(/\r$/, '');
  if (line.trim() === '') return { messages: [], answers: [] };
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { messages: [], answers: [{ id: null, code: PARSE_ERROR, message: 'Parse error: the line is not JSON (each JSON-RPC message must be one line of JSON).' }] };
  }
  if (Array.isArray(value)) {
    const message = 'Invalid Request: JSON-RPC batches are not supported (MCP 2025-06-18); send each message on its own line.';
    if (value.length === 0) return { messages: [], answers: [{ id: null, code: ErrorCode.InvalidRequest, message }] };
    return { messages: [], answers: value.filter(expectsAnswer).map((item) => ({ id: requestIdOf(item), code: ErrorCode.InvalidRequest, message })) };
  }
  const parsed = JSONRPCMessageSchema.safeParse(value);
  return parsed.success ? { messages: [parsed.data], answers: [] } : { messages: [], answers: invalid(value) };
}

/** The id of a line too long to read, from its first or last bytes when it is written at the top level there. */
function idAtTheEnds(head: string, tail: string): RequestId | null {
  const value = String.raw`(-?\d+|"(?:[^"\\]|\\.)*")`;
  const start = new RegExp(String.raw`^\uFEFF?\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*${value}\s*[,}]`).exec(head);
  const end = new RegExp(String.raw`[{,]\s*"id"\s*:\s*${value}\s*\}\s*$`).exec(tail.replace(/\r$/, ''));
  const found = start?.[1] ?? end?.[1];
  if (found === undefined) return null;
  const id = JSON.parse(found) as unknown;
  return isId(id) ? id : null;
}

export interface StdioOptions {
  readonly stdin?: NodeJS.ReadableStream;
  readonly stdout?: NodeJS.WritableStream;
  /** Longest line read; longer ones are answered with an error and skipped. */
  readonly maxLineBytes?: number;
  /** Told when stdout fails (the client has gone): the transport has closed. */
  readonly onStdoutError?: (error: Error) => void;
  /**
   * How long requests in flight when stdin ends may take to be answered (each is bounded by the
   * connector's timeout anyway; this also ends one waiting for the client, which can no longer answer).
   */
  readonly endGraceMs?: number;
}

/**
 * MCP over stdio, for the connector: the SDK's transport, made to answer whatever the client sends.
 * A line that is not a message is answered with a JSON-RPC error instead of being dropped; an
 * over-long line is skipped, not the end of the session. When stdin ends, the requests in flight are
 * answered before the transport closes. A failing stdout (the client has gone) closes it quietly.
 */
export class ConnectorStdioTransport implements Transport {
  onclose?: () => void;
  onerror?: (error: Error) => void;
  onmessage?: (message: JSONRPCMessage) => void;

  private readonly stdin: NodeJS.ReadableStream;
  private readonly stdout: NodeJS.WritableStream;
  private readonly maxLineBytes: number;
  private chunks: Buffer[] = [];
  private size = 0;
  /** Over-long line being skipped: its first bytes and the latest of the rest. */
  private skipping: { head: string; tail: Buffer } | undefined;
  /** Requests read and not yet answered, by serialized id (a client may reuse an id). */
  private readonly inFlight = new Map<string, { id: RequestId; count: number }>();
  private idle: (() => void) | undefined;
  private broken = false;
  private closed = false;

  constructor(private readonly options: StdioOptions = {}) {
    this.stdin = options.stdin ?? process.stdin;
    this.stdout = options.stdout ?? process.stdout;
    this.maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
  }

  async start(): Promise<void> {
    this.stdin.on('data', this.onData);
    this.stdin.on('end', this.onEnd);
    this.stdin.on('error', this.onInputError);
    this.stdout.on('error', this.onOutputError);
  }

  /** The ids of the requests read and not yet answered. */
  pending(): RequestId[] {
    return [...this.inFlight.values()].flatMap(({ id, count }) => Array<RequestId>(count).fill(id));
  }

  /** Answer every request still in flight with this error (the connector is stopping). */
  async abandon(message: string): Promise<void> {
    for (const id of this.pending()) await this.send({ jsonrpc: '2.0', id, error: { code: ErrorCode.ConnectionClosed, message } });
  }

  async send(message: JSONRPCMessage): Promise<void> {
    if ('id' in message && ('result' in message || 'error' in message) && isId(message.id)) {
      // Once closed, a late answer to a request already answered with an error is not sent twice.
      if (!this.answered(message.id) && this.closed) return;
    }
    if (this.broken) return;
    const text = `${JSON.stringify(message)}\n`;
    await new Promise<void>((resolve) => {
      if (this.stdout.write(text)) resolve();
      else this.stdout.once('drain', resolve);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stdin.off('data', this.onData);
    this.stdin.off('end', this.onEnd);
    this.stdin.off('error', this.onInputError);
    this.stdin.pause();
    this.chunks = [];
    this.size = 0;
    this.idle?.();
    this.onclose?.();
  }

  /** Count a request as answered; false when it was not in flight. */
  private answered(id: RequestId): boolean {
    const key = JSON.stringify(id);
    const entry = this.inFlight.get(key);
    if (!entry) return false;
    if (--entry.count === 0) this.inFlight.delete(key);
    if (this.inFlight.size === 0) this.idle?.();
    return true;
  }

  private readonly onData = (chunk: Buffer | string): void => {
    let data = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    for (;;) {
      const newline = data.indexOf(0x0a);
      const part = newline === -1 ? data : data.subarray(0, newline);
      this.take(part);
      if (newline === -1) return;
      this.endOfLine();
      data = data.subarray(newline + 1);
    }
  };

  private take(part: Buffer): void {
    if (this.skipping) {
      this.skipping.tail = Buffer.concat([this.skipping.tail, part]).subarray(-KEPT_END);
      return;
    }
    if (this.size + part.length > this.maxLineBytes) {
      const line = Buffer.concat([...this.chunks, part]);
      this.skipping = { head: line.subarray(0, KEPT_END).toString('utf8'), tail: line.subarray(-KEPT_END) };
      this.chunks = [];
      this.size = 0;
      return;
    }
    if (part.length) {
      this.chunks.push(part);
      this.size += part.length;
    }
  }

  private endOfLine(): void {
    if (this.skipping) {
      const { head, tail } = this.skipping;
      this.skipping = undefined;
      const id = idAtTheEnds(head, tail.toString('utf8'));
      this.reply({ id, code: ErrorCode.InvalidRequest, message: `Invalid Request: the message is longer than ${this.maxLineBytes} bytes and was not read.` });
      return;
    }
    const line = Buffer.concat(this.chunks).toString('utf8');
    this.chunks = [];
    this.size = 0;
    const { messages, answers } = parseLine(line);
    for (const answer of answers) this.reply(answer);
    for (const message of messages) {
      if ('method' in message && 'id' in message && isId(message.id)) {
        const key = JSON.stringify(message.id);
        const entry = this.inFlight.get(key);
        if (entry) entry.count++;
        else this.inFlight.set(key, { id: message.id, count: 1 });
      }
      this.onmessage?.(message);
    }
  }

  private reply({ id, code, message }: LineAnswer): void {
    void this.send({ jsonrpc: '2.0', id, error: { code, message } } as JSONRPCMessage);
  }

  /** The client has no more to say: finish (a last line without a newline too), answer what is in flight, then close. */
  private readonly onEnd = (): void => {
    if (this.size > 0 || this.skipping) this.endOfLine();
    if (this.inFlight.size === 0) {
      void this.close();
      return;
    }
    const grace = setTimeout(() => {
      void this.abandon('the client closed stdin before this request was answered.').then(() => this.close());
    }, this.options.endGraceMs ?? 60_000);
    this.idle = () => {
      clearTimeout(grace);
      this.idle = undefined;
      void this.close();
    };
  };

  private readonly onInputError = (error: Error): void => {
    this.onerror?.(error);
  };

  private readonly onOutputError = (error: Error): void => {
    this.inFlight.clear();
    this.broken = true;
    this.options.onStdoutError?.(error);
    void this.close();
  };
}
