import { ROOT_CONTEXT, type Context, type Span } from '@opentelemetry/api';

/**
 * What the engine learns about one HTTP request while answering it: filled in as the request moves
 * through the stages, then turned into the request's span, metrics and log line by
 * `Telemetry.finish`. Never holds arguments or credentials.
 */
export class RequestObservation {
  readonly started = performance.now();
  /** The MCP server span, once the request is known to be an MCP message. */
  span: Span | undefined;
  /** The parent of the request's child spans: the server span's context, else the HTTP one. */
  context: Context;
  /** The request is in a trace, and its span was not sampled: its stages run in its context all the same. */
  sampledOut = false;
  /** The MCP method as a bounded label (`_other` for methods the protocol does not define). */
  method: string | undefined;
  tool: string | undefined;
  tenant: string | undefined;
  decision: string | undefined;
  rpcErrorCode: number | undefined;
  toolError = false;
  /** Set when the response is a stream: the request finishes when the stream ends. */
  deferred = false;
  finished = false;

  constructor(
    readonly requestId: string,
    readonly httpMethod: string,
    readonly path: string,
    readonly httpContext: Context = ROOT_CONTEXT,
  ) {
    this.context = httpContext;
  }
}
