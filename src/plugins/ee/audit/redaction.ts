import { sha256Hex } from './sha256.js';

/**
 * How call arguments are redacted before they are stored. Either a rule (key and value patterns)
 * or a function that returns the value to store (it must not mutate its input).
 */
export type AuditRedaction =
  | {
      /** Object keys whose values are replaced, at any depth. */
      readonly keys?: RegExp;
      /** String values replaced wherever they appear. */
      readonly values?: readonly RegExp[];
    }
  | ((args: unknown) => unknown);

export const REDACTED = '[REDACTED]';

export const DEFAULT_SECRET_KEYS = /pass|secret|token|key|authorization|credential/i;

export const DEFAULT_SECRET_VALUES: readonly RegExp[] = Object.freeze([
  // Authorization header values
  /^\s*(?:bearer|basic)\s+\S+/i,
  // JWTs (header.payload.signature, base64url; headers start with `{"` → `eyJ`)
  /^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$/,
  // Gatehouse API keys
  /^ghk_[A-Za-z0-9]+_[A-Za-z0-9_-]+$/,
]);

/**
 * Secrets found inside longer text (a command line, a log excerpt, a config file), each with the
 * replacement that keeps what surrounds the secret and masks the secret itself.
 */
const maskValue = (_match: string, name: string, value: string): string =>
  `${name}${value.startsWith('"') ? `"${REDACTED}"` : value.startsWith("'") ? `'${REDACTED}'` : REDACTED}`;

export const DEFAULT_SECRETS_IN_TEXT: readonly { readonly pattern: RegExp; readonly replace: string | ((match: string, ...groups: string[]) => string) }[] = Object.freeze([
  // PEM private keys (RSA, EC, OpenSSH, PKCS#8, encrypted), up to their end line or the end of the text
  { pattern: /-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|$)/g, replace: REDACTED },
  // JWTs anywhere
  { pattern: /\beyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*/g, replace: REDACTED },
  // Authorization header credentials: Bearer, Basic, Token, Digest …
  { pattern: /\b(Bearer|Basic|Token|Digest|Negotiate)(\s+)[A-Za-z0-9._~+/=-]{6,}/gi, replace: `$1$2${REDACTED}` },
  // Gatehouse API keys, GitHub, Slack and Stripe-style tokens
  { pattern: /\b(?:ghk_[A-Za-z0-9_-]{8,}|gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|[rs]k_(?:live|test)_[A-Za-z0-9]{10,})/g, replace: REDACTED },
  // AWS access key ids, Google API keys and OAuth access tokens
  { pattern: /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b/g, replace: REDACTED },
  { pattern: /\bAIza[0-9A-Za-z_-]{35}\b/g, replace: REDACTED },
  { pattern: /\bya29\.[0-9A-Za-z_-]{10,}/g, replace: REDACTED },
  // Credentials in URLs: scheme://user:password@host
  { pattern: /\b([a-z][a-z0-9+.-]*:\/\/[^\s:@/]+:)[^\s@/]+@/gi, replace: `$1${REDACTED}@` },
  // curl -u user:password, --user user:password
  { pattern: /(\s(?:-u|--user)\s+["']?[^\s:"']+:)[^\s"']+/g, replace: `$1${REDACTED}` },
  // name=value / name: value / "name": "value" / --name value pairs whose name says secret
  {
    pattern: /((?:^|[^A-Za-z0-9])[A-Za-z0-9_.-]*(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret|credentials?|auth[_-]?key|session[_-]?id)[A-Za-z0-9_.-]*["']?(?:\s*[:=]\s*|\s+(?=["'])))("[^"\n]*"|'[^'\n]*'|[^\s"'&,;<>]+)/gi,
    replace: maskValue,
  },
  { pattern: /((?:^|\s)--?[A-Za-z0-9-]*(?:password|passwd|secret|token|api-key|apikey|access-key|private-key|credential)[A-Za-z0-9-]*\s+)("[^"\n]*"|'[^'\n]*'|(?!-)[^\s"']+)/gi, replace: maskValue },
]);

/** `text` with every secret found inside it masked (see {@link DEFAULT_SECRETS_IN_TEXT}). */
export function maskSecretsInText(text: string): string {
  let out = text;
  for (const { pattern, replace } of DEFAULT_SECRETS_IN_TEXT) out = out.replace(pattern, replace as (match: string, ...groups: string[]) => string);
  return out;
}

const MAX_DEPTH = 32;

/**
 * Build the redaction function of a rule (the default rule when none is given). The default rule
 * replaces a string that is a credential as a whole, and masks credentials found inside longer
 * text; a configured `values` list replaces every string one of its patterns matches.
 */
export function redactor(rule: AuditRedaction | undefined): (args: unknown) => unknown {
  if (typeof rule === 'function') return rule;
  const keys = rule?.keys ?? DEFAULT_SECRET_KEYS;
  const values = rule?.values ?? DEFAULT_SECRET_VALUES;
  const inText = rule?.values === undefined;
  const text = (value: string): string => {
    if (values.some((pattern) => pattern.test(value))) return REDACTED;
    return inText ? maskSecretsInText(value) : value;
  };
  const walk = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') return text(value);
    if (value === null || typeof value !== 'object') return value;
    if (depth >= MAX_DEPTH) return REDACTED;
    if (Array.isArray(value)) return value.map((item) => walk(item, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) setOwn(out, k, keys.test(k) ? REDACTED : walk(v, depth + 1));
    return out;
  };
  return (args) => walk(args, 0);
}

/**
 * Set `key` of a copy as its own property. A client's `__proto__` key is a key like any other: an
 * assignment would set the copy's prototype instead, and drop the member from what is stored and
 * digested. (An object without a prototype would do too, but V8 keeps those as slow dictionaries.)
 */
function setOwn(record: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(record, key, { value, enumerable: true, writable: true, configurable: true });
  else record[key] = value;
}

/** JSON with object keys sorted at every depth, so equal values always serialize the same way. */
export function canonicalJson(value: unknown): string {
  const seen = new Set<unknown>();
  const sort = (v: unknown): unknown => {
    if (v === null || typeof v !== 'object') return v;
    if (seen.has(v)) throw new TypeError('Cannot serialize a circular structure.');
    seen.add(v);
    let out: unknown;
    if (Array.isArray(v)) out = v.map((item) => (item === undefined || typeof item === 'function' ? null : sort(item)));
    else if (typeof (v as { toJSON?: unknown }).toJSON === 'function') out = sort((v as { toJSON(): unknown }).toJSON());
    else {
      const sorted: Record<string, unknown> = {};
      for (const k of Object.keys(v).sort()) {
        const item = (v as Record<string, unknown>)[k];
        if (item !== undefined && typeof item !== 'function') setOwn(sorted, k, sort(item));
      }
      out = sorted;
    }
    seen.delete(v);
    return out;
  };
  return JSON.stringify(sort(value)) ?? 'null';
}

/** SHA-256 (hex) of the canonical JSON of the arguments as received, before redaction. */
export function argumentsDigest(args: unknown): string {
  return sha256Hex(canonicalJson(args));
}
