import { createHash } from 'node:crypto';

/**
 * `value` with every object's keys sorted (arrays keep their order); what a digest is taken of.
 * Every key is kept as the client sent it, `__proto__` included: an assignment would set the
 * copy's prototype instead, and the digest of `{"a":1,"__proto__":{…}}` would be that of `{"a":1}`.
 */
export function canonicalArguments(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonicalArguments);
  if (typeof value === 'object' && value !== null) {
    const out = Object.create(null) as Record<string, unknown>;
    for (const key of Object.keys(value).sort()) {
      const item = (value as Record<string, unknown>)[key];
      if (item !== undefined) out[key] = canonicalArguments(item);
    }
    return out;
  }
  return value;
}

/** SHA-256 (hex) of the canonical JSON of `value`: equal for equal arguments whatever their key order. */
export function argumentsDigest(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(canonicalArguments(value)) ?? 'null').digest('hex');
}
