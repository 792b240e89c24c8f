import { SpanKind, SpanStatusCode, context, propagation, trace } from '@opentelemetry/api';
import { INSTRUMENTATION_SCOPE, ToolError, toolResult, withoutByteOrderMark, type Principal, type ToolResult } from '../../../core/index.js';
import type { ApiCallContext, ApiDispatch, HttpDispatch } from './api-registry-options.js';
import type { ApiOperation } from './api-operation.js';
import type { BuiltRequest } from './request-builder.js';

const calls = new WeakMap<Request, ApiCallContext>();

/**
 * The principal a registry call acts for, when `request` is one the engine built and handed to the
 * host's in-process handler; undefined for any other request. The association is held by the
 * engine, not by headers, so it cannot be forged by whoever builds a request.
 */
export function principalOf(request: Request): Principal | undefined {
  return calls.get(request)?.principal;
}

/** The full context of a registry call (principal, operation id, MCP request id); see {@link principalOf}. */
export function apiCallOf(request: Request): ApiCallContext | undefined {
  return calls.get(request);
}

/** Response headers worth showing the caller. */
const SHOWN_HEADERS = ['content-type', 'location', 'etag', 'last-modified', 'retry-after', 'link', 'x-total-count'];
const EXCERPT = 300;
const DEFAULT_TIMEOUT_MS = 30_000;

function isTextual(contentType: string): boolean {
  return /^text\/|[/+](json|xml|yaml)\b|^application\/(javascript|x-www-form-urlencoded)/i.test(contentType);
}

async function readBounded(response: Response, limit: number): Promise<Uint8Array | undefined> {
  const declared = Number(response.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > limit) {
    await response.body?.cancel().catch(() => undefined);
    return undefined;
  }
  if (!response.body) return new Uint8Array();
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      return undefined;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

function encodePrincipal(principal: Principal): string {
  const { tenant, kind, id, label, scopes } = principal;
  return Buffer.from(JSON.stringify({ tenant, kind, id, label, scopes })).toString('base64url');
}

export interface DispatchInput {
  readonly operation: ApiOperation;
  readonly request: BuiltRequest;
  readonly principal: Principal;
  readonly requestId: string;
  readonly signal: AbortSignal;
  readonly logger: { error(fields: Record<string, unknown>, message: string): void };
}

const tracer = () => trace.getTracer(INSTRUMENTATION_SCOPE);

/**
 * Sends registry calls to the host's API, in-process or over HTTP, and turns the answer into a
 * bounded, structured tool result.
 */
export class ApiDispatcher {
  constructor(
    private readonly dispatch: ApiDispatch,
    private readonly maxResponseBytes: number,
  ) {}

  /** The base URL requests of `operation` are built against. */
  baseOf(operation: ApiOperation): string {
    if ('baseUrl' in this.dispatch) return this.dispatch.baseUrl;
    // In-process: only the path of the document's server URL matters; the origin is nominal.
    return new URL(operation.baseUrl || '/', 'http://localhost').href;
  }

  /** Send one call, in a client span whose context travels to an HTTP API as `traceparent`. */
  async send(input: DispatchInput): Promise<ToolResult> {
    const attributes = { 'gatehouse.registry.operation': input.operation.id, 'http.request.method': input.request.method };
    return tracer().startActiveSpan('gatehouse.registry.dispatch', { kind: SpanKind.CLIENT, attributes }, async (span) => {
      try {
        return await this.sendNow(input);
      } catch (error) {
        span.setAttribute('error.type', (error as Error)?.name ?? 'Error');
        span.setStatus({ code: SpanStatusCode.ERROR });
        throw error;
      } finally {
        span.end();
      }
    });
  }

  private async sendNow(input: DispatchInput): Promise<ToolResult> {
    const { operation, request } = input;
    const label = `${operation.id} (${operation.method} ${operation.path})`;
    let response: Response;
    if ('handler' in this.dispatch) {
      if (request.body !== undefined && (request.method === 'GET' || request.method === 'HEAD')) {
        throw new ToolError(`${label} cannot carry a request body.`);
      }
      const webRequest = new Request(request.url, { method: request.method, headers: request.headers, body: request.body, signal: input.signal });
      calls.set(webRequest, { principal: input.principal, operationId: operation.id, requestId: input.requestId });
      let answer: unknown;
      try {
        answer = await this.dispatch.handler(webRequest);
      } catch (error) {
        if (input.signal.aborted) throw new ToolError(`${label} was cancelled.`);
        input.logger.error({ err: error, operationId: operation.id }, 'the API handler threw');
        throw new ToolError(`${label} failed: the API handler raised an error (request ${input.requestId}).`);
      }
      if (!(answer instanceof Response)) {
        input.logger.error({ operationId: operation.id }, 'the API handler did not return a Response');
        throw new ToolError(`${label} failed: the API handler returned no response (request ${input.requestId}).`);
      }
      response = answer;
    } else {
      response = await this.sendHttp(this.dispatch, input, label);
    }
    return this.toResult(response, label);
  }

  private async sendHttp(dispatch: HttpDispatch, input: DispatchInput, label: string): Promise<Response> {
    const headers = new Headers(input.request.headers);
    const credential = dispatch.serviceCredential;
    if (typeof credential === 'string') headers.set('authorization', `Bearer ${credential}`);
    else headers.set(credential.header, credential.value);
    headers.set(dispatch.principalHeader ?? 'x-gatehouse-principal', encodePrincipal(input.principal));
    propagation.inject(context.active(), headers, { set: (carrier, key, value) => carrier.set(key, value) });
    const timeout = AbortSignal.timeout(dispatch.timeoutMs ?? DEFAULT_TIMEOUT_MS);
    try {
      return await fetch(input.request.url, {
        method: input.request.method,
        headers,
        body: input.request.body,
        // The service credential must never follow a redirect to another place.
        redirect: 'manual',
        signal: AbortSignal.any([input.signal, timeout]),
      });
    } catch (error) {
      if (input.signal.aborted) throw new ToolError(`${label} was cancelled.`);
      if (timeout.aborted) throw new ToolError(`${label} failed: the API did not answer within ${dispatch.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms.`);
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new ToolError(`${label} failed: the API at ${input.request.url.origin} cannot be reached (${cause}).`);
    }
  }

  private async toResult(response: Response, label: string): Promise<ToolResult> {
    const bytes = await readBounded(response, this.maxResponseBytes);
    if (!bytes) {
      throw new ToolError(`${label} answered HTTP ${response.status} with a response larger than the ${this.maxResponseBytes}-byte limit; narrow the request (filters, paging) and try again.`);
    }
    const contentType = response.headers.get('content-type') ?? '';
    const headers: Record<string, string> = {};
    for (const name of SHOWN_HEADERS) {
      const value = response.headers.get(name);
      if (value !== null) headers[name] = value;
    }
    let body: unknown = null;
    let bodyEncoding: string | undefined;
    if (bytes.byteLength) {
      const text = Buffer.from(bytes).toString('utf8');
      if (/[/+]json\b/i.test(contentType)) {
        try {
          body = JSON.parse(withoutByteOrderMark(text));
        } catch {
          body = text;
        }
      } else if (isTextual(contentType) || !contentType) {
        body = text;
      } else {
        body = Buffer.from(bytes).toString('base64');
        bodyEncoding = 'base64';
      }
    }
    const structured: Record<string, unknown> = { status: response.status, headers, body };
    if (bodyEncoding) structured.bodyEncoding = bodyEncoding;
    if (response.status >= 400) {
      const raw = typeof body === 'string' ? body : body === null ? '' : JSON.stringify(body);
      const excerpt = raw.length > EXCERPT ? `${raw.slice(0, EXCERPT)}…` : raw;
      const reason = response.statusText ? ` ${response.statusText}` : '';
      return toolResult({
        isError: true,
        content: [{ type: 'text', text: `${label} failed with HTTP ${response.status}${reason}${excerpt ? `: ${excerpt}` : ''}` }],
        structuredContent: structured,
      });
    }
    return toolResult({ content: [{ type: 'text', text: JSON.stringify(structured) }], structuredContent: structured });
  }
}
