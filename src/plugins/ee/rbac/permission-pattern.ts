/** A permission as tools declare it: `resource:action`, segments of letters, digits, `.`, `_`, `-`. */
export const PERMISSION = /^[a-z0-9][a-z0-9._-]{0,63}(?::[a-z0-9][a-z0-9._-]{0,63}){0,3}$/i;

/**
 * A grant: a permission, a permission whose last segment is `*` (`tickets:*`), or `*` alone —
 * optionally followed by `+approval` (`tickets:delete+approval`): granted only call by call, each
 * approved by a person.
 */
export const PERMISSION_PATTERN = /^(?:\*|[a-z0-9][a-z0-9._-]{0,63}(?::[a-z0-9][a-z0-9._-]{0,63}){0,3}(?::\*)?)(?:\+approval)?$/i;

/** The suffix of a grant that needs a person's approval for each call. */
export const APPROVAL_SUFFIX = '+approval';

export const needsApproval = (pattern: string): boolean => pattern.toLowerCase().endsWith(APPROVAL_SUFFIX);

/**
 * Does `pattern` grant `permission`? `*` grants everything, `tickets:*` grants `tickets:read` and
 * `tickets:comments:write` but not `tickets` itself; anything else must match exactly
 * (case-insensitively). A target that declares no permission is granted only by `*`.
 */
export function permissionMatches(grant: string, permission: string | undefined): boolean {
  const pattern = needsApproval(grant) ? grant.slice(0, -APPROVAL_SUFFIX.length) : grant;
  if (pattern === '*') return true;
  if (permission === undefined) return false;
  const p = pattern.toLowerCase();
  const wanted = permission.toLowerCase();
  if (p.endsWith(':*')) return wanted.startsWith(p.slice(0, -1));
  return p === wanted;
}

export function grants(patterns: readonly string[], permission: string | undefined): boolean {
  return patterns.some((pattern) => permissionMatches(pattern, permission));
}
