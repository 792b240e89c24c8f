/**
 * Item 9 of the hardening work: the docs match behaviour. The error table of the access-token
 * profile, the preset defaults, the redaction examples and the documented defaults of the
 * hardening options in docs/security.md and docs/enterprise.md are read from the docs and checked
 * against the code and the tests that assert them; every behavioural sentence of
 * docs/enterprise.md (and the hardening sections of docs/security.md) is mapped to the tests that
 * assert it in {@link CLAIMS}, a table this file checks against the docs and the test files.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'chai';
import * as enterpriseEntry from '@gatehouse-mcp/engine/ee';
import { resolveEnterpriseOptions } from '@gatehouse-mcp/engine/ee';
import { resolvePreset, type IdpPresetInput } from '../../src/plugins/ee/identity/idp-presets.js';
import { redactor } from '../../src/plugins/ee/audit/redaction.js';
import { DEFAULT_AUDIT_SINK_SETTINGS } from '../../src/plugins/ee/audit/audit-sink-settings.js';
import { SESSION_IDLE_MS, SESSION_LIFETIME_MS } from '../../src/plugins/ee/admin-ui/admin-sessions.js';
import { resolveConfig } from '../../src/core/kernel/resolve-config.js';

const root = new URL('../../', import.meta.url).pathname;
const security = readFileSync(join(root, 'docs/security.md'), 'utf8');
const enterprise = readFileSync(join(root, 'docs/enterprise.md'), 'utf8');

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesUnder(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** The rows of the first Markdown table after `heading`, as arrays of cell texts. */
function table(doc: string, heading: string): string[][] {
  const start = doc.indexOf(heading);
  expect(start, heading).to.be.greaterThan(-1);
  const lines = doc.slice(start).split('\n');
  const first = lines.findIndex((line) => line.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((cell) => cell.trim()));
  }
  return rows;
}

/** Text with its line breaks and runs of spaces as single spaces, so phrases survive rewrapping. */
const flat = (text: string): string => text.replace(/\s+/g, ' ');

/** The text of a section (from its heading to the next heading of the same or a higher level), flattened. */
function sectionOf(doc: string, heading: string): string {
  const lines = doc.split('\n');
  const start = lines.findIndex((line) => /^#{2,3} /.test(line) && line.replace(/^#+ /, '') === heading);
  if (start < 0) return '';
  const level = /^#+/.exec(lines[start]!)![0].length;
  let end = start + 1;
  while (end < lines.length && !(new RegExp(`^#{1,${level}} `).test(lines[end]!))) end++;
  return flat(lines.slice(start, end).join('\n'));
}

/** The backticked pieces of a cell. */
const quoted = (cell: string): string[] => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);

/**
 * docs/enterprise.md, claim by claim, and the hardening statements of docs/security.md: a phrase of
 * each behavioural sentence (verbatim, so the table follows the text: reworded sentences must be
 * re-mapped) → the tests that assert it, as [file under test/, a piece of the test's title]. Checked
 * below: each phrase is in the doc, each title is in its file, and every section of
 * docs/enterprise.md has at least one claim here — a new section fails until its claims are mapped.
 * Sentences about what to click at an IdP (Entra, Keycloak, Google consoles) are instructions for
 * another product; what they lead to (the token shapes) is what is mapped.
 */
type Ref = readonly [file: string, title: string];
interface Claim {
  readonly doc: 'enterprise' | 'security';
  readonly section: string;
  readonly says: string;
  readonly tests: readonly Ref[];
}
const ID = 'ee/identity/';
const GOV = 'ee/governance/';
const UI = 'ee/ui/';
const DOC = 'ee/identity/documented-claims.test.ts';
const CLAIMS: readonly Claim[] = [
  // ## Enable the edition
  { doc: 'enterprise', section: 'Enable the edition', says: 'Swap the Community Edition plugin for the Enterprise one.', tests: [['packages/doc-examples.test.ts', 'type-checks every TypeScript example against the installed package']] },
  { doc: 'enterprise', section: 'Enable the edition', says: 'built from it, never from the `Host` header', tests: [[`${ID}resource-metadata.test.ts`, 'is built from the configured public URL, not from forwarded host headers']] },
  { doc: 'enterprise', section: 'Enable the edition', says: "| `tenancy` | `'path'` |", tests: [[`${ID}resource-metadata.test.ts`, "describe('path tenancy'"], [`${ID}resource-metadata.test.ts`, 'serves the metadata and accepts tokens at the plain /api/mcp']] },
  { doc: 'enterprise', section: 'Enable the edition', says: "the only tenant, required with `tenancy: 'single'`", tests: [[`${ID}identity-stores.test.ts`, 'validates enterpriseEdition options with errors naming the option']] },
  { doc: 'enterprise', section: 'Enable the edition', says: "| `credentialCacheTtlMs` | engine's `credentialCacheTtlMs` (30 s) |", tests: [[`${ID}revocation-delay.test.ts`, 'within the cache lifetime on other instances'], ['ee/docs-claims.test.ts', 'the cache and session lifetimes the docs state are the code']] },
  { doc: 'enterprise', section: 'Enable the edition', says: 'failed and timed-out fetches count too', tests: [[`${ID}jwks-rotation.test.ts`, 'refetches the keys once on an unknown kid, at most once per cooldown'], [`${ID}jwks-outage.test.ts`, 'a JWKS answering 500: one fetch per cooldown'], [`${ID}jwks-outage.test.ts`, 'a JWKS answering after 10 s']] },
  { doc: 'enterprise', section: 'Enable the edition', says: '| `discoveryCacheTtlMs` | 3 600 000 |', tests: [[`${ID}discovery-outage.test.ts`, 'discovery that expired during an outage refused every token'], ['ee/docs-claims.test.ts', "the documented defaults of the hardening options are the code\\'s"]] },
  { doc: 'enterprise', section: 'Enable the edition', says: '| `idpFaultLogIntervalMs` | 60 000 |', tests: [[`${ID}idp-outage-log.test.ts`, 'a summary per interval'], ['ee/docs-claims.test.ts', "the documented defaults of the hardening options are the code\\'s"]] },
  { doc: 'enterprise', section: 'Enable the edition', says: 'the host\'s own admin authentication for the admin API', tests: [[`${GOV}admin-api.test.ts`, 'accepts the host admin authenticator, scoped to the tenant it names']] },
  { doc: 'enterprise', section: 'Enable the edition', says: 'Invalid options stop the engine from being built with a `ConfigError` naming the option.', tests: [[`${ID}identity-stores.test.ts`, 'validates enterpriseEdition options with errors naming the option'], [`${GOV}governance-options.test.ts`, 'refuses to boot with audit or RBAC settings that cannot work, naming the option']] },
  // ## Tenancy
  { doc: 'enterprise', section: 'Tenancy', says: "A tenant's metadata lists **only that tenant's active IdPs**", tests: [[`${ID}resource-metadata.test.ts`, "lists only the tenant\\'s active issuers"]] },
  { doc: 'enterprise', section: 'Tenancy', says: 'A token obtained for tenant A is therefore refused at tenant B even when both trust the same IdP and the same client.', tests: [[`${ID}agent-tokens.test.ts`, 'refuses a token issued for tenant A at tenant B'], [`${ID}agent-tokens.test.ts`, 'refuses a token for another audience']] },
  { doc: 'enterprise', section: 'Tenancy', says: 'Access tokens sent to the shared `{basePath}/api/mcp` are refused (API keys still work there, for their own tenant).', tests: [[`${ID}agent-tokens.test.ts`, 'refuses tokens at the shared endpoint in path tenancy'], [`${ID}agent-keys.test.ts`, 'refuses the key of a deactivated agent, even at the shared endpoint']] },
  { doc: 'enterprise', section: 'Tenancy', says: 'The tenant comes from the `Host` header, matched against the pattern (hosts outside it get `403`)', tests: [['core/host-tenancy.test.ts', 'refuses hosts outside the pattern (403)'], [`${ID}resource-metadata.test.ts`, "serves each tenant's metadata on its own host, points 401s at it, and accepts tokens only on that host"]] },
  { doc: 'enterprise', section: 'Tenancy', says: 'Everything said above about audiences holds per host.', tests: [[`${ID}resource-metadata.test.ts`, "serves each tenant's metadata on its own host, points 401s at it, and accepts tokens only on that host"], [`${ID}resource-metadata.test.ts`, 'refuses to boot in host tenancy without the engine option tenantHost']] },
  { doc: 'enterprise', section: 'Tenancy', says: 'Credentials of any other tenant are refused.', tests: [[`${ID}resource-metadata.test.ts`, "refuses other tenants\\' URLs and keys"], [`${ID}resource-metadata.test.ts`, 'serves the metadata and accepts tokens at the plain /api/mcp, with that URL as audience']] },
  { doc: 'enterprise', section: 'Tenancy', says: 'With a `basePath`, the metadata lives where RFC 9728 places it', tests: [[`${ID}resource-metadata-discovery.test.ts`, 'points the challenge at the origin-root well-known URL of RFC 9728 and serves it there (and under the base path)']] },
  { doc: 'enterprise', section: 'Tenancy', says: 'gets a `200` document with an empty `authorization_servers` list, so the challenge always leads somewhere', tests: [[`${ID}resource-metadata-discovery.test.ts`, 'answers 200 with an empty authorization_servers list, and the 401 challenge points there'], [DOC, 'tenant ids are lowercase slugs']] },
  { doc: 'enterprise', section: 'Tenancy', says: 'ordered by their `listOrder` (lower first, default 0), then oldest first', tests: [[`${ID}resource-metadata-discovery.test.ts`, 'are listed in the order the admin sets (listOrder, lower first), then oldest first'], [DOC, 'listOrder defaults to 0']] },
  { doc: 'enterprise', section: 'Tenancy', says: '`ClientCredentialsProvider` takes the **first**', tests: [[`${ID}resource-metadata-discovery.test.ts`, 'are listed in the order the admin sets']] },
  { doc: 'enterprise', section: 'Tenancy', says: 'Tenant ids are lowercase slugs: 1–63 letters, digits and inner hyphens.', tests: [[DOC, 'tenant ids are lowercase slugs of 1–63 letters, digits and inner hyphens'], [`${ID}resource-metadata.test.ts`, 'answers 404 JSON for an invalid tenant']] },
  // ## How an agent connects
  { doc: 'enterprise', section: 'How an agent connects', says: 'scope="mcp"`.', tests: [[`${ID}agent-tokens.test.ts`, 'refuses a token without credentials with a challenge pointing at the metadata']] },
  { doc: 'enterprise', section: 'How an agent connects', says: "The MCP TypeScript SDK's `ClientCredentialsProvider` (pass `expectedIssuer`) and the bundled connector do all of this.", tests: [[`${ID}agent-e2e.test.ts`, 'gets 401, follows the resource metadata to the IdP, obtains a token for the tenant resource and calls an allowed tool'], ['connector/ee/client-credentials.test.ts', 'discovers the IdP, gets a token for the tenant resource']] },
  // ## What Gatehouse checks in a token
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: "reads the token's `iss` only to pick the tenant's **active** IdP with exactly that issuer", tests: [[`${ID}agent-tokens.test.ts`, 'refuses an untrusted issuer'], [`${ID}agent-tokens.test.ts`, 'stops trusting a deactivated provider at once']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: 'or found by OpenID discovery at `{issuer}/.well-known/openid-configuration`', tests: [[`${ID}jwks-rotation.test.ts`, 'probes by OpenID discovery when no JWKS URL is configured'], [`${ID}agent-tokens.test.ts`, 'refuses a published kid with a forged signature'], [`${ID}agent-tokens.test.ts`, 'refuses a token signed with a key that is not published (unknown kid)']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: 'so a key the IdP corrects serves again without a restart', tests: [[`${ID}idp-outage-log.test.ts`, 'once the IdP publishes the key usable again, tokens pass and the end is logged once'], [`${ID}idp-outage-log.test.ts`, 'an unusable key the IdP stops publishing is over too']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: 'so an IdP outage costs one fetch per cooldown, not one per token', tests: [[`${ID}jwks-outage.test.ts`, 'one fetch per cooldown however many unknown-kid tokens arrive'], [`${ID}jwks-outage.test.ts`, 'keys fetched before the outage keep working']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: 'The log gets one warning per IdP when the outage starts', tests: [[`${ID}idp-outage-log.test.ts`, 'it logs its start once, a summary per interval, and its end'], [`${ID}idp-outage-log.test.ts`, 'a discovery outage: the start is logged once for the IdP']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: 'during an outage a token whose keys could not be fetched is answered with `503` and `Retry-After` (the seconds until the engine seeks the keys again, at least 1)', tests: [[`${ID}idp-outage-status.test.ts`, 'a valid token was answered 401 invalid_token while the IdP'], [`${ID}jwks-outage.test.ts`, 'a JWKS answering 500: one fetch per cooldown']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: 'the agent keeps it and retries (the bundled connector does)', tests: [[`${ID}idp-outage-status.test.ts`, 'and passes once the IdP is back'], ['connector/http-faults.test.ts', 'a 503 with Retry-After (the identity provider is down) is retried after the wait it asks']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: 'and the refusal is audited with that reason', tests: [[`${ID}idp-outage-status.test.ts`, 'it gets 503 with Retry-After, is audited']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: 'when its cache (`discoveryCacheTtlMs`) lapses during the outage, the last one read keeps serving', tests: [[`${ID}discovery-outage.test.ts`, 'the last discovered keys stay in use']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: 'A token whose `kid` is not among the kept keys gets the same `503` meanwhile', tests: [[`${ID}discovery-outage.test.ts`, 'a new kid gets 503'], [`${ID}jwks-outage.test.ts`, 'unknown kids during it are refused (503)']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: 'once the keys are fetched again, an unknown `kid` is a `401`', tests: [[`${ID}idp-outage-status.test.ts`, 'a key it does not publish'], [`${ID}jwks-rotation.test.ts`, 'refetches the keys once on an unknown kid, at most once per cooldown']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: 'An IdP that answers but is misconfigured is not an outage', tests: [[`${ID}idp-outage-status.test.ts`, 'a discovery document naming another issuer is an administrator'], [`${ID}hostile-tokens.test.ts`, 'a published key that cannot be imported']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: 'A published key that cannot be used is logged the same way', tests: [[`${ID}hostile-tokens.test.ts`, 'a published key that cannot be imported']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: '`none` and HMAC (`HS*`) are always refused', tests: [[`${ID}identity-stores.test.ts`, 'validates provider input field by field'], [`${ID}agent-tokens.test.ts`, 'refuses alg "none"'], [`${ID}agent-tokens.test.ts`, 'refuses HS256 signed with the provider']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: "`iss` equals the IdP's issuer", tests: [[`${ID}agent-tokens.test.ts`, 'refuses an untrusted issuer']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: 'the token is a strict compact JWS (three unpadded base64url segments)', tests: [[`${ID}token-profile.test.ts`, 'refuses padding, standard-base64 characters, extra or missing segments and stray characters'], [`${ID}token-profile.test.ts`, 'refuses whitespace inside the token']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: '`Authorization: Bearer` (never `X-API-Key`)', tests: [[`${ID}token-profile.test.ts`, 'refuses a JWT sent in X-API-Key, whatever its validity']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: '`sub`, `iat`, `exp` and `aud` present with the right types, `iat` not in the future', tests: [[`${ID}token-profile.test.ts`, 'refuses a token without sub even though the agent is named by client_id'], [`${ID}token-profile.test.ts`, 'refuses an empty or non-string sub'], [`${ID}token-profile.test.ts`, 'refuses a token without iat, and a non-numeric iat'], [`${ID}token-profile.test.ts`, 'refuses an iat in the future beyond the clock skew'], [`${ID}token-profile.test.ts`, 'refuses a token without exp, and a non-numeric exp'], [`${ID}token-profile.test.ts`, 'refuses a token without aud']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: 'no ID-token shape (`nonce`, `at_hash`, `c_hash`)', tests: [[`${ID}token-profile.test.ts`, 'refuses a token carrying nonce, at_hash or c_hash']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: '`aud` (a string, or an array of strings) contains the IdP\'s audience', tests: [[`${ID}agent-tokens.test.ts`, 'accepts an audience array containing the resource'], [`${ID}agent-tokens.test.ts`, 'refuses a token for another audience']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: 'dot-segments, userinfo, a query, a fragment or repeated slashes name another resource', tests: [[`${ID}token-profile.test.ts`, 'normalises only scheme and host case and one trailing slash'], [`${ID}token-profile.test.ts`, 'treats dot-segments, userinfo, fragments, repeated slashes and queries as another resource'], [`${ID}agent-tokens.test.ts`, 'accepts an audience that differs only in host case and a trailing slash']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: "`exp` is present and not past, `nbf` not in the future, both with the IdP's clock skew (default 60 s, at most 300 s)", tests: [[`${ID}agent-tokens.test.ts`, 'refuses an expired token, and one not yet valid'], [`${ID}agent-tokens.test.ts`, 'tolerates the configured clock skew'], [`${ID}agent-tokens.test.ts`, 'refuses a token without expiry'], [DOC, 'clockSkewSeconds defaults to 60 and is at most 300']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: '`exp`, `nbf` and `iat` are times a token can carry: seconds since 1970 (fractions allowed), no later than 9999-12-31T23:59:59Z', tests: [[`${ID}time-claims.test.ts`, 'exp 1e308 was accepted'], [`${ID}time-claims.test.ts`, 'a negative nbf or iat was accepted'], [`${ID}time-claims.test.ts`, 'in-range times are accepted: fractional seconds']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: "the header `typ` is `JWT` or `at+jwt` (or absent); with the IdP's token type set to `at+jwt` (strict, RFC 9068), only `at+jwt`", tests: [[`${ID}agent-tokens.test.ts`, 'accepts typ JWT, at+jwt, application/at+jwt and no typ by default'], [`${ID}agent-tokens.test.ts`, 'enforces at+jwt in strict mode'], [`${ID}agent-tokens.test.ts`, 'refuses a token type that is not an access token']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: 'names an **active agent** of this tenant bound to (issuer, subject value)', tests: [[`${ID}agent-tokens.test.ts`, 'refuses a token whose subject is not bound to an agent'], [`${ID}agent-tokens.test.ts`, 'stops a deactivated agent at once, and lets it back in on reactivation']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: 'Every refusal is a `401` with `error="invalid_token"`, a specific description', tests: [[`${ID}token-profile.test.ts`, 'issuer, type, signature, lifetime and agent binding'], [`${ID}token-profile.test.ts`, 'an IdP in RFC 9068 mode accepts at+jwt only']] },
  { doc: 'enterprise', section: 'What Gatehouse checks in a token', says: "is counted in the tenant's audit trail (one row per source address and reason per minute", tests: [[`${GOV}auth-failure-flood.test.ts`, 'one row per tenant, source and reason per window, with a count'], [`${ID}agent-e2e.test.ts`, 'audits a refused token in the tenant whose URL was called'], ['ee/docs-claims.test.ts', "the documented defaults of the hardening options are the code\\'s"]] },
  // ## Registering an IdP and an agent
  { doc: 'enterprise', section: 'Registering an IdP and an agent', says: 'With the admin API (an API key with scope `admin`, or the host\'s admin authenticator), per tenant', tests: [[`${GOV}admin-api.test.ts`, 'answers 401 without a credential and 403 (JSON) to a non-admin credential'], [`${GOV}admin-api.test.ts`, 'accepts the host admin authenticator']] },
  { doc: 'enterprise', section: 'Registering an IdP and an agent', says: 'runs discovery and fetches the JWKS, reporting the key ids found or the error', tests: [[`${GOV}admin-api.test.ts`, 'manages an IdP: create from preset, test discovery + JWKS'], [`${ID}jwks-rotation.test.ts`, 'probes by OpenID discovery when no JWKS URL is configured, and reports an unreachable provider']] },
  { doc: 'enterprise', section: 'Registering an IdP and an agent', says: 'the error names both issuers and the likely fix', tests: [[`${ID}issuer-mismatch.test.ts`, "the test, the log and the agent\\'s 401 name both issuers and the fix"], [`${ID}issuer-mismatch.test.ts`, 'a Keycloak realm whose issuer carries the legacy /auth path'], [`${ID}issuer-mismatch.test.ts`, 'refused by the OpenID client itself']] },
  { doc: 'enterprise', section: 'Registering an IdP and an agent', says: 'can tell the failures apart with `instanceof`', tests: [[`${ID}issuer-mismatch.test.ts`, 'the same clear error, a KeySourceError'], [`${ID}hostile-tokens.test.ts`, 'the unusable published key is an UnusableKeyError, exported from the EE entry'], [`${GOV}outbound-requests.test.ts`, 'its cause is an OutboundRefusedError, exported from the EE entry'], ['ee/docs-claims.test.ts', 'every error class the Enterprise code throws to a host is exported from the EE entry']] },
  { doc: 'enterprise', section: 'Registering an IdP and an agent', says: "| `audience` | the `aud` tokens must carry | the tenant's canonical MCP URL |", tests: [[`${ID}identity-stores.test.ts`, 'defaults the audience to the tenant']] },
  { doc: 'enterprise', section: 'Registering an IdP and an agent', says: '| `listOrder` | position in the tenant\'s resource metadata, lower first (0–1000) | 0 |', tests: [[DOC, 'listOrder defaults to 0 and runs from 0 to 1000']] },
  { doc: 'enterprise', section: 'Registering an IdP and an agent', says: '| `custom` | `sub` | `RS256`, `PS256`, `ES256` |', tests: [['ee/docs-claims.test.ts', 'the preset defaults table is what the presets resolve to']] },
  { doc: 'enterprise', section: 'Registering an IdP and an agent', says: 'A tenant trusts an issuer at most once.', tests: [[`${ID}identity-stores.test.ts`, 'refuses a second provider with the same issuer in a tenant, not across tenants']] },
  { doc: 'enterprise', section: 'Registering an IdP and an agent', says: 'a second **active** agent with the same binding in the tenant is refused (`409`)', tests: [[`${ID}identity-stores.test.ts`, 'refuses a second active agent with the same binding'], [`${GOV}admin-api.test.ts`, 'validates input: 400 with field errors, 404 for unknown ids, 409 for conflicts']] },
  { doc: 'enterprise', section: 'Registering an IdP and an agent', says: 'An IdP that agents are bound to cannot be deleted (`409`); deactivate it instead, which stops its tokens at once.', tests: [[`${ID}identity-stores.test.ts`, 'refuses to delete a provider that agents use'], [`${GOV}admin-api.test.ts`, 'manages an IdP'], [`${ID}agent-tokens.test.ts`, 'stops trusting a deactivated provider at once']] },
  { doc: 'enterprise', section: 'Registering an IdP and an agent', says: 'IdP URLs must be `https` (plain `http` is accepted only on a loopback host, for development).', tests: [[DOC, 'IdP URLs must be https; plain http is accepted on a loopback host only'], [`${ID}identity-stores.test.ts`, 'validates provider input field by field']] },
  // ## Microsoft Entra ID
  { doc: 'enterprise', section: 'Microsoft Entra ID', says: 'never `common`, `organizations` or `consumers` (refused: they would trust every Microsoft directory)', tests: [[`${ID}idp-claims.test.ts`, 'refuses the Entra multi-tenant endpoints and a non-GUID directory']] },
  { doc: 'enterprise', section: 'Microsoft Entra ID', says: '`v2` (issuer `https://login.microsoftonline.com/<tid>/v2.0`, agent named by `azp`) or `v1` (issuer `https://sts.windows.net/<tid>/`, agent named by `appid`)', tests: [[`${ID}idp-claims.test.ts`, 'Microsoft Entra v2: issuer from the directory id, agent named by azp, audience = the API application id URI'], [`${ID}idp-claims.test.ts`, 'Microsoft Entra v1: sts.windows.net issuer, agent named by appid']] },
  { doc: 'enterprise', section: 'Microsoft Entra ID', says: 'Keys are fetched from `https://login.microsoftonline.com/<tid>/discovery/v2.0/keys`.', tests: [[`${ID}identity-stores.test.ts`, 'resolves each preset to its issuer and subject claim']] },
  { doc: 'enterprise', section: 'Microsoft Entra ID', says: '(`subjectClaim: "oid"` binds to the service principal\'s object id instead.)', tests: [[DOC, 'an Entra provider with subjectClaim oid names the agent by the service principal']] },
  // ## Keycloak
  { doc: 'enterprise', section: 'Keycloak', says: 'Client-credentials tokens carry the client id in `azp`', tests: [[`${ID}idp-claims.test.ts`, 'Keycloak: realm URL as issuer, agent named by azp, audience added by a mapper next to "account"']] },
  { doc: 'enterprise', section: 'Keycloak', says: 'Keys are found by discovery at\n`{realmUrl}/.well-known/openid-configuration`.', tests: [[`${ID}identity-stores.test.ts`, 'resolves each preset to its issuer and subject claim']] },
  // ## Google
  { doc: 'enterprise', section: 'Google', says: 'issuer `https://accounts.google.com`, `sub` = the service account\'s numeric unique id', tests: [[`${ID}idp-claims.test.ts`, 'Google: accounts.google.com issuer']] },
  { doc: 'enterprise', section: 'Google', says: 'the `google` kind is the one provider for which the ID-token shape check', tests: [[`${ID}token-profile.test.ts`, 'Google ID tokens with at_hash are accepted by the Google preset only (its documented relaxation)']] },
  { doc: 'enterprise', section: 'Google', says: 'Keys come from `https://www.googleapis.com/oauth2/v3/certs`; algorithm RS256.', tests: [[`${ID}identity-stores.test.ts`, 'resolves each preset to its issuer and subject claim'], ['ee/docs-claims.test.ts', 'the preset defaults table is what the presets resolve to']] },
  // ## Any other OpenID provider (custom)
  { doc: 'enterprise', section: 'Any other OpenID provider (custom)', says: '| `subjectClaim` | the claim carrying the client: `client_id` (RFC 9068)', tests: [[`${ID}agent-e2e.test.ts`, 'gets 401, follows the resource metadata to the IdP'], [`${ID}agent-tokens.test.ts`, 'accepts a client-credentials token for the tenant resource and names the agent']] },
  { doc: 'enterprise', section: 'Any other OpenID provider (custom)', says: '| `jwksUri` | only if discovery at `{issuer}/.well-known/openid-configuration` is not available |', tests: [[`${ID}jwks-rotation.test.ts`, 'refuses tokens with a clear reason when the configured JWKS is unreachable'], [`${ID}jwks-rotation.test.ts`, 'probes by OpenID discovery when no JWKS URL is configured']] },
  { doc: 'enterprise', section: 'Any other OpenID provider (custom)', says: '| `tokenType` | `at+jwt` if the IdP issues RFC 9068 tokens and you want to refuse anything else |', tests: [[`${ID}agent-tokens.test.ts`, 'enforces at+jwt in strict mode']] },
  // ## Agent API keys
  { doc: 'enterprise', section: 'Agent API keys', says: 'sent as `Authorization: Bearer ghk_…` or `X-API-Key: ghk_…`', tests: [[`${ID}agent-keys.test.ts`, 'authenticates an agent key as its agent, by Bearer and by X-API-Key']] },
  { doc: 'enterprise', section: 'Agent API keys', says: 'stop working when revoked, when the agent is deactivated or deleted, or when they expire', tests: [[`${ID}agent-keys.test.ts`, 'refuses a revoked agent key at once'], [`${ID}agent-keys.test.ts`, 'refuses the key of a deactivated agent'], [DOC, 'an agent key stops working when its agent is deleted'], [DOC, 'an agent key stops working when it expires']] },
  { doc: 'enterprise', section: 'Agent API keys', says: 'Keys with scope `admin` authenticate the admin API', tests: [[`${ID}agent-keys.test.ts`, 'authenticates an admin key as an admin principal and a tenant key as a tenant key'], [`${GOV}rbac.test.ts`, 'does not let an admin credential call tools']] },
  { doc: 'enterprise', section: 'Agent API keys', says: "authenticate but may call no tool, unless the edition is configured with `rbac: { tenantKeys: 'allow' }`", tests: [[`${GOV}rbac.test.ts`, 'gives a plain tenant key (scope mcp, no agent) no tools by default'], [`${GOV}rbac.test.ts`, 'lets plain tenant keys call every tool only when the edition is configured with rbac.tenantKeys']] },
  // ## Revocation delay
  { doc: 'enterprise', section: 'Revocation delay', says: "`credentialCacheTtlMs` (default **30 seconds**), never beyond a token's own expiry", tests: [['ee/docs-claims.test.ts', 'the cache and session lifetimes the docs state are the code'], [DOC, 'a verified token is cached “never beyond a token’s own expiry”']] },
  { doc: 'enterprise', section: 'Revocation delay', says: 'takes effect on that instance **at once**; on other instances within that delay', tests: [[`${ID}revocation-delay.test.ts`, 'stops a deactivated agent at once where it was deactivated, and within the cache lifetime on other instances'], [`${ID}revocation-delay.test.ts`, 'within a second on other instances despite their cache']] },
  { doc: 'enterprise', section: 'Revocation delay', says: 'a key revoked on another instance stops within that delay', tests: [['core/change-feed.test.ts', 'a key revoked on one instance is refused by the other within a second'], ['core/change-feed.test.ts', 'serves on its cache time-to-live and says so in health'], ['core/api-key-auth.test.ts', 'a key that expires while cached stops working when it expires']] },
  { doc: 'enterprise', section: 'Revocation delay', says: 'Role changes apply to the next call', tests: [[`${GOV}rbac.test.ts`, 'applies a role change to the next call without reconnecting']] },
  { doc: 'enterprise', section: 'Revocation delay', says: "the admin API's `lastSeenAt` also counts calls this instance has seen but not yet written", tests: [[`${ID}identity-stores.test.ts`, 'records when an agent was last seen, off the request path'], [`${UI}admin-agents.test.ts`, 'shows "last seen" seconds after a call, before the batched write']] },
  // ## Quotas and rate limits (mapped at landing time; its authors keep the rest of the section's sentences mapped)
  { doc: 'enterprise', section: 'Quotas and rate limits', says: 'A call over a limit is not run. The caller gets HTTP **429** with `Retry-After` (seconds)', tests: [[`${GOV}limits.test.ts`, 'lets exactly N calls through on one instance, then refuses with 429, Retry-After and the limit in a JSON-RPC error'], [`${GOV}limits.test.ts`, 'lets calls through again once the window is over']] },
  { doc: 'enterprise', section: 'Quotas and rate limits', says: 'not a budget the holders share', tests: [[`${GOV}limits.test.ts`, 'gives each holder of a role its own count'], [`${GOV}limits.test.ts`, 'shares a tenant limit among the tenant']] },
  { doc: 'enterprise', section: 'Setting limits', says: "an agent's panel also shows what applies to it from its roles and the tenant", tests: [[`${UI}admin-limits.test.ts`, 'sets a limit on a role that each holder gets, shown on the holder'], [`${GOV}limits.test.ts`, 'validates limits, refuses a second limit for the same target and window, and audits every change']] },
  { doc: 'enterprise', section: 'How the count holds across instances', says: 'Each instance **leases budget in blocks**', tests: [[`${GOV}limits.test.ts`, 'lets at most 100 calls through a limit of 100 a minute, sent to three instances at once'], [`${GOV}limits.test.ts`, 'spends no database round trip on at least 95 % of metered calls']] },
  { doc: 'enterprise', section: 'When the database is down', says: 'once per minute for each kind of failure however often it repeats', tests: [[`${GOV}limit-failures-logged.test.ts`, 'each is logged once per interval'], [`${GOV}limit-failures-logged.test.ts`, 'the failure is logged, and the limits read last stay in force']] },
  { doc: 'enterprise', section: 'When the database is down', says: 'Limits **fail closed**.', tests: [[`${GOV}limits.test.ts`, 'spends the budget an instance already holds, then refuses with 503 rather than run calls uncounted']] },
  { doc: 'enterprise', section: 'Limits', says: 'Each\nlimit shows its use in the current window', tests: [[`${UI}admin-limits.test.ts`, 'sets a limit on an agent, shows its use grow as the agent calls, and the limit refuses the call over it']] },
  // ## Admin API reference
  { doc: 'enterprise', section: 'Admin API reference', says: 'the same paths also answer under `/t/<tenant>/…`, where a credential of another tenant is refused', tests: [[`${GOV}tenant-isolation.test.ts`, "never shows, changes or deletes another tenant's objects through any admin endpoint"], [DOC, 'an admin credential is refused under another tenant’s /t/ path']] },
  { doc: 'enterprise', section: 'Admin API reference', says: 'answers JSON only, and validates its input: `400` with `error.details: [{ field, message }]`, `404` for unknown ids (including other tenants\' ids), `409` for conflicts.', tests: [[`${GOV}admin-hostile-input.test.ts`, 'answers 415 to a body that is not JSON'], [`${GOV}admin-api.test.ts`, 'validates input: 400 with field errors, 404 for unknown ids, 409 for conflicts'], [`${GOV}tenant-isolation.test.ts`, "never shows, changes or deletes another tenant's objects"]] },
  { doc: 'enterprise', section: 'Admin API reference', says: 'all of a PATCH or none of it', tests: [[`${GOV}admin-api-hardening.test.ts`, 'a role deleted while it is assigned with other changes: 400, and the other changes are not made either (the name was changed, unaudited)'], [`${GOV}admin-api-hardening.test.ts`, 'a binding taken by another agent, sent with roles: 409 naming the holder, and neither the roles nor the other fields change']] },
  { doc: 'enterprise', section: 'Admin API reference', says: 'No credential → `401`; a credential without `admin` → `403`.', tests: [[`${GOV}admin-api.test.ts`, 'answers 401 without a credential and 403 (JSON) to a non-admin credential']] },
  { doc: 'enterprise', section: 'Admin API reference', says: 'The `401` challenges for an admin credential: `WWW-Authenticate: Bearer realm="gatehouse", scope="admin"`', tests: [[`${GOV}admin-api-hardening.test.ts`, "challenges for an admin credential, not with the MCP endpoint's scope and resource metadata"], [`${GOV}admin-api-hardening.test.ts`, 'names the error of a credential that was refused, with the admin scope']] },
  { doc: 'enterprise', section: 'Admin API reference', says: 'A field sent as JSON `null` is refused with `400` on that field', tests: [[`${GOV}admin-api-hardening.test.ts`, 'is a 400 naming the field, on every field of every admin write route'], [`${GOV}admin-api-hardening.test.ts`, "never clears a role's permissions"]] },
  { doc: 'enterprise', section: 'Admin API reference', says: '`"idpId": null` with `"subject": null` unbinds the agent', tests: [[`${GOV}admin-api-hardening.test.ts`, "is an explicit clear where documented: an agent's identity provider binding"]] },
  { doc: 'enterprise', section: 'Admin API reference', says: 'A value of the wrong JSON type gets one error saying the type the field takes', tests: [[`${GOV}admin-api-hardening.test.ts`, 'is reported once, as its type only, without length or range checks'], [`${GOV}admin-api-hardening.test.ts`, 'says which type the field takes']] },
  { doc: 'enterprise', section: 'Admin API reference', says: 'Each field gets one error: a value of the right type but the wrong size gets its size error alone', tests: [[`${GOV}admin-api-hardening.test.ts`, 'an approval webhook URL over 2,000 characters gets one message'], [`${GOV}admin-api-hardening.test.ts`, 'every URL field of an identity provider over 2,000 characters gets one message']] },
  { doc: 'enterprise', section: 'Admin API reference', says: 'Ids are UUIDs and are read in any case', tests: [[`${GOV}admin-api-hardening.test.ts`, "PATCH an agent's roleIds with a role id in upper case answers 200 with the role"], [`${GOV}admin-api-hardening.test.ts`, 'address the same object as in lower case on every route that takes an id in its path, body or query']] },
  { doc: 'enterprise', section: 'Admin API reference', says: 'An object deleted while a change to it waits for it is answered as if it had been gone already', tests: [[`${GOV}admin-api-hardening.test.ts`, 'an agent deleted while its roles are being changed: the PATCH answers 404'], [`${GOV}admin-api-hardening.test.ts`, 'an identity provider deleted while an agent is being bound to it'], [`${GOV}admin-api-hardening.test.ts`, 'an agent deleted while a key is issued to it or a limit set on it'], [`${GOV}admin-api-hardening.test.ts`, 'a role deleted while it is being assigned']] },
  { doc: 'enterprise', section: 'Admin API reference', says: 'a parameter the endpoint does not take (`?bogus=1`), or one given more than once (`?limit=5&limit=6`), is a `400` naming it', tests: [[`${GOV}admin-api-hardening.test.ts`, 'an unknown parameter is a 400 naming it, on every admin GET route'], [`${GOV}admin-api-hardening.test.ts`, 'a parameter given twice is a 400 naming it'], [`${GOV}admin-api-hardening.test.ts`, 'every parameter the admin UI sends is accepted by the route it calls']] },
  { doc: 'enterprise', section: 'Admin API reference', says: 'Every change is recorded in the audit trail (decision `admin`: who, which object, what changed).', tests: [[`${GOV}admin-api.test.ts`, 'records every admin change with the admin, the object and what changed']] },
  { doc: 'enterprise', section: 'Admin API reference', says: 'delete (refused with `409` while agents use it)', tests: [[`${GOV}admin-api.test.ts`, 'manages an IdP: create from preset, test discovery + JWKS, deactivate, activate, update, delete']] },
  { doc: 'enterprise', section: 'Admin API reference', says: 'delete (its audit rows stay)', tests: [[`${GOV}admin-api.test.ts`, 'manages agents: roles, deactivate/reactivate, keys shown once and revoked, delete keeps the audit trail']] },
  { doc: 'enterprise', section: 'Admin API reference', says: '`tickets:delete+approval` grants only with approval', tests: [[`${GOV}rbac.test.ts`, 'matches exact permissions, resource wildcards and the global wildcard'], [`${GOV}approvals.test.ts`, 'shows a role grant that needs approval as "allowed with approval" in the access check']] },
  { doc: 'enterprise', section: 'Admin API reference', says: 'events, newest first; filters `agent`, `tool`, `target`, `action`, `decision`, `outcome`, `from`, `to` (ISO 8601); `limit` ≤ 500; `cursor` from `nextCursor`', tests: [[`${GOV}audit-api.test.ts`, 'pages newest first by cursor without gaps or repeats, up to 500 per page'], [`${GOV}audit-api.test.ts`, 'filters by agent, tool, decision, outcome and time'], [`${GOV}admin-hostile-input.test.ts`, 'malformed and forged cursors are field errors']] },
  { doc: 'enterprise', section: 'Admin API reference', says: 'the same filters, streamed with bounded memory', tests: [[`${GOV}audit-api.test.ts`, 'exports CSV as a streamed attachment'], [`${GOV}audit-api.test.ts`, 'exports JSON Lines with the same filters'], [`${GOV}audit-export-failure.test.ts`, 'filters that would fail are refused with 400 before streaming starts']] },
  { doc: 'enterprise', section: 'Admin API reference', says: 'every tool, whether the agent may call it (`approvalRequired` when only with approval), and why not', tests: [[`${GOV}rbac.test.ts`, 'explains per tool what an agent may call in the access check'], [`${GOV}approvals.test.ts`, 'shows a role grant that needs approval as "allowed with approval" in the access check']] },
  { doc: 'enterprise', section: 'Admin API reference', says: '`attributes` (facts [policies](policies.md) read)', tests: [[`${GOV}policies.test.ts`, 'reads the attributes the admin sets on the agent']] },
  { doc: 'enterprise', section: 'Admin API reference', says: 'would this exact call (arguments, time, address, credential) be allowed, held or refused, and which stage or policy decided', tests: [[`${GOV}policies.test.ts`, 'applies time windows: in real calls (the instant) and in the simulator (hour and weekday)']] },
  { doc: 'enterprise', section: 'Admin API reference', says: "the tenant's Cedar policies: conditions on the call that refuse it or require approval", tests: [[`${GOV}policies.test.ts`, 'refuses a call whose argument passes a numeric bound'], [`${GOV}policies.test.ts`, 'holds a call for approval when a policy requires it'], [`${GOV}policies.test.ts`, 'versions every change, keeps the history with diffs'], [`${GOV}policies.test.ts`, 'refuses an invalid policy at save time'], [`${GOV}policies.test.ts`, 'serves the generated schema']] },
  { doc: 'enterprise', section: 'Admin API reference', says: '`403` for your own call, `409` when no longer pending', tests: [[`${GOV}approvals.test.ts`, 'never lets an approver approve a call made with their own credentials'], [`${GOV}approvals.test.ts`, 'holds the call, and runs the identical retry once after approval']] },
  { doc: 'enterprise', section: 'Admin API reference', says: "the tenant's signed webhook for new requests (secret returned once); send a test event", tests: [[`${GOV}approvals.test.ts`, 'posts each new request to the tenant webhook, signed, retried after a failure'], [`${UI}approvals-page.test.ts`, 'sets the webhook and sends a test event from the page']] },
  { doc: 'enterprise', section: 'Admin API reference', says: 'for any credential: the tools and operations the caller may use, with their permissions', tests: [[`${GOV}rbac.test.ts`, 'lists in the registry only what the agent may use, each with its permission']] },
  // ## The admin UI
  { doc: 'enterprise', section: 'The admin UI', says: 'The Enterprise plugin serves a web admin at\n`/admin` under the host\'s base path', tests: [[`${UI}admin-sessions.test.ts`, 'sets Secure and the base path on the cookie under https'], [`${UI}admin-journey.test.ts`, 'sign in → IdP → role → agent']] },
  { doc: 'enterprise', section: 'The admin UI', says: 'Until it\nis built, `/admin` answers 503 saying so. Nothing is loaded from elsewhere at run time.', tests: [['packages/engine-tarball.test.ts', 'the admin UI answers 503 saying how to build it while dist-ui is missing'], [`${GOV}admin-ui-http.test.ts`, 'serves the page and its assets with a strict CSP']] },
  { doc: 'enterprise', section: 'The admin UI', says: 'the same tenant\nisolation, validation, audit of admin changes and 503 back-pressure apply', tests: [[`${UI}admin-journey.test.ts`, 'sign in → IdP → role → agent → allowed and denied calls → audit and CSV export'], [`${GOV}audit-durability.test.ts`, 'keeps every accepted event through a database outage and refuses calls (503) past the bound']] },
  // ### Signing in
  { doc: 'enterprise', section: 'Signing in', says: 'an admin it accepts is signed in on opening `/admin`, in the tenant it names', tests: [[`${UI}admin-sessions.test.ts`, 'signs the host’s admin in without a key, in the host’s tenant']] },
  { doc: 'enterprise', section: 'Signing in', says: 'A key without the `admin` scope is refused on the form with a message saying so; a wrong,\nrevoked or expired key likewise.', tests: [[`${UI}admin-security.test.ts`, 'refuses a non-admin key on the sign-in form with a clear message, and a wrong key too'], [DOC, 'a revoked or expired admin key is refused at sign-in, saying why']] },
  { doc: 'enterprise', section: 'Signing in', says: '`HttpOnly; SameSite=Strict;\nPath=<base>/` and `Secure` when the public URL is https', tests: [[`${GOV}admin-ui-http.test.ts`, 'signs in to an HttpOnly, SameSite=Strict cookie without Secure on plain http, never echoing the key'], [`${UI}admin-sessions.test.ts`, 'sets Secure and the base path on the cookie under https']] },
  { doc: 'enterprise', section: 'Signing in', says: 'It ends after 30 minutes unused or 8 hours\nin all, on sign-out, and as soon as the admin key it was opened with is revoked.', tests: [[`${UI}admin-sessions.test.ts`, 'end after the idle time and after the lifetime'], [`${GOV}admin-ui-http.test.ts`, 'signing out ends the session'], [`${UI}admin-sessions.test.ts`, 'end at once when the admin key behind them is revoked through the engine'], ['ee/docs-claims.test.ts', 'the cache and session lifetimes the docs state are the code']] },
  { doc: 'enterprise', section: 'Signing in', says: 'Sessions are kept\nin the database (only a hash of the id), so they outlive a restart and every instance behind a load\nbalancer knows them.', tests: [[`${UI}admin-sessions.test.ts`, 'keep only a hash of the session id in the database, and are known to another instance reading it']] },
  { doc: 'enterprise', section: 'Signing in', says: 'a change that\npresents the cookie without the token is refused with 403', tests: [[`${GOV}admin-ui-http.test.ts`, 'a change made with the session cookie but without the CSRF token is 403'], [`${UI}admin-security.test.ts`, 'refuses a change made with the session cookie but without the CSRF token (403)']] },
  { doc: 'enterprise', section: 'Signing in', says: 'A request with an `Authorization`\nheader is authenticated by that header alone', tests: [[`${UI}admin-sessions.test.ts`, 'end after the idle time and after the lifetime, and are bound to their CSRF token']] },
  { doc: 'enterprise', section: 'Signing in', says: "`X-Content-Type-Options: nosniff` and `Referrer-Policy: no-referrer`", tests: [[`${GOV}admin-ui-http.test.ts`, 'serves the page and its assets with a strict CSP, no framing, nosniff and no referrer']] },
  { doc: 'enterprise', section: 'Signing in', says: 'Every value shown (agent names included) is rendered as text.', tests: [[`${UI}admin-security.test.ts`, 'renders an agent named like markup as text']] },
  // ### Onboarding an agent
  { doc: 'enterprise', section: 'Onboarding an agent', says: 'An agent without a role can call nothing.', tests: [[`${GOV}rbac.test.ts`, 'denies everything to an agent without roles, and lists no tools']] },
  { doc: 'enterprise', section: 'Onboarding an agent', says: 'the **connector command**', tests: [[`${UI}admin-onboarding.test.ts`, 'adds the IdP, creates the agent, hands over URL, token request and connector command, and turns green on the first call'], [`${UI}admin-onboarding.test.ts`, 'hands over a connector command with its new API key that works']] },
  { doc: 'enterprise', section: 'Onboarding an agent', says: 'checks every field at once', tests: [[`${UI}admin-forms.test.ts`, 'shows an empty name and the Entra "common" directory together, before saving']] },
  // ### Identity providers
  { doc: 'enterprise', section: 'Identity providers', says: '**Edit**, **Deactivate**/**Activate** and **Delete** (after a confirmation) act on\nthe provider.', tests: [[`${UI}admin-pages.test.ts`, 'edits, deactivates and deletes an identity provider, deletion only after confirmation']] },
  { doc: 'enterprise', section: 'Identity providers', says: 'Every problem of the form is shown at once, next to its field, in plain words.', tests: [[`${UI}admin-forms.test.ts`, 'the API reports every field of an invalid provider at once, in words for people'], [`${UI}admin-forms.test.ts`, 'catches a Keycloak URL without /realms/<name> and an issuer with the wrong trailing slash']] },
  { doc: 'enterprise', section: 'Identity providers', says: 'A second provider with the same issuer is shown at the issuer field.', tests: [[`${UI}admin-forms.test.ts`, 'the API reports every field of an invalid provider at once'], [`${ID}identity-stores.test.ts`, 'refuses a second provider with the same issuer in a tenant']] },
  // ### Agents
  { doc: 'enterprise', section: 'Agents', says: 'its identity provider is deactivated or gone', tests: [[`${UI}admin-agents.test.ts`, 'shows an agent bound to a deactivated identity provider as blocked, saying why']] },
  { doc: 'enterprise', section: 'Agents', says: 'an API key has expired or expires within 14 days; it has no role', tests: [[`${UI}admin-agents.test.ts`, 'says an agent without roles can call nothing, and calls out keys expired or expiring within 14 days']] },
  { doc: 'enterprise', section: 'Agents', says: 'which includes calls not yet written to the database', tests: [[`${UI}admin-agents.test.ts`, 'shows "last seen" seconds after a call, before the batched write']] },
  { doc: 'enterprise', section: 'Agents', says: 'The list refreshes\nitself every 15 seconds.', tests: [[`${UI}admin-agents.test.ts`, 'refreshes the list by itself every 15 seconds']] },
  { doc: 'enterprise', section: 'Agents', says: 'a second active agent with the same identity is refused at the\nidentifier field, naming the agent that has it', tests: [[`${UI}admin-forms.test.ts`, 'shows a second agent with the same binding at the identifier field, naming the agent that has it']] },
  { doc: 'enterprise', section: 'Agents', says: '**Rotate** issues a new key with\nthe same lifetime next to the old one', tests: [[`${UI}admin-agents.test.ts`, 'rotates a key: the new key and the old both work until the old one is revoked']] },
  { doc: 'enterprise', section: 'Agents', says: 'Tick several agents and **Deactivate selected** to stop them together.', tests: [[`${UI}admin-agents.test.ts`, 'deactivates several agents at once']] },
  { doc: 'enterprise', section: 'Agents', says: 'its secret is shown once, with a copy button', tests: [[`${UI}admin-pages.test.ts`, 'issues an agent key shown once with a copy button, and revokes it']] },
  // ### Roles
  { doc: 'enterprise', section: 'Roles', says: 'takes wildcard patterns such as `tickets:*` or `*` as free text', tests: [[`${UI}admin-pages.test.ts`, 'shows a role’s invalid wildcard next to its field and saves a valid one']] },
  // ### Audit
  { doc: 'enterprise', section: 'Audit', says: 'Each row is a sentence', tests: [[`${UI}admin-audit.test.ts`, 'reads admin changes and calls as sentences naming who, what and the object']] },
  { doc: 'enterprise', section: 'Audit', says: 'signing in to and out of the admin UI\nare separate events', tests: [[`${UI}admin-audit.test.ts`, 'tells admin sign-in and sign-out apart']] },
  { doc: 'enterprise', section: 'Audit', says: 'paged on the server with the API\'s cursor', tests: [[`${UI}admin-pages.test.ts`, 'pages through the audit trail with the API cursor and opens one event']] },
  { doc: 'enterprise', section: 'Audit', says: 'only the fields it\nhas', tests: [[`${UI}admin-audit.test.ts`, 'shows only the fields an event has, and links to the object concerned']] },
  { doc: 'enterprise', section: 'Audit', says: '**CSV** and **JSON Lines** download the\nexport of the current filter.', tests: [[`${UI}admin-journey.test.ts`, 'audit and CSV export']] },
  // ### Policies (mapped at landing time; its authors keep the rest of the section's sentences mapped)
  { doc: 'enterprise', section: 'Policies', says: 'a switch that enables or disables it at once', tests: [[`${UI}policies-page.test.ts`, 'disables and re-enables a policy from the list (the simulator follows), and shows each change in the history with its diff']] },
  { doc: 'enterprise', section: 'Policies', says: 'A policy that failed when it was last evaluated is shown at the top of the page with the error', tests: [[`${UI}policies-page.test.ts`, 'shows a policy that fails at run time: the simulator lists the error, the Policies page shows it on top and on the policy'], [`${GOV}policies.test.ts`, 'fails closed when a policy errs at run time']] },
  { doc: 'enterprise', section: 'Policies', says: 'checks the text against the schema generated from the tools as you type', tests: [[`${UI}policies-page.test.ts`, 'writes a policy, sees the validator’s error inline, fixes and saves it, and the simulator shows that policy decide']] },
  // ### Approvals
  { doc: 'enterprise', section: 'Approvals', says: 'Approve or deny with a reason', tests: [[`${UI}approvals-page.test.ts`, 'approves it with a reason, and the retry runs once'], [`${UI}approvals-page.test.ts`, 'asks for a reason before denying, and shows the denial']] },
  // ### Access check
  { doc: 'enterprise', section: 'Access check', says: 'the missing permission, the agent being inactive, or its identity provider being inactive\nwith no API key to fall back on', tests: [[`${UI}admin-pages.test.ts`, 'explains in the access check why an agent may not call a tool'], [`${GOV}rbac.test.ts`, 'explains per tool what an agent may call in the access check']] },
  { doc: 'enterprise', section: 'Access check', says: 'Every page works by keyboard alone, and at 1280, 800 and 390 px wide.', tests: [[`${UI}admin-accessibility.test.ts`, 'is operable by keyboard: sign in, move between pages, open an audit event'], [`${UI}admin-accessibility.test.ts`, 'has no serious or critical violation on any page at'], [`${UI}admin-pages.test.ts`, 'fits a narrow window']] },
  // docs/security.md: the hardening statements
  { doc: 'security', section: 'Access-token profile', says: '### Access-token profile', tests: [['ee/docs-claims.test.ts', 'every error of the access-token profile table is produced by the code and asserted by a test']] },
  { doc: 'security', section: 'Authentication failures in the trail', says: 'A key of one tenant presented at another tenant\'s URL is recorded in both', tests: [['ee/identity/agent-keys.test.ts', "never shows another tenant's URL in the trail of a revoked key's tenant"], ['ee/identity/agent-keys.test.ts', "refuses another tenant's agent key at a tenant URL"]] },
  { doc: 'security', section: 'Authentication failures in the trail', says: '### Authentication failures in the trail', tests: [[`${GOV}auth-failure-flood.test.ts`, '10,000 garbage tokens from one address against an existing and a missing tenant add a few dozen rows'], [`${GOV}auth-failure-flood.test.ts`, 'one row per tenant, source and reason per window'], ['ee/docs-claims.test.ts', "the documented defaults of the hardening options are the code\\'s"]] },
  { doc: 'security', section: 'Redaction', says: '## Redaction', tests: [[`${GOV}redaction-in-text.test.ts`, 'masks secrets inside longer strings at any depth, keeps the rest, and digests the original'], ['ee/docs-claims.test.ts', 'the redaction examples are what the default rule stores'], [`${GOV}audit-durability.test.ts`, 'stores arguments with secrets redacted at any depth']] },
  { doc: 'security', section: 'Reading the trail', says: '### Reading the trail', tests: [[`${GOV}audit-export-failure.test.ts`, 'export whose database connection dies mid-stream is aborted, not ended cleanly'], [`${GOV}audit-export-failure.test.ts`, 'filters that would fail are refused with 400 before streaming starts']] },
  { doc: 'security', section: 'Threat model', says: 'is kept as JSON text, so it round-trips as sent', tests: [['protocol/unstorable-text.test.ts', 'its capabilities come back exactly from the database'], ['protocol/unstorable-text.test.ts', 'a resumed stream carries exactly the NUL and lone surrogates'], ['protocol/unstorable-text.test.ts', 'an elicitation answer holding NUL or a lone surrogate'], [`${GOV}approvals.test.ts`, 'holds a call whose arguments contain NUL or a lone surrogate'], [`${GOV}approvals.test.ts`, 'yields a result holding NUL or a lone surrogate exactly']] },
  { doc: 'security', section: 'Threat model', says: 'a subscription `uri` with such text is an invalid-params error (`-32602`)', tests: [['protocol/unstorable-text.test.ts', 'resources/subscribe with a NUL or a lone surrogate in the uri is a clear invalid-params error']] },
  { doc: 'security', section: 'Threat model', says: 'an answer whose id, or an access token whose subject, holds it matches nothing', tests: [['protocol/unstorable-text.test.ts', 'an answer whose id holds NUL or a lone surrogate is accepted and dropped'], [`${ID}agent-tokens.test.ts`, 'refuses a token whose subject holds NUL or a lone surrogate as unbound']] },
  { doc: 'security', section: 'Admin API', says: 'A label holding a NUL character or a lone UTF-16 surrogate is refused with `403`', tests: [[`${GOV}admin-api.test.ts`, 'refuses a host admin whose label holds NUL or a lone surrogate with a 403 naming the label']] },
  { doc: 'security', section: 'Admin API', says: '## Admin API', tests: [[`${GOV}admin-hostile-input.test.ts`, 'answers 415 to a body that is not JSON'], [`${GOV}admin-hostile-input.test.ts`, 'NUL bytes, lone surrogates and over-long strings are field errors'], [`${GOV}admin-hostile-input.test.ts`, 'agents: create and read back']] },
  { doc: 'security', section: 'Caches and the revocation delay', says: '## Caches and the revocation delay', tests: [[`${ID}jwks-outage.test.ts`, 'a JWKS answering after 10 s: one fetch per cooldown, and refusals do not wait for it'], [`${ID}credential-cache-bounds.test.ts`, 'it holds at most 10,000 entries and 32 MiB'], [`${ID}revocation-delay.test.ts`, 'within the cache lifetime on other instances']] },
];

/**
 * Error classes of the Enterprise code that never reach a host or a plugin, with where they stop.
 * Every other one is exported from `@gatehouse-mcp/engine/ee` (a host tests it with `instanceof`).
 */
const INTERNAL_ERRORS: Readonly<Record<string, string>> = {
  LimitTakenError: 'thrown by the limit store, which only the admin API uses (answered 409)',
  LimitTargetGoneError: 'thrown by the limit store, which only the admin API uses (answered 400)',
  RoleNameTakenError: 'thrown by the role store, which only the admin API uses (answered 409)',
  UnknownRolesError: 'thrown by the role store, which only the admin API uses (answered 400)',
  UnknownAgentError: 'thrown by the role store, which only the admin API uses (answered 404)',
  TokenProfileError: "the authenticator answers it as the 401's description",
  CedarCrashedError: 'the policy engine catches it: the call is refused, or the text reported unreadable',
  ArgumentConversionError: 'the policy engine catches it: the call is refused',
};

describe('docs match behaviour', () => {
  it('every error class the Enterprise code throws to a host is exported from the EE entry and named in docs/enterprise.md (OutboundRefusedError was not)', () => {
    // The admin UI's app runs in the browser; its errors never reach a host.
    const app = join(root, 'src/plugins/ee/admin-ui/app');
    const defined = filesUnder(join(root, 'src/plugins/ee')).filter((file) => !file.startsWith(app)).flatMap((file) =>
      [...readFileSync(file, 'utf8').matchAll(/^export class (\w+) extends \w*Error\b/gm)].map((match) => match[1]!),
    );
    expect(defined, 'error classes found').to.include.members(['OutboundRefusedError', 'UnusableKeyError', ...Object.keys(INTERNAL_ERRORS)]);
    const exported = Object.keys(enterpriseEntry);
    const host = defined.filter((name) => !(name in INTERNAL_ERRORS));
    expect(host.filter((name) => !exported.includes(name)), 'not exported from @gatehouse-mcp/engine/ee').to.deep.equal([]);
    const section = enterprise.slice(enterprise.indexOf('can tell the failures apart with `instanceof`'));
    expect(host.filter((name) => !section.includes(`\`${name}\``)), 'not named in docs/enterprise.md').to.deep.equal([]);
    for (const name of host) expect((enterpriseEntry as Record<string, unknown>)[name], name).to.be.a('function');
  });

  const sources = filesUnder(join(root, 'src')).map((file) => readFileSync(file, 'utf8')).join('\n');
  const tests = filesUnder(join(root, 'test')).filter((file) => !file.endsWith('docs-claims.test.ts')).map((file) => readFileSync(file, 'utf8')).join('\n');

  it('every error of the access-token profile table is produced by the code and asserted by a test', () => {
    const rows = table(security, '### Access-token profile');
    expect(rows.length).to.be.at.least(12);
    const missing: string[] = [];
    for (const [check, , errors] of rows) {
      for (const raw of quoted(errors!)) {
        const message = raw.replace(/^invalid_request: /, '');
        if (message === 'invalid_request') continue;
        // Placeholders such as <alg> are filled in at run time: compare the text before the first one.
        const fixed = message.split(/<[a-z]+>/)[0]!;
        const literal = (text: string) => text.replace(/'/g, "\\'");
        if (!sources.includes(fixed) && !sources.includes(literal(fixed))) missing.push(`${check}: "${message}" is not in the code`);
        if (!/<[a-z]+>/.test(message) && !tests.includes(message) && !tests.includes(literal(message))) missing.push(`${check}: "${message}" is asserted by no test`);
      }
    }
    expect(missing).to.deep.equal([]);
  });

  it('the preset defaults table is what the presets resolve to (the custom preset names the agent by sub)', () => {
    const inputs: Record<string, IdpPresetInput> = {
      '`entra` (v2 tokens)': { kind: 'entra', directoryId: '6f1c2a9e-3b7d-4c1e-9a55-0e2f8d4b7c31' },
      '`entra` (v1 tokens)': { kind: 'entra', directoryId: '6f1c2a9e-3b7d-4c1e-9a55-0e2f8d4b7c31', tokenVersion: 'v1' },
      '`keycloak`': { kind: 'keycloak', realmUrl: 'https://sso.example.com/realms/acme' },
      '`google`': { kind: 'google' },
      '`custom`': { kind: 'custom', issuer: 'https://idp.example.com' },
    };
    const rows = table(enterprise, 'Preset defaults:');
    expect(rows.map((row) => row[0])).to.deep.equal(Object.keys(inputs));
    for (const [kind, claim, algorithms] of rows) {
      const preset = resolvePreset(inputs[kind!]!);
      expect(preset.subjectClaim, kind).to.equal(quoted(claim!)[0]);
      expect([...preset.allowedAlgorithms], kind).to.deep.equal(quoted(algorithms!));
    }
  });

  it('the redaction examples are what the default rule stores', () => {
    const redact = redactor(undefined);
    const rows = table(security, 'Examples of what the default rule stores');
    expect(rows.length).to.be.at.least(5);
    for (const [sent, stored] of rows) {
      const input = quoted(sent!)[0]!;
      expect((redact({ value: input }) as { value: string }).value, input).to.equal(quoted(stored!)[0]);
    }
  });

  it('the documented defaults of the hardening options are the code\'s', () => {
    expect(security).to.include('`audit.authFailureWindowMs` (default **60 s**)');
    expect(DEFAULT_AUDIT_SINK_SETTINGS.authFailureWindowMs).to.equal(60_000);
    expect(security).to.include('`audit.authFailureKeysPerSource` (default **20**)');
    expect(DEFAULT_AUDIT_SINK_SETTINGS.authFailureKeysPerSource).to.equal(20);
    const settings = resolveEnterpriseOptions();
    expect(enterprise).to.include('| `jwksRefetchCooldownMs` | 30 000 |');
    expect(settings.jwksRefetchCooldownMs).to.equal(30_000);
    expect(enterprise).to.include('| `jwksFetchTimeoutMs` | 5 000 |');
    expect(settings.jwksFetchTimeoutMs).to.equal(5_000);
    expect(security).to.include('`jwksFetchTimeoutMs`, default 5 s');
    expect(enterprise).to.include('| `discoveryCacheTtlMs` | 3 600 000 |');
    expect(settings.discoveryCacheTtlMs).to.equal(3_600_000);
    expect(security).to.include('`discoveryCacheTtlMs` (default 1 hour)');
    expect(enterprise).to.include('| `idpFaultLogIntervalMs` | 60 000 |');
    expect(security).to.include('`idpFaultLogIntervalMs` (default 60 s)');
    expect(settings.idpFaultLogIntervalMs).to.equal(60_000);
  });

  it('the audience normalisation sentence is the one the token-profile test asserts', () => {
    expect(security).to.include('Only scheme and host case and one trailing slash are normalised; dot-segments, userinfo, a\n  fragment, a query or repeated slashes make it another resource.');
    expect(tests).to.include('normalises only scheme and host case and one trailing slash');
    expect(tests).to.include('treats dot-segments, userinfo, fragments, repeated slashes and queries as another resource');
  });

  it('the cache and session lifetimes the docs state are the code', () => {
    expect(flat(enterprise)).to.include('`credentialCacheTtlMs` (default **30 seconds**)');
    // The edition takes the engine's unless set: the engine's default is the documented one.
    expect(resolveEnterpriseOptions().credentialCacheTtlMs).to.equal(undefined);
    expect(resolveConfig({ plugins: [] }).credentialCacheTtlMs).to.equal(30_000);
    expect(flat(enterprise)).to.include('It ends after 30 minutes unused or 8 hours in all');
    expect(SESSION_IDLE_MS).to.equal(30 * 60_000);
    expect(SESSION_LIFETIME_MS).to.equal(8 * 60 * 60_000);
  });

  describe('every behavioural sentence of docs/enterprise.md is mapped to the tests asserting it', () => {
    const docs = { enterprise: flat(enterprise), security: flat(security) };
    it('each mapped phrase is in its doc, under the section it names', () => {
      const missing = CLAIMS.filter((claim) => !sectionOf(claim.doc === 'enterprise' ? enterprise : security, claim.section).includes(flat(claim.says))).map((claim) => `${claim.doc}: ${claim.section}: ${claim.says}`);
      expect(missing, 'reworded or moved: update the table').to.deep.equal([]);
      expect(Object.keys(docs)).to.have.length(2);
    });

    it('each test it names exists, with that title', () => {
      const missing: string[] = [];
      for (const claim of CLAIMS) {
        for (const [file, title] of claim.tests) {
          let text = '';
          try {
            text = readFileSync(join(root, 'test', file), 'utf8');
          } catch {
            missing.push(`${file} (no such file) for: ${claim.says}`);
            continue;
          }
          if (!text.includes(title)) missing.push(`${file}: no test "${title}" for: ${claim.says}`);
        }
      }
      expect(missing).to.deep.equal([]);
    });

    it('every section of docs/enterprise.md has its claims in the table', () => {
      const headings = [...enterprise.matchAll(/^#{2,3} (.+)$/gm)].map((match) => match[1]!);
      const mapped = new Set(CLAIMS.filter((claim) => claim.doc === 'enterprise').map((claim) => claim.section));
      expect(headings.filter((heading) => !mapped.has(heading)), 'sections without mapped claims').to.deep.equal([]);
    });
  });
});
