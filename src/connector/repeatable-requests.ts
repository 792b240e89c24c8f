/**
 * Which requests the connector may send again after a connection that dropped once the request
 * was on its way. The server may have run such a request before the connection dropped, so only
 * what has no effect, or the same effect twice, is resent; anything else (a tool call above all)
 * is answered with an error saying that its outcome is unknown.
 */

/** Client → server requests that only read, or set a state that repeating leaves the same. */
const REPEATABLE_METHODS = new Set([
  'initialize',
  'ping',
  'tools/list',
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
  'tasks/list',
  'tasks/result',
]);

type Message = { id?: unknown; method?: unknown; params?: unknown };

function parse(body: unknown): unknown {
  if (typeof body !== 'string') return undefined;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

function repeatable(message: unknown): boolean {
  if (!message || typeof message !== 'object' || Array.isArray(message)) return false;
  const { id, method } = message as Message;
  // A response (to a server → client request) answers an id the server forgets once answered:
  // a second copy is ignored.
  if (method === undefined) return 'result' in message || 'error' in message;
  if (typeof method !== 'string') return false;
  // A notification asks for nothing to be done twice (initialized, cancelled, roots changed).
  if (id === undefined) return method.startsWith('notifications/');
  return REPEATABLE_METHODS.has(method);
}

/**
 * Whether this HTTP exchange may be sent again although the server may already have received it:
 * GET (the server's event stream) and DELETE (ending the session) are idempotent; a POST only when
 * its JSON-RPC message, or every message of a batch, is repeatable.
 */
export function safeToResend(init: RequestInit): boolean {
  if ((init.method ?? 'GET').toUpperCase() !== 'POST') return true;
  const body = parse(init.body);
  if (Array.isArray(body)) return body.length > 0 && body.every(repeatable);
  return repeatable(body);
}

/** What was sent, for a message: `the call to tool "create-ticket"`, `tasks/cancel`. */
export function describeSent(request: { method?: unknown; params?: unknown } | undefined): string {
  const method = typeof request?.method === 'string' ? request.method : undefined;
  const tool = (request?.params as { name?: unknown } | undefined)?.name;
  if (method === 'tools/call' && typeof tool === 'string') return `the call to tool "${tool}"`;
  return method ?? 'the request';
}

/** The same, from the body of an HTTP exchange (a batch is named as such). */
export function describeBody(body: unknown): string {
  const message = parse(body);
  if (Array.isArray(message)) return 'the batch of requests';
  return describeSent(message && typeof message === 'object' ? (message as Message) : undefined);
}

/** Whether a forwarded request is repeatable, by its method alone. */
export function repeatableMethod(method: string): boolean {
  return REPEATABLE_METHODS.has(method);
}

/** The end of every message about a request whose outcome is unknown. */
export const OUTCOME_UNKNOWN = 'it may or may not have run on the server, and it was not resent automatically. Check the server (its audit log) before retrying it, and retry only if that is safe.';
