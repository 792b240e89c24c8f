import { isUtf8 } from 'node:buffer';
import type { HttpRequest } from './types.js';

/** What `parseJsonBody` answers for a body that is not JSON. */
export const NOT_JSON: unique symbol = Symbol('not JSON');
/** What `parseJsonBody` answers for JSON that nests deeper than {@link MAX_JSON_DEPTH}. */
export const TOO_DEEP: unique symbol = Symbol('JSON too deep');

/**
 * How deep a request body's objects and arrays may nest (as deep as serde_json parses). Deeper
 * JSON is refused before any code walks it: governance (audit redaction and digests, approval
 * matching, policies) and plugins' own code walk arguments recursively, and a body of 1 MB can
 * nest half a million levels.
 */
export const MAX_JSON_DEPTH = 128;

/** Whether JSON text nests objects and arrays deeper than `max` (brackets inside strings do not count). */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/**
 * A request body as JSON. JSON between systems is UTF-8 (RFC 8259, section 8.1; a `charset`
 * parameter has no effect on it): bytes that are not UTF-8 make the body malformed, rather than
 * being replaced with U+FFFD and read as other text than the client sent. JSON nesting deeper
 * than {@link MAX_JSON_DEPTH} is {@link TOO_DEEP}.
 */
export function parseJsonBody(body: Buffer): unknown {
  if (!isUtf8(body)) return NOT_JSON;
  const text = body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    return NOT_JSON;
  }
  return nestsDeeperThan(text, MAX_JSON_DEPTH) ? TOO_DEEP : parsed;
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
