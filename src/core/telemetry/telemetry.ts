import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context as otelContext,
  metrics,
  propagation,
  trace,
  type Attributes,
  type Context,
  type Counter,
  type Histogram,
  type Link,
  type Meter,
  type MetricAttributes,
  type MetricOptions,
  type ObservableResult,
  type Span,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';
import { safeLog, writesLevel, type Logger } from '../log/logger.js';
import type { Principal } from '../ports/principal.js';
import type { PrometheusRegistry } from './prometheus-registry.js';
import { RequestObservation } from './request-observation.js';
import { TenantLabels } from './tenant-labels.js';
import { clipClientText } from '../client-text.js';

/** The instrumentation scope of every span and instrument the engine makes. */
export const INSTRUMENTATION_SCOPE = '@gatehouse-mcp/engine';

/** Request durations: from well under a millisecond (in-process tools) to a minute. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const LAG_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** MCP methods kept as they are in labels and span names; anything else is `_other`. */
const MCP_METHODS = new Set([
  'initialize',
  'ping',
  'tools/list',
  'tools/call',
  'resources/list',
  'resources/templates/list',
  'resources/read',
  'resources/subscribe',
  'resources/unsubscribe',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'logging/setLevel',
  'tasks/get',
  'tasks/result',
  'tasks/list',
  'tasks/cancel',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/roots/list_changed',
  'notifications/tasks/status',
]);

const headerGetter: TextMapGetter<{ header(name: string): string | undefined }> = {
  get: (carrier, key) => carrier.header(key),
  keys: () => [],
};

const metaGetter: TextMapGetter<Record<string, unknown>> = {
  get: (carrier, key) => (typeof carrier[key] === 'string' ? (carrier[key] as string) : undefined),
  keys: (carrier) => Object.keys(carrier),
};

export interface TelemetrySettings {
  readonly logger: Logger;
  /** The built-in `/metrics` registry, when that endpoint is on. */
  readonly registry?: PrometheusRegistry;
  /** How many tenants get a label of their own on per-tenant metrics. */
  readonly tenantLabels: number;
}

/** One instrument on several meters (the global one, and the built-in registry's). */
function counter(meters: readonly Meter[], name: string, options: MetricOptions): Counter {
  const instruments = meters.map((meter) => meter.createCounter(name, options));
  return instruments.length === 1 ? instruments[0]! : { add: (value, attributes) => instruments.forEach((instrument) => instrument.add(value, attributes)) };
}

function histogram(meters: readonly Meter[], name: string, options: MetricOptions): Histogram {
  const instruments = meters.map((meter) => meter.createHistogram(name, options));
  return instruments.length === 1 ? instruments[0]! : { record: (value, attributes) => instruments.forEach((instrument) => instrument.record(value, attributes)) };
}

/** Mark a span as failed with `error`. */
function failed(span: Span, error: unknown): void {
  span.setAttribute('error.type', (error as Error)?.name ?? 'Error');
  span.setStatus({ code: SpanStatusCode.ERROR });
}

/** The outcome label of a finished request. */
function requestOutcome(observation: RequestObservation, status: number): string {
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'forbidden';
  if (status === 429) return 'throttled';
  if (status === 503) return 'unavailable';
  if (status >= 500) return 'failed';
  if (status >= 400) return 'rejected';
  if (observation.rpcErrorCode !== undefined) return 'rpc_error';
  if (observation.decision === 'denied') return 'denied';
  if (observation.toolError) return 'tool_error';
  return 'ok';
}

/**
 * The engine's traces, metrics and request log, through the OpenTelemetry API: without an SDK
 * registered by the host, spans and global instruments are no-ops. Spans and attributes follow
 * the OpenTelemetry MCP semantic conventions plus `gatehouse.*` attributes; they never carry call
 * arguments or credentials.
 */
export class Telemetry {
  readonly tracer: Tracer;
  private readonly logger: Logger;
  private readonly tenants: TenantLabels;
  private readonly meters: readonly Meter[];
  private readonly requestDuration: Histogram;
  private readonly tenantRequests: Counter;
  private readonly toolCalls: Counter;
  private readonly tenantToolCalls: Counter;
  private readonly authFailures: Counter;
  private readonly jwksFetches: Counter;
  private readonly auditLag: Histogram;
  private readonly auditFailures: Counter;
  private readonly auditRecordFailures: Counter;
  private readonly auditWritten: Counter;

  constructor(settings: TelemetrySettings) {
    this.logger = settings.logger;
    this.tracer = trace.getTracer(INSTRUMENTATION_SCOPE);
    const global = metrics.getMeter(INSTRUMENTATION_SCOPE);
    const registry = settings.registry;
    this.meters = registry ? [global, registry.getMeter()] : [global];
    this.tenants = new TenantLabels(settings.tenantLabels, (tenant) => registry?.dropSeries('gatehouse.tenant', tenant));
    const m = this.meters;
    this.requestDuration = histogram(m, 'mcp.server.operation.duration', {
      description: 'MCP requests by method and outcome: duration from receipt to response.',
      unit: 's',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    });
    this.tenantRequests = counter(m, 'gatehouse.tenant.requests', { description: 'MCP requests per tenant (the busiest tenants by name, the rest as _other) and outcome.' });
    this.toolCalls = counter(m, 'gatehouse.tool.calls', { description: 'Governed tool calls by tool, policy decision and outcome.' });
    this.tenantToolCalls = counter(m, 'gatehouse.tenant.tool_calls', { description: 'Governed tool calls per tenant (bounded as for requests) and policy decision.' });
    this.authFailures = counter(m, 'gatehouse.auth.failures', { description: 'Refused credentials by reason.' });
    this.jwksFetches = counter(m, 'gatehouse.jwks.fetches', { description: 'Fetches of identity providers’ signing keys (JWKS) by result.' });
    this.auditLag = histogram(m, 'gatehouse.audit.write.lag', {
      description: 'Time from an audit event to its durable write.',
      unit: 's',
      advice: { explicitBucketBoundaries: LAG_BUCKETS },
    });
    this.auditFailures = counter(m, 'gatehouse.audit.write.failures', { description: 'Failed audit writes (each is retried; the events are kept).' });
    this.auditWritten = counter(m, 'gatehouse.audit.events.written', { description: 'Audit events written durably.' });
    this.auditRecordFailures = counter(m, 'gatehouse.audit.record.failures', { description: 'Audit events whose record() promise the audit sink rejected (logged with the request id).' });
  }

  /** A gauge read at collection time, e.g. a queue depth or a pool's connections. */
  observe(name: string, options: MetricOptions, read: (observe: (value: number, attributes?: MetricAttributes) => void) => void): void {
    for (const meter of this.meters) {
      meter.createObservableGauge(name, options).addCallback((result: ObservableResult) => read((value, attributes) => result.observe(value, attributes)));
    }
  }

  /** Start observing one HTTP request; its W3C trace context (`traceparent`) comes from its headers. */
  begin(requestId: string, httpMethod: string, path: string, headers: { header(name: string): string | undefined }): RequestObservation {
    return new RequestObservation(requestId, httpMethod, path, propagation.extract(ROOT_CONTEXT, headers, headerGetter));
  }

  /**
   * The MCP server span of a request or notification. A `traceparent` in `params._meta` is the
   * parent (the HTTP one is then a link); otherwise the HTTP request's context is.
   */
  startMcp(
    observation: RequestObservation,
    message: { readonly method: string; readonly params?: Record<string, unknown>; readonly id?: string | number | null },
    protocolVersion: string | undefined,
    sessionId: string | undefined,
  ): void {
    const method = MCP_METHODS.has(message.method) ? message.method : '_other';
    observation.method = method;
    // The client's own text, as logs and spans quote it: clipped.
    const name = typeof message.params?.name === 'string' ? clipClientText(message.params.name) : undefined;
    if (method === 'tools/call' && name !== undefined) observation.tool = name;
    let parent = observation.httpContext;
    let links: Link[] | undefined;
    const meta = message.params?._meta;
    if (typeof meta === 'object' && meta !== null && typeof (meta as Record<string, unknown>).traceparent === 'string') {
      parent = propagation.extract(ROOT_CONTEXT, meta as Record<string, unknown>, metaGetter);
      const http = trace.getSpanContext(observation.httpContext);
      if (http && trace.isSpanContextValid(http)) links = [{ context: http }];
    }
    const target = method === 'tools/call' || method === 'prompts/get' ? name : undefined;
    const span = this.tracer.startSpan(target ? `${method} ${target}` : method, { kind: SpanKind.SERVER, links }, parent);
    if (span.isRecording()) {
      const attributes: Attributes = {
        'mcp.method.name': method,
        'network.transport': 'tcp',
        'network.protocol.name': 'http',
        'gatehouse.request.id': observation.requestId,
      };
      if (message.id !== undefined && message.id !== null) attributes['jsonrpc.request.id'] = clipClientText(message.id);
      if (protocolVersion) attributes['mcp.protocol.version'] = protocolVersion;
      if (sessionId) attributes['mcp.session.id'] = clipClientText(sessionId);
      if (method === 'tools/call' && target) {
        attributes['gen_ai.tool.name'] = target;
        attributes['gen_ai.operation.name'] = 'execute_tool';
      }
      if (method === 'prompts/get' && target) attributes['gen_ai.prompt.name'] = target;
      span.setAttributes(attributes);
    }
    observation.span = span;
    observation.context = trace.setSpan(parent, span);
    // A tracer decided against recording it (with none, the span has no valid ids).
    observation.sampledOut = !span.isRecording() && trace.isSpanContextValid(span.spanContext());
  }

  /** Who is calling, once authenticated. */
  principal(observation: RequestObservation | undefined, principal: Principal): void {
    if (!observation) return;
    observation.tenant = principal.tenant;
    if (observation.span?.isRecording()) {
      observation.span.setAttributes({ 'gatehouse.tenant': principal.tenant, 'gatehouse.agent.id': principal.id, 'gatehouse.principal.kind': principal.kind });
    }
  }

  /**
   * Run `work` in a child span of the request (or of the active span, outside a request). The
   * span is active while `work` runs, so code below can add attributes or spans of its own. When
   * nothing records (no SDK, or not sampled) `work` runs as it is, at no cost beyond the span
   * object; the result is then whatever `work` returns, so always `await` it.
   *
   * A request whose own span does not record starts no child spans: they could not be sampled
   * either, and `work` gets the request's span. When the request is in a trace that was not
   * sampled, `work` runs in the request's context, so the spans made below it (a tool's, a host's
   * instrumentation) follow the request's decision instead of starting traces of their own; with
   * no tracer at all there is no decision to follow, and no context is activated.
   */
  span<R>(name: string, observation: RequestObservation | undefined, work: (span: Span) => R, attributes?: Attributes): R | Promise<Awaited<R>> {
    const request = observation?.span;
    if (request !== undefined && !request.isRecording()) {
      return observation!.sampledOut ? otelContext.with(observation!.context, work, undefined, request) : work(request);
    }
    const parent = observation?.context ?? otelContext.active();
    const span = this.tracer.startSpan(name, attributes ? { attributes } : undefined, parent);
    if (!span.isRecording()) return work(span);
    return this.recorded(span, parent, work);
  }

  /**
   * Run `work` with its span active and end the span when `work` is done: at once when it returns
   * a plain value, when its promise settles otherwise (no async wrapper, no extra promise).
   */
  private recorded<R>(span: Span, parent: Context, work: (span: Span) => R): R | Promise<Awaited<R>> {
    let result: R;
    try {
      result = otelContext.with(trace.setSpan(parent, span), work, undefined, span);
    } catch (error) {
      failed(span, error);
      span.end();
      throw error;
    }
    if (typeof (result as { then?: unknown } | null)?.then !== 'function') {
      span.end();
      return result;
    }
    return (result as PromiseLike<Awaited<R>>).then(
      (value) => {
        span.end();
        return value;
      },
      (error: unknown) => {
        failed(span, error);
        span.end();
        throw error;
      },
    ) as Promise<Awaited<R>>;
  }

  /**
   * A governed call's decision and outcome (the same facts as its audit event): counted for tool
   * calls (an unknown tool as `_unknown`), and set on the request's span for every kind.
   */
  governed(observation: RequestObservation | undefined, tenant: string, action: string, name: string | undefined, decision: string, outcome: string): void {
    if (action === 'tools/call') {
      this.toolCalls.add(1, { 'gen_ai.tool.name': name ?? '_unknown', 'gatehouse.decision': decision, 'gatehouse.outcome': outcome });
      this.tenantToolCalls.add(1, { 'gatehouse.tenant': this.tenants.label(tenant), 'gatehouse.decision': decision });
    }
    if (!observation) return;
    observation.decision = decision;
    if (outcome !== 'success') observation.toolError = true;
    if (observation.span?.isRecording()) observation.span.setAttributes({ 'gatehouse.decision': decision, 'gatehouse.outcome': outcome });
  }

  /** The request ended with a JSON-RPC error. */
  rpcError(observation: RequestObservation | undefined, code: number): void {
    if (observation) observation.rpcErrorCode = code;
  }

  authFailure(reason: 'missing_credential' | 'malformed_credential' | 'invalid_credential' | 'wrong_tenant' | 'unavailable'): void {
    this.authFailures.add(1, { 'gatehouse.auth.reason': reason });
  }

  jwksFetch(result: 'ok' | 'error'): void {
    this.jwksFetches.add(1, { 'gatehouse.result': result });
  }

  /** Audit events written durably, with the time each was recorded. */
  auditWrite(times: readonly Date[]): void {
    const now = Date.now();
    for (const time of times) this.auditLag.record(Math.max(0, now - time.getTime()) / 1000);
    this.auditWritten.add(times.length);
  }

  auditWriteFailed(): void {
    this.auditFailures.add(1);
  }

  /** An audit event the sink refused after taking it: its `record()` promise rejected. */
  auditRecordFailed(): void {
    this.auditRecordFailures.add(1);
  }

  /** End the request's span, count it, and write its one log line. Idempotent. */
  finish(observation: RequestObservation, status: number): void {
    if (observation.finished) return;
    observation.finished = true;
    const seconds = (performance.now() - observation.started) / 1000;
    const span = observation.span;
    if (observation.method !== undefined) {
      const outcome = requestOutcome(observation, status);
      this.requestDuration.record(seconds, { 'mcp.method.name': observation.method, 'gatehouse.outcome': outcome });
      if (observation.tenant !== undefined) this.tenantRequests.add(1, { 'gatehouse.tenant': this.tenants.label(observation.tenant), 'gatehouse.outcome': outcome });
      if (span) {
        if (span.isRecording()) {
          span.setAttribute('http.response.status_code', status);
          if (outcome !== 'ok') span.setAttribute('gatehouse.request.outcome', outcome);
          const code = observation.rpcErrorCode;
          if (code !== undefined) span.setAttributes({ 'rpc.response.status_code': String(code), 'error.type': String(code) });
          else if (status >= 400) span.setAttribute('error.type', String(status));
          else if (observation.toolError) span.setAttribute('error.type', 'tool_error');
          if (code !== undefined || status >= 400 || observation.toolError) span.setStatus({ code: SpanStatusCode.ERROR });
        }
        span.end();
      }
    }
    // The request's log line, built only when it is written.
    if (!writesLevel(this.logger, 'info')) return;
    const traceId = span?.spanContext().traceId ?? trace.getSpanContext(observation.httpContext)?.traceId;
    safeLog(
      this.logger,
      'info',
      {
        requestId: observation.requestId,
        traceId: traceId && traceId !== '00000000000000000000000000000000' ? traceId : undefined,
        tenant: observation.tenant,
        httpMethod: observation.httpMethod,
        path: clipClientText(observation.path),
        method: observation.method,
        tool: observation.tool,
        status,
        latencyMs: Math.round(seconds * 1e6) / 1000,
      },
      'request',
    );
  }
}
