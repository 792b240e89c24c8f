/** How much of a client's text an error message, log line or audit target quotes. */
export const QUOTED_CLIENT_TEXT_MAX = 200;

/**
 * Client-supplied text (a method or tool name, a header value, a URI) as an error message, a log
 * line or an audit row quotes it: whole up to {@link QUOTED_CLIENT_TEXT_MAX} characters, else its
 * first ones followed by how long it was, `…(100000 chars)`. A request of a megabyte must not come
 * back (or land in the logs and the audit trail) a megabyte long. A surrogate pair is never cut in
 * half. Anything that is not a string is quoted as `String()` makes it.
 */
export function clipClientText(value: unknown, max: number = QUOTED_CLIENT_TEXT_MAX): string {
  const text = typeof value === 'string' ? value : safeString(value);
  if (text.length <= max) return text;
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}…(${text.length} chars)`;
}

function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}
