/**
 * The engine's own request/response model. The Web (`Request → Response`) and Node (`http`)
 * adapters both translate to it, so the pipeline is written once and the Node path never pays for
 * building Web objects.
 */
export interface HttpRequest {
  readonly method: string;
  /** Path without the query string, as received. */
  readonly path: string;
  readonly query: URLSearchParams;
  /**
   * Case-insensitive header lookup; repeated headers are joined with `, `. A plain function that
   * needs no `this` and keeps only the headers alive, so it may be handed on by itself.
   */
  readonly header: (name: string) => string | undefined;
  /** The body, read at most once, bounded by the engine's body limit (413 past it). */
  body(): Promise<Buffer>;
  readonly clientAddress: string | undefined;
  /** Aborted when the client disconnects. */
  readonly signal: AbortSignal;
  /**
   * Call `listener` once if the client disconnects before the response is complete. Cheaper than
   * `signal` on the hot path: adapters may create the signal only when it is read.
   */
  onClose?(listener: () => void): void;
}

export type HttpBody = string | Uint8Array | AsyncIterable<string | Uint8Array> | undefined;

export interface HttpResponse {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: HttpBody;
}

const JSON_TYPE = { 'content-type': 'application/json; charset=utf-8' };

/** A JSON response whose body is already serialised. */
export function jsonText(status: number, body: string, headers?: Record<string, string>): HttpResponse {
  return { status, headers: headers ? { ...JSON_TYPE, ...headers } : JSON_TYPE, body };
}

/** A JSON response. */
export function json(status: number, data: unknown, headers?: Record<string, string>): HttpResponse {
  return { status, headers: headers ? { ...JSON_TYPE, ...headers } : JSON_TYPE, body: JSON.stringify(data) };
}

/** The engine's JSON error body: `{ error: { code, message, details? } }`. */
export function jsonError(
  status: number,
  code: string,
  message: string,
  init: { headers?: Record<string, string>; details?: unknown } = {},
): HttpResponse {
  const error: Record<string, unknown> = { code, message };
  if (init.details !== undefined) error.details = init.details;
  return json(status, { error }, init.headers);
}

/**
 * Thrown by a streamed body to abort its response without a clean end (no terminating chunk): the
 * client sees a broken response rather than a complete one. Not an error of the engine: not logged.
 */
export class ResponseAborted extends Error {
  constructor(message = 'The response was aborted.') {
    super(message);
    this.name = 'ResponseAborted';
  }
}
