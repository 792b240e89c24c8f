import { createHash } from 'node:crypto';

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

const MAX_DEPTH = 32;

/** Build the redaction function of a rule (the default rule when none is given). */
export function redactor(rule: AuditRedaction | undefined): (args: unknown) => unknown {
  if (typeof rule === 'function') return rule;
  const keys = rule?.keys ?? DEFAULT_SECRET_KEYS;
  const values = rule?.values ?? DEFAULT_SECRET_VALUES;
  const walk = (value: unknown, depth: number): unknown => {
    if (typeof value === 'string') return values.some((pattern) => pattern.test(value)) ? REDACTED : value;
    if (value === null || typeof value !== 'object') return value;
    if (depth >= MAX_DEPTH) return REDACTED;
    if (Array.isArray(value)) return value.map((item) => walk(item, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = keys.test(k) ? REDACTED : walk(v, depth + 1);
    return out;
  };
  return (args) => walk(args, 0);
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
        if (item !== undefined && typeof item !== 'function') sorted[k] = sort(item);
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
  return createHash('sha256').update(canonicalJson(args)).digest('hex');
}
