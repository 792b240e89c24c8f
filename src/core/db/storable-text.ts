/**
 * What PostgreSQL can hold exactly. It refuses NUL in `text` and `jsonb` (and the JSON escape
 * `\u0000` in `jsonb`), `jsonb` refuses escaped lone UTF-16 surrogates, and the driver would
 * replace raw ones. JSON text (`JSON.stringify`) escapes both as plain ASCII, so a `text` column
 * holding JSON keeps any client value exactly; `jsonb` and plain text need the check below.
 */
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Why `value` cannot be stored as given in a text or jsonb column, or undefined when it can. */
export function unstorableText(value: string): string | undefined {
  const found = UNSTORABLE.exec(value);
  if (!found) return undefined;
  return found[0] === '\u0000' ? 'contains a NUL character' : 'contains a lone surrogate (it is not valid Unicode text)';
}

/** JSON text of `value` for a `text` column: every string kept exactly, NUL and lone surrogates included. */
export function storableJson(value: unknown): string {
  return JSON.stringify(value) ?? 'null';
}
