import { GatehouseError } from '../errors.js';

/**
 * The JSON-RPC error codes of MCP, as the SDK names them (its `ErrorCode`), and the protocol
 * versions it speaks. Plain constants: the SDK's `types.js` builds its whole schema set when
 * imported, which the engine does not use and every start would pay for. A test keeps them equal
 * to the SDK's.
 */
export const ErrorCode = {
  ConnectionClosed: -32000,
  RequestTimeout: -32001,
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
} as const;

export const LATEST_PROTOCOL_VERSION = '2025-11-25';
export const SUPPORTED_PROTOCOL_VERSIONS: readonly string[] = [LATEST_PROTOCOL_VERSION, '2025-06-18', '2025-03-26', '2024-11-05', '2024-10-07'];

export type JsonRpcId = string | number;

export interface JsonRpcRequest {
  readonly jsonrpc: '2.0';
  readonly id: JsonRpcId;
  readonly method: string;
  readonly params?: Record<string, unknown>;
}

export interface JsonRpcNotification {
  readonly jsonrpc: '2.0';
  readonly method: string;
  readonly params?: Record<string, unknown>;
}

export type JsonRpcResponse =
  | { readonly jsonrpc: '2.0'; readonly id: JsonRpcId; readonly result: unknown }
  | { readonly jsonrpc: '2.0'; readonly id: JsonRpcId | null; readonly error: { code: number; message: string; data?: unknown } };

/** A JSON-RPC protocol error: rendered as a JSON-RPC error object, never as a tool result. */
export class ProtocolError extends GatehouseError {
  constructor(
    readonly rpcCode: number,
    message: string,
    readonly data?: unknown,
  ) {
    super('protocol_error', message);
  }
}

/**
 * How the engine answers MCP requests that fail — the one mapping table, pinned by tests:
 *
 * | situation                                              | answer                                   |
 * |--------------------------------------------------------|------------------------------------------|
 * | unknown method                                         | JSON-RPC `-32601` Method not found       |
 * | malformed params, unknown tool / prompt, bad cursor    | JSON-RPC `-32602` Invalid params         |
 * | `resources/read` / `subscribe` of an unknown URI       | JSON-RPC `-32002` Resource not found     |
 * | policy denies a resource, prompt or completion target  | JSON-RPC `-32003` Permission denied      |
 * | policy denies a tool, bad tool arguments, tool failure | `tools/call` result with `isError: true` |
 * | a metered limit (rate limit, quota) refuses a call     | HTTP 429 + `Retry-After` + JSON-RPC `-32029` (limit, reset time in `data`); in an open stream, the error alone |
 * | handler crash outside tools, internal failure          | JSON-RPC `-32603` Internal error         |
 * | audit trail or database unavailable                    | HTTP 503 + JSON-RPC `-32603`             |
 *
 * A denied read is audited (`denied`) like a denied tool call. Its code differs from "not found"
 * on purpose: lists are filtered by the same policy, so a caller only learns that a hidden
 * resource exists by guessing its URI, and the explicit denial is what they need to ask for access.
 */
export const RpcErrorCode = {
  ResourceNotFound: -32002,
  PermissionDenied: -32003,
  LimitExceeded: -32029,
} as const;

/**
 * A metered limit refused the call: a JSON-RPC error whose `data` carries the limit, when it
 * resets and the seconds to wait; answered with HTTP 429 and `Retry-After` while the response is
 * not yet a stream.
 */
export class LimitExceededError extends ProtocolError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    data: { readonly limit: Readonly<Record<string, unknown>>; readonly resetsAt: string; readonly retryAfterSeconds: number; readonly reason: string },
  ) {
    super(RpcErrorCode.LimitExceeded, message, data);
  }
}

export const invalidParams = (message: string): ProtocolError => new ProtocolError(ErrorCode.InvalidParams, message);

/** A JSON object: not null, not an array. */
export const isJsonObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** What a JSON value is, as an error message names it: `a string`, `an array`, `null`… */
export function jsonKind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'number') return 'a number';
  if (typeof value === 'boolean') return 'a boolean';
  return typeof value;
}

/**
 * A member of `params` that the MCP schema makes an object (`_meta`, `arguments`, `task`…):
 * undefined when absent, else the object; anything else (a string, a number, an array, null) is
 * refused with -32602 Invalid params naming the member, rather than ignored or read as if absent.
 */
export function objectParam(params: Record<string, unknown> | undefined, name: string, method: string): Record<string, unknown> | undefined {
  const value = params?.[name];
  if (value === undefined || isJsonObject(value)) return value;
  throw invalidParams(`Invalid params for ${method}: "${name}" must be an object, not ${jsonKind(value)}.`);
}

/**
 * The checks every request's `params` gets whatever its method (the MCP schema's `RequestParams`):
 * `_meta`, when sent, is an object, and its `progressToken` a string or a number.
 */
export function checkRequestParams(method: string, params: Record<string, unknown> | undefined): void {
  const meta = objectParam(params, '_meta', method);
  const token = meta?.progressToken;
  if (token !== undefined && typeof token !== 'string' && !(typeof token === 'number' && Number.isFinite(token))) {
    throw invalidParams(`Invalid params for ${method}: "_meta.progressToken" must be a string or a number, not ${jsonKind(token)}.`);
  }
}

export function errorResponse(id: JsonRpcId | null, code: number, message: string, data?: unknown): JsonRpcResponse {
  return { jsonrpc: '2.0', id, error: data === undefined ? { code, message } : { code, message, data } };
}

export type Classified =
  | { readonly kind: 'request'; readonly message: JsonRpcRequest }
  | { readonly kind: 'notification'; readonly message: JsonRpcNotification }
  | { readonly kind: 'response'; readonly message: { readonly id: JsonRpcId; readonly result?: unknown; readonly error?: { code?: unknown; message?: unknown; data?: unknown } } }
  | { readonly kind: 'invalid'; readonly id: JsonRpcId | null; readonly reason: string };

/**
 * A string, or an integer the answer can echo exactly: past 2^53 a number has already lost digits
 * in parsing, so the client could not match the answer to its request.
 */
const isId = (value: unknown): value is JsonRpcId => typeof value === 'string' || (typeof value === 'number' && Number.isSafeInteger(value));

/** Sort a parsed JSON value into request / notification / response, or say why it is none. */
export function classify(value: unknown): Classified {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { kind: 'invalid', id: null, reason: Array.isArray(value) ? 'JSON-RPC batches are not supported.' : 'Expected a JSON-RPC message object.' };
  }
  const message = value as Record<string, unknown>;
  const id = isId(message.id) ? message.id : null;
  if (message.jsonrpc !== '2.0') return { kind: 'invalid', id, reason: 'The "jsonrpc" member must be "2.0".' };
  if (message.params !== undefined && (typeof message.params !== 'object' || message.params === null || Array.isArray(message.params))) {
    return { kind: 'invalid', id, reason: 'The "params" member must be an object.' };
  }
  if (typeof message.method === 'string') {
    if (message.id === undefined) return { kind: 'notification', message: message as unknown as JsonRpcNotification };
    if (!isId(message.id)) return { kind: 'invalid', id: null, reason: 'The "id" member must be a string or a safe integer (at most 2^53 - 1 in magnitude).' };
    return { kind: 'request', message: message as unknown as JsonRpcRequest };
  }
  if (isId(message.id) && ('result' in message || 'error' in message)) {
    return { kind: 'response', message: message as unknown as Extract<Classified, { kind: 'response' }>['message'] };
  }
  return { kind: 'invalid', id, reason: 'A request needs a "method" string.' };
}
