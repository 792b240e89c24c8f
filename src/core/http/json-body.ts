import { isUtf8 } from 'node:buffer';
import type { HttpRequest } from './types.js';
import { clipClientText } from '../client-text.js';
import { foreignCharset } from './content-negotiation.js';

/** What `parseJsonBody` answers for a body that is not JSON. */
export const NOT_JSON: unique symbol = Symbol('not JSON');
/** What `parseJsonBody` answers for JSON that parses but is refused: why, as a phrase ("nests …"). */
export class RefusedJson {
  constructor(readonly reason: string) {}
}

/**
 * How deep a request body's objects and arrays may nest (as deep as serde_json parses). Deeper
 * JSON is refused before any code walks it: governance (audit redaction and digests, approval
 * matching, policies) and plugins' own code walk arguments recursively, and a body of 1 MB can
 * nest half a million levels.
 */
export const MAX_JSON_DEPTH = 128;

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
/** `.`, `e`, `E`, `+`, `-`: what continues a number after its first character. */
const continuesNumber = (c: number): boolean => isDigit(c) || c === 0x2e || c === 0x65 || c === 0x45 || c === 0x2b || c === 0x2d;

/**
 * Why JSON text (that parses) is refused, or undefined: objects and arrays nested deeper than
 * {@link MAX_JSON_DEPTH} (brackets inside strings do not count), or with `finiteNumbers`, a number
 * past the range of a double (`1e400` parses as Infinity and serialises as `null`: an approved
 * `null` would match it, and the audit would show `null` for the value the handler got). The
 * admin API leaves such numbers to its validation, which names the field.
 */
export function refusalOf(text: string, finiteNumbers: boolean): string | undefined {
  let depth = 0;
  let inString = false;
  let numberStart = -1;
  let exponent = false;
  for (let i = 0; i <= text.length; i++) {
    const c = i < text.length ? text.charCodeAt(i) : 0x20;
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
      continue;
    }
    if (numberStart >= 0) {
      if (continuesNumber(c)) {
        if (c === 0x65 || c === 0x45) exponent = true;
        continue;
      }
      // Only a number with an exponent, or of over 300 digits, can be out of range.
      if (finiteNumbers && (exponent || i - numberStart > 300) && !Number.isFinite(Number(text.slice(numberStart, i)))) {
        return `holds a number out of range (${clipClientText(text.slice(numberStart, i), 24)}): JSON numbers must be finite`;
      }
      numberStart = -1;
    }
    if (c === 0x22) inString = true;
    else if (isDigit(c) || c === 0x2d) {
      numberStart = i;
      exponent = false;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > MAX_JSON_DEPTH) return `nests objects and arrays deeper than ${MAX_JSON_DEPTH} levels`;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return undefined;
}

/**
 * JSON text without the one byte-order mark (U+FEFF) it may start with. RFC 8259 (section 8.1)
 * lets a parser ignore it, and some platforms' serialisers write it; `JSON.parse` refuses it.
 */
export function withoutByteOrderMark(text: string): string {
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * A request body as JSON. JSON between systems is UTF-8 (RFC 8259, section 8.1; for a body declared
 * in another charset see {@link unreadableBody}): bytes that are
 * not UTF-8 make the body malformed, rather than being replaced with U+FFFD and read as other text
 * than the client sent. One leading byte-order
 * mark is ignored (see {@link withoutByteOrderMark}). JSON that parses but that the engine refuses
 * (see {@link refusalOf}) is a {@link RefusedJson}.
 */
export function parseJsonBody(body: Buffer, options: { readonly finiteNumbers: boolean }): unknown {
  if (!isUtf8(body)) return NOT_JSON;
  const text = withoutByteOrderMark(body.toString('utf8'));
  let parsed: unknown;
  try {
    parsed = JSON.parse(text) as unknown;
  } catch {
    return NOT_JSON;
  }
  const refusal = refusalOf(text, options.finiteNumbers);
  return refusal === undefined ? parsed : new RefusedJson(refusal);
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
  return `Content-Encoding ${clipClientText(coding.trim())} is not supported: send the body uncompressed.`;
}

/**
 * Charsets in which the ASCII characters are not the ASCII bytes (or may stand for others): a body
 * declared in one of them cannot be read as UTF-8 whatever it holds.
 */
const ASCII_INCOMPATIBLE = /^(?:utf-?(?:16|32|7)|ucs-?[24]|iso-10646|unicode|csunicode|ibm0?37|cp0?37|ebcdic)/i;

const unsupported = (charset: string): string =>
  `Content-Type charset ${clipClientText(charset)} is not supported: JSON is UTF-8 (RFC 8259); send the body as UTF-8.`;

/**
 * Why no body of this `Content-Type` can be read as JSON, or undefined: it declares a charset whose
 * ASCII characters are not ASCII bytes (`charset=utf-16`, `utf-32`, EBCDIC), so the refusal comes
 * before the body is read. For any other charset see {@link unreadableBody}.
 */
export function unreadableCharset(contentType: string | undefined): string | undefined {
  const charset = foreignCharset(contentType);
  return charset !== undefined && ASCII_INCOMPATIBLE.test(charset.trim()) ? unsupported(charset) : undefined;
}

/**
 * Why this body cannot be read as JSON in the charset its `Content-Type` declares, or undefined
 * when it can. JSON between systems is UTF-8 (RFC 8259, section 8.1). A body declared in another
 * charset that holds ASCII only (many clients label JSON `charset=iso-8859-1` and escape every other
 * character as `\uXXXX`) is the same text in UTF-8, and is read. One with other bytes (a latin-1
 * `é`) would be read as other text than the client meant, or as malformed: it is refused.
 */
export function unreadableBody(contentType: string | undefined, body: Uint8Array): string | undefined {
  const charset = foreignCharset(contentType);
  if (charset === undefined) return undefined;
  if (ASCII_INCOMPATIBLE.test(charset.trim())) return unsupported(charset);
  for (const byte of body) if (byte >= 0x80 || byte === 0) return unsupported(charset);
  return undefined;
}
