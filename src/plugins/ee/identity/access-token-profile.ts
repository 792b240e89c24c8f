import type { JWTPayload } from 'jose';
import type { IdpProvider } from './idp-provider-store.js';
import { clipClientText } from '../../../core/index.js';

/**
 * The JWT access-token profile every token must meet (RFC 9068, RFC 8725), checked around the
 * signature verification. Each check throws {@link TokenProfileError} with a description that is
 * safe to show to the caller and is listed in docs/security.md.
 */
export class TokenProfileError extends Error {
  constructor(readonly description: string) {
    super(description);
    this.name = 'TokenProfileError';
  }
}

// RFC 7515 §7.1 compact serialisation with RFC 7515 §2 base64url (no padding, no whitespace).
// The signature may be empty only so that `alg: none` gets its own, clearer refusal.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Refuse anything but three unpadded base64url segments (jose tolerates some deviations). */
export function checkCompactSerialisation(token: string): void {
  if (!COMPACT_JWS.test(token)) {
    throw new TokenProfileError('The token is not a compact JWS: it must be three base64url segments without padding, whitespace or other characters.');
  }
}

/** The token `typ` header, normalised (`application/at+jwt` → `at+jwt`). */
function tokenType(header: { typ?: unknown }): string | undefined {
  if (typeof header.typ !== 'string') return undefined;
  const typ = header.typ.toLowerCase();
  return typ.startsWith('application/') ? typ.slice('application/'.length) : typ;
}

/** The named identity providers whose real tokens need a relaxation, and which one. */
function acceptsIdTokens(idp: IdpProvider): boolean {
  // Google gives service accounts OpenID ID tokens (for a requested audience), never JWT access
  // tokens, and `gcloud auth print-identity-token` adds `at_hash` to them.
  return idp.kind === 'google';
}

/**
 * Checks on the (not yet verified) header, before any key is fetched: RFC 7515 §4.1.4, §4.1.11;
 * RFC 8725 §3.11; RFC 9068 §4. No header extension is understood, so any `crit` is refused (RFC
 * 7515 §4.1.11: a recipient that does not understand a listed extension must refuse the JWS).
 */
export function checkHeader(idp: IdpProvider, header: { typ?: unknown; kid?: unknown; crit?: unknown }): void {
  if (header.crit !== undefined) {
    const { crit } = header;
    if (!Array.isArray(crit) || crit.length === 0 || crit.some((name) => typeof name !== 'string')) {
      throw new TokenProfileError('The token\'s critical-extensions (crit) header must be a non-empty array of names.');
    }
    throw new TokenProfileError(`The token requires header extensions this server does not support (crit: ${clipClientText(JSON.stringify(crit))}).`);
  }
  if (header.kid !== undefined && typeof header.kid !== 'string') throw new TokenProfileError('The token\'s key id (kid) header must be a string.');
  const typ = tokenType(header);
  if (header.typ !== undefined && typeof header.typ !== 'string') throw new TokenProfileError('The token\'s type (typ) header is not a string.');
  if (idp.tokenType === 'at+jwt' ? typ !== 'at+jwt' : typ !== undefined && typ !== 'jwt' && typ !== 'at+jwt') {
    throw new TokenProfileError(idp.tokenType === 'at+jwt' ? 'Only access tokens of type at+jwt are accepted.' : `Tokens of type "${clipClientText(typ)}" are not access tokens.`);
  }
}

/** The latest representable NumericDate: 9999-12-31T23:59:59Z, the last second an ISO 8601 date can name. */
export const MAX_NUMERIC_DATE = 253_402_300_799;

const TIME_CLAIMS = [
  ['exp', 'The token\'s expiry (exp) is out of range: it must be seconds since 1970-01-01T00:00:00Z, no later than 9999-12-31T23:59:59Z.'],
  ['nbf', 'The token\'s not-before time (nbf) is out of range: it must be seconds since 1970-01-01T00:00:00Z, no later than 9999-12-31T23:59:59Z.'],
  ['iat', 'The token\'s issue time (iat) is out of range: it must be seconds since 1970-01-01T00:00:00Z, no later than 9999-12-31T23:59:59Z.'],
] as const;

/**
 * The first time claim (`exp`, `nbf`, `iat`) that is a number but no representable time: RFC 7519
 * NumericDate is seconds since 1970-01-01T00:00:00Z (fractions allowed); beyond 9999-12-31T23:59:59Z
 * or before 1970 it cannot be a real token's time, and a value such as `1e308` would make every
 * expiry computed from it infinite. Values of other types are left to the type checks.
 */
export function timeClaimProblem(payload: Readonly<Record<string, unknown>>): string | undefined {
  for (const [claim, problem] of TIME_CLAIMS) {
    const value = payload[claim];
    if (typeof value === 'number' && !(Number.isFinite(value) && value >= 0 && value <= MAX_NUMERIC_DATE)) return problem;
  }
  return undefined;
}

/**
 * Checks on the verified claims (RFC 9068 §2.2, §4; RFC 8725 §3.10): the required claims and their
 * types, an issue time not in the future, and no OpenID ID-token shape.
 */
export function checkClaims(idp: IdpProvider, payload: JWTPayload, nowSeconds = Math.floor(Date.now() / 1000)): void {
  if (payload.sub === undefined) throw new TokenProfileError('The token has no subject (sub).');
  if (typeof payload.sub !== 'string' || payload.sub === '') throw new TokenProfileError('The token\'s subject (sub) must be a non-empty string.');
  if (payload.iat === undefined) throw new TokenProfileError('The token has no issue time (iat).');
  if (typeof payload.iat !== 'number' || !Number.isFinite(payload.iat)) throw new TokenProfileError('The token\'s issue time (iat) must be a number.');
  if (payload.iat > nowSeconds + idp.clockSkewSeconds) throw new TokenProfileError('The token was issued in the future (iat).');
  if (typeof payload.exp !== 'number' || !Number.isFinite(payload.exp)) throw new TokenProfileError('The token\'s expiry (exp) must be a number.');
  if (!acceptsIdTokens(idp)) {
    for (const claim of ['nonce', 'at_hash', 'c_hash'] as const) {
      if (payload[claim] !== undefined) throw new TokenProfileError(`The token is an OpenID ID token (it carries "${claim}"), not an access token.`);
    }
    // Keycloak marks its tokens in a `typ` claim: `Bearer` for access tokens, `ID` for ID tokens.
    const typClaim = payload.typ;
    if (typClaim !== undefined && (typeof typClaim !== 'string' || typClaim.toLowerCase() !== 'bearer')) {
      throw new TokenProfileError(`The token's "typ" claim (${clipClientText(JSON.stringify(typClaim))}) is not an access-token type.`);
    }
  }
}

// scheme://host[:port][/path] with no userinfo, query or fragment.
const PLAIN_HTTP_URL = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#@\\]+)(\/[^?#]*)?$/;

/**
 * The canonical form of a resource URL for audience comparison: scheme and host lower-cased and
 * one trailing slash removed, nothing else. Anything with userinfo, a query, a fragment, repeated
 * slashes or dot-segments keeps its own form and so names a different resource. Values that are
 * not http(s) URLs (`api://…`, application ids) compare exactly.
 */
export function canonicalAudience(value: string): string {
  const match = PLAIN_HTTP_URL.exec(value);
  if (!match) return value;
  const scheme = match[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return value;
  let path = match[3] ?? '';
  if (path.endsWith('/')) path = path.slice(0, -1);
  return `${scheme}://${match[2]!.toLowerCase()}${path}`;
}

/** RFC 9068 §4 / RFC 8707: `aud` is required and must name this resource exactly. */
export function checkAudience(idp: IdpProvider, aud: unknown): void {
  if (aud === undefined) throw new TokenProfileError('The token has no audience (aud).');
  const values = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : undefined;
  if (!values || values.length === 0 || values.some((value) => typeof value !== 'string')) {
    throw new TokenProfileError('The token\'s audience (aud) must be a string or an array of strings.');
  }
  const expected = canonicalAudience(idp.audience);
  if (!values.some((value) => canonicalAudience(value as string) === expected)) {
    throw new TokenProfileError('The token was issued for another resource (aud).');
  }
}
