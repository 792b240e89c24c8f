/**
 * Links into a page name one object: `#/agents/<id>` opens the Agents page with that agent
 * highlighted. The id of the current link, if any.
 */
export function focusedId(): string | undefined {
  const [, id] = location.hash.replace(/^#\/?/, '').split('/');
  return id ? decodeURIComponent(id) : undefined;
}

/** The link to one object on its page. */
export function linkTo(page: 'agents' | 'roles' | 'idps' | 'policies', id: string): string {
  return `#/${page}/${encodeURIComponent(id)}`;
}
