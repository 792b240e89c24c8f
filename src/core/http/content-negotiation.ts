import Negotiator from 'negotiator';
import { parse } from 'content-type';

/**
 * Answers per header value. Clients send the same few `Content-Type` and `Accept` values on every
 * request; parsing them (a regex-based parser, a `Negotiator` per question) cost more than the rest
 * of a call's checks. Bounded: past `MAX_REMEMBERED` distinct values the memory starts over, so
 * junk headers cannot grow it.
 */
const MAX_REMEMBERED = 256;

function remembered<T>(answer: (value: string) => T): (value: string) => T {
  let known = new Map<string, T>();
  return (value) => {
    let found = known.get(value);
    if (found === undefined && !known.has(value)) {
      found = answer(value);
      if (known.size >= MAX_REMEMBERED) known = new Map();
      known.set(value, found);
    }
    return found as T;
  };
}

/** What a `Content-Type` header says of a body: whether it is JSON, and in which charset. */
interface DeclaredType {
  readonly json: boolean;
  /** The `charset` parameter as sent (unquoted), when there is one. */
  readonly charset: string | undefined;
}

const UNPARSEABLE: DeclaredType = { json: false, charset: undefined };

const declaredType = remembered((value: string): DeclaredType => {
  let parsed;
  try {
    parsed = parse(value);
  } catch {
    return UNPARSEABLE;
  }
  const type = parsed.type.toLowerCase();
  return { json: type === 'application/json' || /^application\/[^/+]+\+json$/.test(type), charset: parsed.parameters.charset };
});

/**
 * Whether a `Content-Type` header names JSON (`application/json` or `application/*+json`, any
 * parameters). A header that does not parse is not JSON.
 */
export function isJsonContentType(value: string | undefined): boolean {
  return value ? declaredType(value).json : false;
}

/** The labels of UTF-8 (the WHATWG Encoding Standard's), lower-cased. */
const UTF8_LABELS: ReadonlySet<string> = new Set(['utf-8', 'utf8', 'unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'x-unicode20utf8']);

/**
 * The charset a `Content-Type` header declares when it is not UTF-8, as sent (unquoted); undefined
 * when it declares none, or UTF-8 under any of its labels (`utf-8`, `UTF-8`, `"utf-8"`, `utf8`).
 * JSON between systems is UTF-8 (RFC 8259, section 8.1): a body declared in another charset
 * (`iso-8859-1`, `utf-16`) cannot be read as the client meant it.
 */
export function foreignCharset(value: string | undefined): string | undefined {
  if (!value) return undefined;
  const { charset } = declaredType(value);
  return charset === undefined || UTF8_LABELS.has(charset.trim().toLowerCase()) ? undefined : charset;
}

/** Whether an `Accept` header admits `type` (q-values honoured; no header admits everything). */
export function accepts(accept: string | undefined, type: string): boolean {
  if (accept === undefined) return true;
  return acceptance(accept).admits(type);
}

/** Whether an `Accept` header names `type` itself with a non-zero q (a wildcard is not enough). */
export function explicitlyAccepts(accept: string | undefined, type: string): boolean {
  if (accept === undefined) return false;
  return acceptance(accept).named.has(type);
}

/** What one `Accept` value admits: the types it names (q > 0), and an answer per type asked about. */
interface Acceptance {
  readonly named: ReadonlySet<string>;
  admits(type: string): boolean;
}

const acceptance = remembered((accept: string): Acceptance => {
  const negotiator = new Negotiator({ headers: { accept } });
  const named = new Set(negotiator.mediaTypes().map((listed) => listed.toLowerCase()));
  const answers = new Map<string, boolean>();
  return {
    named,
    admits(type) {
      let answer = answers.get(type);
      if (answer === undefined) {
        answer = negotiator.mediaTypes([type]).length > 0;
        // Callers ask about a handful of fixed types; never more than a few entries.
        if (answers.size < 16) answers.set(type, answer);
      }
      return answer;
    },
  };
});

/** Whether an `Accept-Encoding` header admits gzip (listed, or `*`, with a non-zero q). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  return new Negotiator({ headers: { 'accept-encoding': header } }).encodings(['gzip']).includes('gzip');
}
