import { inject, injectable } from 'inversify';
import { trace } from '@opentelemetry/api';
import { decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { ApiKeyVerifier, clipClientText, presentedCredential, type MalformedCredential, type ApiKeyCheck, type ApiKeyRecord, type AuthRequest, type AuthResult, type Authenticator, type Principal } from '../../../core/index.js';
import { ADMIN_SCOPE, AGENT_KEY_SCOPE, AGENT_KIND, AgentPermissions, type AgentAttributes } from '../contracts.js';
import { AgentStore, type Agent } from './agent-store.js';
import { CredentialCache } from './credential-cache.js';
import { EnterpriseSettings } from './enterprise-options.js';
import { IdpFaultLog } from './idp-fault-log.js';
import { IdpProviderStore, type IdpProvider } from './idp-provider-store.js';
import { IssuerMismatchError, JwksCache, KeySourceError, UnusableKeyError } from './jwks-cache.js';
import { TokenProfileError, canonicalAudience, checkAudience, checkClaims, checkCompactSerialisation, checkHeader, timeClaimProblem } from './access-token-profile.js';
import { TenantUrls } from './tenant-urls.js';

const MCP_SCOPE = 'mcp';
const API_KEY = /^ghk_/;
/** A JWT's shape (compact JWS: three dot-separated base64url segments), checked only to say where it belongs. */
const JWT_SHAPED = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** What is wrong with a credential that cannot be read as sent (answered with `invalid_request`). */
const MALFORMED: Readonly<Record<MalformedCredential, string>> = {
  'authorization-scheme': 'The Authorization header must be "Bearer <token>".',
  'empty-api-key': 'The X-API-Key header is empty: send an API key in it, or an access token as "Authorization: Bearer <token>".',
};

/** The part of a verified credential that may be reused from cache. */
interface AgentIdentity {
  readonly agentId: string;
  readonly label: string;
  readonly issuer: string;
  readonly subject: string;
  readonly idpId: string;
}

/** Why a credential is refused; the description is safe to show to the caller. */
class Refusal {
  constructor(readonly description: string) {}
}

/** A refusal of an API key whose tenant is known (so it is audited there). */
class KeyRefusal extends Refusal {
  constructor(
    description: string,
    readonly tenant: string,
  ) {
    super(description);
  }
}

/**
 * A credential that could not be checked because the identity provider cannot be reached: nothing
 * is known to be wrong with it, so the agent is asked to retry it rather than to discard it.
 */
class Unavailable extends Refusal {
  constructor(
    description: string,
    readonly retryAfterSeconds: number,
  ) {
    super(description);
  }
}

/** Why a token waiting for an unreachable identity provider's keys is refused (answered with 503). */
const IDP_UNREACHABLE = 'The identity provider could not be reached to verify the token (its signing keys could not be fetched); try again later.';

/** A refusal as the caller's answer; anything else is no refusal and is thrown on. */
function refused(error: unknown, challenge: Record<string, string>, tenant: string | undefined): AuthResult {
  if (error instanceof Unavailable) return { ok: false, description: error.description, unavailable: { retryAfterSeconds: error.retryAfterSeconds }, tenant };
  if (error instanceof Refusal) return { ok: false, error: 'invalid_token', description: error.description, challenge, tenant: error instanceof KeyRefusal ? error.tenant : tenant };
  throw error;
}

/**
 * @deprecated Use {@link canonicalAudience}: audiences are compared as exact canonical URLs.
 */
export const normaliseAudience = canonicalAudience;

const JOSE_FAILURES: Readonly<Record<string, string>> = {
  ERR_JWT_EXPIRED: 'The token has expired.',
  ERR_JOSE_ALG_NOT_ALLOWED: 'The token is signed with an algorithm this identity provider is not trusted for.',
  ERR_JWKS_NO_MATCHING_KEY: 'The token is signed with an unknown key id (kid).',
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: 'The token\'s key id (kid) is ambiguous.',
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: 'The token\'s signature is invalid.',
  ERR_JWS_INVALID: 'The token is not a valid JWS.',
  ERR_JWT_INVALID: 'The token is not a valid JWT.',
  ERR_JOSE_NOT_SUPPORTED: 'The token uses an unsupported algorithm or key.',
};

const MISSING_CLAIMS: Readonly<Record<string, string>> = {
  exp: 'The token has no expiry (exp).',
  iat: 'The token has no issue time (iat).',
  sub: 'The token has no subject (sub).',
  aud: 'The token has no audience (aud).',
};

function joseFailure(error: unknown): string {
  const { code, claim, reason } = (error ?? {}) as { code?: string; claim?: string; reason?: string };
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED') {
    if (claim === 'nbf') return reason === 'invalid' ? 'The token\'s not-before time (nbf) must be a number.' : 'The token is not valid yet (nbf).';
    if (claim === 'iss') return 'The token\'s issuer is not trusted by this tenant.';
    if (reason === 'missing' && claim && MISSING_CLAIMS[claim]) return MISSING_CLAIMS[claim];
    if (claim === 'iat') return 'The token\'s issue time (iat) must be a number.';
    if (claim === 'exp') return 'The token\'s expiry (exp) must be a number.';
    return `The token's ${claim ?? 'claims'} claim is invalid.`;
  }
  return (code && JOSE_FAILURES[code]) || 'The token could not be verified.';
}

/**
 * Enterprise authentication. Accepts:
 * - JWT access tokens from the tenant's trusted identity providers, naming an active agent of the
 *   tenant through the provider's subject claim;
 * - agent API keys (scope `agent`), authenticating as their agent;
 * - admin API keys (scope `admin`, principal kind `admin`) and tenant API keys (scope `mcp`).
 *
 * Verified identities are cached for the credential cache lifetime (and never past a token's
 * expiry); permissions are read on every request through {@link AgentPermissions}.
 */
@injectable()
export class AgentAuthenticator implements Authenticator {
  constructor(
    @inject(EnterpriseSettings) private readonly settings: EnterpriseSettings,
    @inject(TenantUrls) private readonly urls: TenantUrls,
    @inject(ApiKeyVerifier) private readonly keys: ApiKeyVerifier,
    @inject(IdpProviderStore) private readonly idps: IdpProviderStore,
    @inject(AgentStore) private readonly agents: AgentStore,
    @inject(AgentPermissions) private readonly permissions: AgentPermissions,
    @inject(JwksCache) private readonly jwks: JwksCache,
    @inject(CredentialCache) private readonly cache: CredentialCache,
    @inject(IdpFaultLog) private readonly faults: IdpFaultLog,
  ) {}

  /** A cached API key (with its agent and grants cached) is answered at once, without a promise. */
  authenticate(request: AuthRequest): AuthResult | Promise<AuthResult> {
    const given = presentedCredential(request);
    const tenant = this.urls.tenantOf(request.tenantHint);
    const challenge = this.challenge(request);
    if (given === undefined) {
      return { ok: false, description: 'An access token is required: send "Authorization: Bearer <token>".', challenge };
    }
    const { credential } = given;
    if (given.malformed) {
      return { ok: false, error: 'invalid_request', description: MALFORMED[given.malformed], challenge, tenant };
    }
    if (given.header === 'x-api-key' && !API_KEY.test(credential)) {
      // RFC 6750 §2: access tokens travel in the Authorization header only. Anything else there is
      // simply not an API key: a wrong key, not a misplaced token.
      if (JWT_SHAPED.test(credential)) {
        return { ok: false, error: 'invalid_request', description: 'X-API-Key carries API keys only: send access tokens as "Authorization: Bearer <token>".', challenge, tenant };
      }
      return { ok: false, error: 'invalid_token', description: 'The API key is not valid.', challenge, tenant };
    }
    let found: Principal | Promise<Principal>;
    try {
      found = API_KEY.test(credential) ? this.apiKey(credential) : this.token(credential, request.tenantHint);
    } catch (error) {
      return refused(error, challenge, tenant);
    }
    return found instanceof Promise ? found.then((principal) => this.accepted(principal, challenge, tenant), (error: unknown) => refused(error, challenge, tenant)) : this.accepted(found, challenge, tenant);
  }

  private accepted(principal: Principal, challenge: Record<string, string>, tenant: string | undefined): AuthResult {
    if (this.settings.tenancy === 'single' && principal.tenant !== this.settings.tenant) return refused(new Refusal('This credential is not valid for this server.'), challenge, tenant);
    return { ok: true, principal };
  }

  challenge(request: Pick<AuthRequest, 'tenantHint' | 'resource'>): Record<string, string> {
    const tenant = this.urls.tenantOf(request.tenantHint);
    return tenant ? { resource_metadata: this.urls.metadataUrl(tenant), scope: MCP_SCOPE } : { scope: MCP_SCOPE };
  }

  private apiKey(secret: string): Principal | Promise<Principal> {
    const check = this.keys.checkNow(secret);
    return check instanceof Promise ? check.then((answer) => this.keyPrincipal(answer)) : this.keyPrincipal(check);
  }

  private keyPrincipal(check: ApiKeyCheck): Principal | Promise<Principal> {
    if (check.status === 'expired') throw new KeyRefusal('The API key has expired.', check.key.tenant);
    if (check.status === 'revoked') throw new KeyRefusal('The API key has been revoked.', check.key.tenant);
    if (check.status !== 'valid') throw new Refusal('The API key is not valid.');
    const key = check.key;
    const agentId = key.extra.agent_id;
    if (key.scopes.includes(AGENT_KEY_SCOPE) && typeof agentId === 'string') {
      const found = this.agent(key.tenant, agentId);
      return found instanceof Promise ? found.then((agent) => this.keyAgent(key, agent)) : this.keyAgent(key, found);
    }
    if (key.scopes.includes(AGENT_KEY_SCOPE)) throw new KeyRefusal('This agent API key is not bound to an agent.', key.tenant);
    const kind = key.scopes.includes(ADMIN_SCOPE) ? 'admin' : 'api-key';
    return { tenant: key.tenant, kind, id: key.id, label: key.name, scopes: key.scopes, attributes: { keyId: key.id, keyPrefix: key.prefix } };
  }

  private keyAgent(key: ApiKeyRecord, agent: Agent | undefined): Principal | Promise<Principal> {
    if (!agent) throw new KeyRefusal('The agent of this API key no longer exists.', key.tenant);
    if (!agent.active) throw new KeyRefusal('The agent of this API key is deactivated.', key.tenant);
    return this.agentPrincipal(key.tenant, agent.id, agent.name, { agentId: agent.id, credential: 'api-key', keyId: key.id, permissions: [] });
  }

  /** The agent, at once when cached. */
  private agent(tenant: string, id: string): Agent | undefined | Promise<Agent | undefined> {
    const cacheKey = `agent:${tenant}:${id}`;
    const cached = this.cache.get<Agent | null>(cacheKey);
    if (cached !== undefined) return cached ?? undefined;
    return this.loadAgent(tenant, id, cacheKey);
  }

  private async loadAgent(tenant: string, id: string, cacheKey: string): Promise<Agent | undefined> {
    const agent = await this.agents.get(tenant, id);
    this.cache.set(tenant, cacheKey, agent ?? null);
    return agent;
  }

  private async token(token: string, tenantHint: string | undefined): Promise<Principal> {
    const tenant = this.urls.tenantOf(tenantHint);
    if (!tenant) {
      throw new Refusal(
        this.settings.tenancy === 'path'
          ? 'Access tokens are accepted only at a tenant\'s MCP URL (.../t/<tenant>/api/mcp).'
          : this.settings.tenancy === 'host'
            ? 'Access tokens are accepted only at a tenant\'s own host (https://<tenant>.…/api/mcp).'
            : 'This server does not serve that tenant.',
      );
    }
    // Keyed by the token itself: the cache is in this process only, and hashing every request
    // just to look it up costs more than the lookup.
    const cacheKey = `jwt:${tenant}:${token}`;
    const cached = this.cache.get<AgentIdentity>(cacheKey);
    trace.getActiveSpan()?.setAttribute('gatehouse.auth.cache', cached ? 'hit' : 'miss');
    let identity = cached;
    if (!identity) {
      const verified = await this.verify(tenant, token);
      identity = verified.identity;
      // `exp` was checked to be a representable time, so this is a finite epoch millisecond.
      this.cache.set(tenant, cacheKey, identity, verified.expiresAt * 1000);
    }
    const { agentId, label, ...rest } = identity;
    return this.agentPrincipal(tenant, agentId, label, { agentId, credential: 'jwt', ...rest, permissions: [] });
  }

  /** The agent's principal with its grants: at once when they are cached. */
  private agentPrincipal(tenant: string, id: string, label: string, attributes: AgentAttributes): Principal | Promise<Principal> {
    this.agents.markSeen(id);
    const permissions = this.permissions.permissionsOf(tenant, id);
    const principal = (granted: readonly string[]): Principal => ({ tenant, kind: AGENT_KIND, id, label, scopes: [MCP_SCOPE], attributes: { ...attributes, permissions: granted } satisfies AgentAttributes });
    // Any implementation's promise-like, not only a native promise.
    return Array.isArray(permissions) ? principal(permissions) : Promise.resolve(permissions).then(principal);
  }

  /** Verify `token` for `tenant` and find its agent and the token's expiry (epoch seconds). Throws {@link Refusal} with a safe reason. */
  private async verify(tenant: string, token: string): Promise<{ identity: AgentIdentity; expiresAt: number }> {
    let payload: JWTPayload;
    let header: { alg?: unknown; typ?: unknown; kid?: unknown; crit?: unknown };
    try {
      checkCompactSerialisation(token);
    } catch (error) {
      throw new Refusal((error as TokenProfileError).description);
    }
    try {
      // Decoded only to route the token to its provider; nothing is trusted before verification.
      payload = decodeJwt(token);
      header = decodeProtectedHeader(token);
    } catch {
      throw new Refusal('The token is neither a valid JWT nor an API key.');
    }
    if (header.alg === undefined) throw new Refusal('The token has no algorithm (alg) header.');
    if (typeof header.alg !== 'string') throw new Refusal('The token\'s algorithm (alg) header must be a string.');
    // `none` in any case: RFC 7515 names are case-sensitive, but no spelling of it is ever a signature.
    if (header.alg.toLowerCase() === 'none' || /^HS/i.test(header.alg)) {
      throw new Refusal(`Tokens signed with "${clipClientText(header.alg)}" are never accepted.`);
    }
    if (typeof payload.iss !== 'string') throw new Refusal('The token has no issuer (iss).');
    const idp = (await this.idps.activeProviders(tenant)).find((provider) => provider.issuer === payload.iss);
    if (!idp) throw new Refusal('The token\'s issuer is not trusted by this tenant.');

    this.profile(() => checkHeader(idp, header));

    let verified: JWTPayload;
    try {
      const keys = await this.jwks.keysFor(idp);
      // Discovery that fails while the last one found stays in use is logged like an outage.
      const stale = this.jwks.staleDiscovery(idp);
      if (stale) this.faults.failed(idp, tenant, 'stale-discovery', stale);
      else this.faults.over(idp, 'stale-discovery');
      ({ payload: verified } = await jwtVerify(token, keys, {
        issuer: idp.issuer,
        algorithms: [...idp.allowedAlgorithms],
        clockTolerance: idp.clockSkewSeconds,
        requiredClaims: ['exp', 'iat', 'sub', 'aud'],
      }));
    } catch (error) {
      // The IdP's faults are logged once as they begin, then summarised (see IdpFaultLog).
      if (error instanceof KeySourceError) {
        this.faults.failed(idp, tenant, 'unavailable', error);
        // An IdP that answers but names another issuer is misconfigured, not down: retrying would
        // not help until an administrator corrects it, so the agent is refused (401), not put off (503).
        if (error instanceof IssuerMismatchError) throw new Refusal(error.description);
        throw new Unavailable(IDP_UNREACHABLE, this.jwks.retryAfterSeconds(idp));
      }
      if (error instanceof UnusableKeyError) {
        this.faults.failed(idp, tenant, 'unusable-key', error);
        throw new Refusal('The identity provider publishes a signing key for this token that cannot be used.');
      }
      const code = (error as { code?: string }).code;
      // No jose code: the JWKS request itself failed (network, HTTP error).
      if (code === undefined || code === 'ERR_JWKS_TIMEOUT' || code === 'ERR_JWKS_INVALID') {
        this.faults.failed(idp, tenant, 'unavailable', error instanceof Error ? error : new Error(String(error)));
        throw new Unavailable(IDP_UNREACHABLE, this.jwks.retryAfterSeconds(idp));
      }
      // The keys were there: whatever is wrong is the token's (its key was found, unless jose says no key matched).
      this.keysServed(idp, tenant, header.kid, !code?.startsWith('ERR_JWKS_'));
      // jose checks the time claims only after the signature: a time no token can carry is named
      // as such rather than as "expired" or "not valid yet".
      const outOfRange = code === 'ERR_JWT_EXPIRED' || code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' ? timeClaimProblem(payload) : undefined;
      throw new Refusal(outOfRange ?? joseFailure(error));
    }

    this.keysServed(idp, tenant, header.kid, true);
    const outOfRange = timeClaimProblem(verified);
    if (outOfRange) throw new Refusal(outOfRange);
    this.profile(() => checkClaims(idp, verified));
    this.profile(() => checkAudience(idp, verified.aud));
    const subject = verified[idp.subjectClaim];
    if (typeof subject !== 'string' || subject === '') {
      throw new Refusal(`The token has no "${idp.subjectClaim}" claim to identify the agent.`);
    }
    const agent = await this.agents.findActiveByBinding(tenant, idp.issuer, subject);
    if (!agent) {
      const inactive = (await this.agents.list(tenant, { active: false, idpId: idp.id })).some((candidate) => candidate.subject === subject);
      throw new Refusal(inactive ? 'The agent bound to this identity is deactivated.' : 'No agent of this tenant is bound to this identity.');
    }
    return { identity: { agentId: agent.id, label: agent.name, issuer: idp.issuer, subject, idpId: idp.id }, expiresAt: verified.exp as number };
  }

  /**
   * `idp`'s keys served a verification of a token with key id `kid`, whose key was found and
   * imported when `resolved`: an outage is over once the keys are fetched again (kept keys serve
   * during one), and a key that could not be used is over once it serves, or once the IdP no longer
   * publishes it.
   */
  private keysServed(idp: IdpProvider, tenant: string, kid: unknown, resolved: boolean): void {
    if (!this.jwks.keysFailing(idp)) this.faults.available(idp);
    const own = typeof kid === 'string' ? kid : '';
    this.faults.keysUsable(idp, (unusable) => (resolved && unusable === own) || (unusable !== '' && this.jwks.publishes(idp, unusable) === false));
  }

  private profile(check: () => void): void {
    try {
      check();
    } catch (error) {
      if (error instanceof TokenProfileError) throw new Refusal(error.description);
      throw error;
    }
  }
}
