import type { Principal } from './principal.js';

/** What the authenticator sees of an HTTP request. */
export interface AuthRequest {
  /** Case-insensitive header lookup. */
  header(name: string): string | undefined;
  /**
   * The tenant named by the URL the request arrived at (per-tenant MCP URLs), or undefined when the
   * URL names none. A principal of another tenant must not be accepted for it.
   */
  readonly tenantHint: string | undefined;
  /** The canonical resource URL of the endpoint that was called (used as the expected token audience). */
  readonly resource: string;
  /** Remote address, for audit and rate limits. */
  readonly clientAddress: string | undefined;
  /** Id of the request, for audit correlation. */
  readonly requestId: string;
}

/**
 * Why authentication failed, rendered by the core as a `401` with `WWW-Authenticate` — or, with
 * {@link unavailable}, as a `503` with `Retry-After`. Audited in the tenant's trail either way
 * (when a credential was sent and the tenant is known).
 */
export interface AuthFailure {
  readonly ok: false;
  /** RFC 6750 error code: `invalid_request` or `invalid_token`; absent when no credential was sent or with {@link unavailable}. */
  readonly error?: 'invalid_request' | 'invalid_token';
  /**
   * Set when the credential could not be checked because a service the authenticator depends on
   * cannot be reached (an identity provider that is down): nothing is known to be wrong with the
   * credential, so the caller is not told to discard it (no `401`) but to retry it after
   * `retryAfterSeconds` (at least 1). The authenticator logs the outage itself; the engine does
   * not log each refusal. A service that answers but is misconfigured is not unavailable: a retry
   * would not help, so that stays a `401`.
   */
  readonly unavailable?: { readonly retryAfterSeconds: number };
  /** A message the caller can act on. Never contains the credential. */
  readonly description: string;
  /** Extra `WWW-Authenticate` parameters, e.g. `resource_metadata` and `scope`. */
  readonly challenge?: Readonly<Record<string, string>>;
  /** The tenant the failed credential belonged to, when known (so it can be audited there). */
  readonly tenant?: string;
}

export type AuthResult = { readonly ok: true; readonly principal: Principal } | AuthFailure;

/**
 * Governance port: decides who is calling. Bound exactly once per engine (the engine refuses to
 * boot with none or two). Called for every MCP request and every protected route; implementations
 * should answer from a cache on the hot path, and may then return the result itself instead of a
 * promise (the engine awaits only what is a promise).
 */
export interface Authenticator {
  authenticate(request: AuthRequest): AuthResult | Promise<AuthResult>;
  /**
   * Parameters for the challenge sent when a request carries no credential at all
   * (`WWW-Authenticate: Bearer …`), e.g. the resource metadata URL.
   */
  challenge(request: Pick<AuthRequest, 'tenantHint' | 'resource'>): Readonly<Record<string, string>>;
}

export const Authenticator = Symbol.for('gatehouse.Authenticator');
