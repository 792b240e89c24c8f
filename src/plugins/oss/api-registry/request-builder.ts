import { ToolError } from '../../../core/index.js';
import type { ApiOperation, ApiParameter } from './api-operation.js';

/** The arguments of one call, already validated against the operation's schema. */
export interface CallArguments {
  readonly path?: Record<string, unknown>;
  readonly query?: Record<string, unknown>;
  readonly headers?: Record<string, unknown>;
  readonly cookies?: Record<string, unknown>;
  readonly body?: unknown;
}

export interface BuiltRequest {
  readonly url: URL;
  readonly method: string;
  readonly headers: Headers;
  readonly body: string | undefined;
}

function scalar(value: unknown): string {
  return typeof value === 'string' ? value : typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
}

/** OpenAPI `simple` style (path and header parameters). */
function simple(value: unknown, explode: boolean): string {
  if (Array.isArray(value)) return value.map(scalar).join(',');
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).map(([k, v]) => (explode ? `${k}=${scalar(v)}` : `${k},${scalar(v)}`)).join(',');
  }
  return scalar(value);
}

function appendQuery(query: URLSearchParams, parameter: ApiParameter, value: unknown): void {
  const { name, style, explode } = parameter;
  if (Array.isArray(value)) {
    if (style === 'form' && explode) for (const item of value) query.append(name, scalar(item));
    else query.append(name, value.map(scalar).join(style === 'spaceDelimited' ? ' ' : style === 'pipeDelimited' ? '|' : ','));
  } else if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined && v !== null);
    if (style === 'deepObject') for (const [k, v] of entries) query.append(`${name}[${k}]`, scalar(v));
    else if (explode) for (const [k, v] of entries) query.append(k, scalar(v));
    else query.append(name, entries.flatMap(([k, v]) => [k, scalar(v)]).join(','));
  } else {
    query.append(name, scalar(value));
  }
}

function joinBase(base: string, path: string): string {
  return base.replace(/\/+$/, '') + path;
}

/**
 * Turn validated arguments into a request: path parameters substituted (and required: a template
 * left unresolved is refused, never sent), query serialised per the parameter's style, headers and
 * body set per the operation's media type.
 */
export function buildRequest(operation: ApiOperation, args: CallArguments, base: string): BuiltRequest {
  const missing: string[] = [];
  const path = operation.path.replace(/\{([^}]+)\}/g, (_match, name: string) => {
    const value = args.path?.[name];
    if (value === undefined || value === null || value === '') {
      missing.push(name);
      return '';
    }
    const parameter = operation.parameters.find((p) => p.in === 'path' && p.name === name);
    return encodeURIComponent(simple(value, parameter?.explode ?? false));
  });
  if (missing.length) {
    throw new ToolError(`Cannot call ${operation.id} (${operation.method} ${operation.path}): missing path parameter${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')}.`);
  }
  const url = new URL(joinBase(base, path));
  for (const parameter of operation.parameters) {
    if (parameter.in !== 'query') continue;
    const value = args.query?.[parameter.name];
    if (value !== undefined && value !== null) appendQuery(url.searchParams, parameter, value);
  }

  const headers = new Headers();
  const jsonResponse = operation.responses.some((r) => r.contentType && /[/+]json\b/i.test(r.contentType));
  headers.set('accept', jsonResponse ? 'application/json' : '*/*');
  for (const parameter of operation.parameters) {
    const value = parameter.in === 'header' ? args.headers?.[parameter.name] : undefined;
    if (value !== undefined && value !== null) headers.set(parameter.name, simple(value, parameter.explode));
  }
  const cookies = operation.parameters
    .filter((p) => p.in === 'cookie' && args.cookies?.[p.name] !== undefined)
    .map((p) => `${p.name}=${encodeURIComponent(simple(args.cookies![p.name], false))}`);
  if (cookies.length) headers.set('cookie', cookies.join('; '));

  let body: string | undefined;
  if (args.body !== undefined && operation.requestBody) {
    const type = operation.requestBody.contentType;
    const essence = type.split(';')[0]!.trim().toLowerCase();
    if (/[/+]json$/.test(essence)) {
      body = JSON.stringify(args.body);
    } else if (essence === 'application/x-www-form-urlencoded') {
      const form = new URLSearchParams();
      for (const [k, v] of Object.entries((args.body ?? {}) as Record<string, unknown>)) if (v !== undefined && v !== null) form.append(k, scalar(v));
      body = form.toString();
    } else if (typeof args.body === 'string') {
      body = args.body;
    } else {
      throw new ToolError(`Cannot call ${operation.id}: its request body is ${type}, which needs a string body.`);
    }
    headers.set('content-type', type.includes('*') ? 'application/octet-stream' : type);
  }
  return { url, method: operation.method, headers, body };
}
