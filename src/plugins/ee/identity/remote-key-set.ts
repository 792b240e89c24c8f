import { createLocalJWKSet, errors, type FlattenedJWSInput, type JSONWebKeySet, type JWSHeaderParameters, type JWTVerifyGetKey } from 'jose';
import { clipClientText } from '../../../core/index.js';
import { outboundFetch } from '../outbound-fetch.js';

/** The IdP's keys could not be located or fetched (discovery failed, JWKS unreachable). */
export class KeySourceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'KeySourceError';
  }
}

/**
 * The IdP's OpenID discovery document names another issuer than the one configured for the
 * provider (a trailing slash, http for https, another realm path). The message names both values
 * and the likely fix, for the operator; {@link description} says the same without the discovery
 * URL, for the agent whose token was refused.
 */
export class IssuerMismatchError extends KeySourceError {
  /** Why tokens are refused, safe to show to the agent. */
  readonly description: string;

  constructor(
    /** The issuer configured for the provider (the `iss` of its tokens). */
    readonly configured: string,
    /** The issuer the discovery document names. */
    readonly discovered: string,
    /** Where the discovery document was read. */
    readonly documentUrl: string,
  ) {
    const shown = JSON.stringify(clipClientText(discovered, 300));
    super(`The discovery document at ${documentUrl} names the issuer ${shown}, but the provider is configured with the issuer ${JSON.stringify(configured)}. ${issuerFix(configured, discovered)}`);
    this.name = 'IssuerMismatchError';
    this.description = `The identity provider's discovery document names the issuer ${shown}, not the configured ${JSON.stringify(configured)}: an administrator of this tenant must correct the provider's issuer.`;
  }
}

/** The likely fix for a configured issuer that differs from the discovered one. */
function issuerFix(configured: string, discovered: string): string {
  const exact = `set the provider's issuer to ${JSON.stringify(clipClientText(discovered, 300))} exactly (tokens carry it as "iss")`;
  const bare = (value: string): string => value.replace(/\/+$/, '');
  if (bare(configured) === bare(discovered)) return `They differ only in a trailing slash: ${exact}.`;
  const withoutScheme = (value: string): string => value.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').toLowerCase();
  if (withoutScheme(bare(configured)) === withoutScheme(bare(discovered)) && configured.split(':')[0]!.toLowerCase() !== discovered.split(':')[0]!.toLowerCase()) {
    return `They differ in scheme (http or https): if the identity provider is behind a proxy that terminates TLS, make it advertise its public https URL (Keycloak: its hostname setting; others: forwarded headers); otherwise ${exact}.`;
  }
  if (configured.toLowerCase() === discovered.toLowerCase()) return `They differ only in letter case: ${exact}.`;
  if (/\/realms\//.test(configured) || /\/realms\//.test(discovered)) {
    return `The realm path differs: for Keycloak, the issuer is the realm URL exactly as Keycloak reports it (versions before 17 put /auth before /realms/; realm names are case-sensitive), so ${exact}, or correct the realm.`;
  }
  return `If this is the identity provider you mean to trust, ${exact}; otherwise correct the issuer or discovery URL.`;
}

/**
 * The IdP publishes a key that matches the token but cannot be used (a malformed JWK: a point not
 * on its curve, a modulus that does not decode). The IdP's fault, not the token's.
 */
export class UnusableKeyError extends Error {
  constructor(
    message: string,
    options?: { cause?: unknown },
    /** The key id of the token whose published key cannot be used ('' for a token without one). */
    readonly kid = '',
  ) {
    super(message, options);
    this.name = 'UnusableKeyError';
  }
}

export interface RemoteKeySetOptions {
  /** Minimum time between two fetch attempts, successful or not. */
  readonly cooldownMs: number;
  /** Keys older than this are refetched on next use (when the cooldown allows). */
  readonly maxAgeMs: number;
  /** How long one fetch may take. */
  readonly timeoutMs: number;
  /** Wraps each fetch attempt (to trace and count it); it must run `attempt` once. */
  readonly observe?: (attempt: () => Promise<void>) => Promise<void>;
}

type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => ReturnType<JWTVerifyGetKey>;

/**
 * One IdP's JWKS, fetched on demand. Every fetch attempt — successful, failed or timed out —
 * starts the cooldown, so neither unknown `kid`s nor an IdP outage can make us fetch more than
 * once per cooldown; concurrent callers share one fetch. Keys that were fetched once keep being
 * used while refetches fail; a token whose `kid` is not among them is then refused for the failure
 * (its key may have been published since), not as an unknown key. A published key that cannot be
 * used makes the set refetch too, within the same cooldown, so a key the IdP corrected serves again.
 * The last failure is kept and reported until a fetch succeeds.
 */
export class RemoteKeySet {
  private keys: KeyResolver | undefined;
  /** The key ids the fetched set publishes. */
  private kids: ReadonlySet<string> = new Set();
  private fetchedAt = 0;
  private attemptedAt = Number.NEGATIVE_INFINITY;
  private pending: Promise<void> | undefined;
  /** Why the last fetch failed, until one succeeds. */
  lastError: KeySourceError | undefined;
  /** Fetch attempts made (for diagnostics). */
  attempts = 0;

  constructor(
    readonly url: string,
    private readonly options: RemoteKeySetOptions,
  ) {}

  /** A resolver for `jwtVerify`. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    if (!this.keys || Date.now() - this.fetchedAt >= this.options.maxAgeMs) await this.refresh();
    if (!this.keys) throw this.lastError ?? new KeySourceError(`The JWKS at ${this.url} has not been fetched yet.`);
    try {
      return await this.resolve(header, token);
    } catch (error) {
      // A published key that cannot be used may have been corrected since: fetched again as an
      // unknown kid is (at most once per cooldown), so the keys serve again once the IdP fixed them.
      if (!(error instanceof errors.JWKSNoMatchingKey) && !(error instanceof UnusableKeyError)) throw error;
      if (this.mayFetch()) {
        await this.refresh();
        if (!this.lastError) return this.resolve(header, token);
      }
      if (error instanceof UnusableKeyError) throw error;
      // While the JWKS cannot be fetched, an unknown kid may be a key published since: the token
      // is not known to be bad, the keys are unavailable.
      throw this.lastError ?? error;
    }
  };

  /** The key for the token from the fetched set; a published key that cannot be imported is the IdP's fault. */
  private async resolve(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<Awaited<ReturnType<JWTVerifyGetKey>>> {
    try {
      return await this.keys!(header, token);
    } catch (error) {
      if (error instanceof errors.JOSEError) throw error;
      const kid = typeof header.kid === 'string' ? ` "${header.kid.slice(0, 100)}"` : '';
      throw new UnusableKeyError(`The JWKS at ${this.url} publishes a key${kid} that cannot be used: ${(error as Error).message ?? String(error)}`, { cause: error }, typeof header.kid === 'string' ? header.kid : '');
    }
  }

  /** Whether the set fetched last publishes a key with id `kid`; undefined before a fetch succeeded. */
  publishes(kid: string): boolean | undefined {
    return this.keys ? this.kids.has(kid) : undefined;
  }

  /** When the next fetch may start (epoch milliseconds; now while one is under way). */
  nextAttemptAt(): number {
    return this.pending ? Date.now() : this.attemptedAt + this.options.cooldownMs;
  }

  private mayFetch(): boolean {
    return this.pending !== undefined || Date.now() - this.attemptedAt >= this.options.cooldownMs;
  }

  /** Fetch now unless an attempt was made within the cooldown (then share or skip it). */
  private async refresh(): Promise<void> {
    if (this.pending) return this.pending;
    if (!this.mayFetch()) return;
    this.attemptedAt = Date.now();
    this.attempts++;
    const attempt = (): Promise<void> => this.fetchKeys();
    this.pending = (this.options.observe ? this.options.observe(attempt) : attempt()).finally(() => {
      // The cooldown runs from the end of the attempt: a slow failure does not shorten it.
      this.attemptedAt = Date.now();
      this.pending = undefined;
    });
    return this.pending;
  }

  private async fetchKeys(): Promise<void> {
    let body: unknown;
    try {
      const response = await outboundFetch(this.url, { signal: AbortSignal.timeout(this.options.timeoutMs), headers: { accept: 'application/json' } });
      if (!response.ok) {
        await response.body?.cancel().catch(() => undefined);
        throw new KeySourceError(`The JWKS at ${this.url} answered HTTP ${response.status}.`);
      }
      body = await response.json().catch(() => undefined);
      if (!body || typeof body !== 'object' || !Array.isArray((body as { keys?: unknown }).keys)) throw new KeySourceError(`The document at ${this.url} is not a JWKS.`);
      this.keys = createLocalJWKSet(body as JSONWebKeySet);
      this.kids = new Set((body as { keys: unknown[] }).keys.map((key) => (key as { kid?: unknown } | null)?.kid).filter((kid): kid is string => typeof kid === 'string'));
      this.fetchedAt = Date.now();
      this.lastError = undefined;
    } catch (error) {
      const timedOut = (error as { name?: string }).name === 'TimeoutError';
      this.lastError =
        error instanceof KeySourceError
          ? error
          : new KeySourceError(timedOut ? `The JWKS at ${this.url} did not answer within ${this.options.timeoutMs} ms.` : `The JWKS at ${this.url} could not be fetched.`, { cause: error });
      // Keys fetched earlier stay in use.
    }
  }
}
