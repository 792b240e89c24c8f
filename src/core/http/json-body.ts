import { isUtf8 } from 'node:buffer';
import type { HttpRequest } from './types.js';

/** What `parseJsonBody` answers for a body that is not JSON. */
export const NOT_JSON: unique symbol = Symbol('not JSON');

/**
 * A request body as JSON. JSON between systems is UTF-8 (RFC 8259, section 8.1; a `charset`
 * parameter has no effect on it): bytes that are not UTF-8 make the body malformed, rather than
 * being replaced with U+FFFD and read as other text than the client sent.
 */
export function parseJsonBody(body: Buffer): unknown {
  if (!isUtf8(body)) return NOT_JSON;
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    return NOT_JSON;
  }
}

/**
 * Why the engine cannot read the request's body as sent, or undefined when it can: it does not
 * undo content codings (a compressed body would otherwise reach the parser as binary).
 */
export function unreadableEncoding(req: Pick<HttpRequest, 'header'>): string | undefined {
  const coding = req.header('content-encoding');
  if (coding === undefined) return undefined;
  const trimmed = coding.trim().toLowerCase();
  if (trimmed === '' || trimmed === 'identity') return undefined;
  return `Content-Encoding ${coding.trim().slice(0, 64)} is not supported: send the body uncompressed.`;
}
