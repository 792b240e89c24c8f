/**
 * The classic mistakes made when registering an identity provider, as plain checks with no
 * dependencies: the server refuses them, and the admin UI runs the same checks before saving.
 * Each returns a message for people, or undefined when the value shows no such mistake.
 */

const GUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i;
const MULTI_TENANT_ENTRA = ['common', 'organizations', 'consumers'];

function parsed(value: string): URL | undefined {
  try {
    return new URL(value.trim());
  } catch {
    return undefined;
  }
}

/** Entra: the directory (tenant) id must be one directory's GUID. */
export function directoryIdProblem(value: string): string | undefined {
  const id = value.trim();
  if (id === '') return 'Enter the directory (tenant) ID: Entra admin center → Overview → Tenant ID.';
  if (MULTI_TENANT_ENTRA.includes(id.toLowerCase())) {
    return `"${id}" is a multi-tenant endpoint: it would trust every Microsoft directory. Enter your own directory (tenant) ID, a GUID.`;
  }
  if (new RegExp(`^${GUID.source}$`, 'i').test(id)) return undefined;
  const inside = id.match(GUID);
  if (inside) return `Enter only the directory (tenant) ID: ${inside[0]}.`;
  return 'The directory (tenant) ID is a GUID such as 72f988bf-86f1-41af-91ab-2d7cd011db47 (Entra admin center → Overview → Tenant ID), not a domain name.';
}

/** Keycloak: the realm URL, up to and including `/realms/<name>`. */
export function realmUrlProblem(value: string): string | undefined {
  const url = parsed(value);
  if (!url) return undefined;
  const path = url.pathname.replace(/\/+$/, '');
  if (/\/realms\/[^/]+$/.test(path)) return undefined;
  const realm = path.match(/^(.*\/realms\/[^/]+)\//);
  if (realm) return `Enter the realm URL only, ending at /realms/<name>: ${url.origin}${realm[1]}.`;
  return `Add /realms/<realm name> to the URL: the realm URL looks like ${url.origin}${path}/realms/acme.`;
}

/** Issuers whose trailing slash is known: tokens carry exactly this form in `iss`. */
const KNOWN_ISSUERS: readonly { readonly test: (url: URL) => boolean; readonly slash: boolean; readonly who: string }[] = [
  { test: (url) => url.hostname.endsWith('.auth0.com'), slash: true, who: 'Auth0 issuers end with a slash' },
  { test: (url) => url.hostname === 'sts.windows.net', slash: true, who: 'Entra v1 issuers end with a slash' },
  { test: (url) => url.hostname === 'accounts.google.com', slash: false, who: 'Google’s issuer has no trailing slash' },
  { test: (url) => url.hostname === 'login.microsoftonline.com', slash: false, who: 'Entra v2 issuers have no trailing slash' },
  { test: (url) => /\.(okta|oktapreview)\.com$/.test(url.hostname), slash: false, who: 'Okta issuers have no trailing slash' },
  { test: (url) => /\/realms\/[^/]+\/?$/.test(url.pathname), slash: false, who: 'Keycloak issuers have no trailing slash' },
];

/** Custom: the issuer exactly as in the tokens' `iss` — not the discovery URL, the right trailing slash. */
export function issuerProblem(value: string): string | undefined {
  const text = value.trim();
  const url = parsed(text);
  if (!url) return undefined;
  const discovery = text.match(/^(.*?)\/\.well-known\/openid-configuration\/?$/);
  if (discovery) return `Enter the issuer, not its discovery document: ${discovery[1]}.`;
  const slash = text.endsWith('/');
  for (const known of KNOWN_ISSUERS) {
    if (!known.test(url) || known.slash === slash) continue;
    return `${known.who}: enter ${known.slash ? `${text}/` : text.replace(/\/+$/, '')} exactly as in the tokens’ iss claim.`;
  }
  return undefined;
}
