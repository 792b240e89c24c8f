import { inject, injectable } from 'inversify';
import type { JWTVerifyGetKey } from 'jose';
import { allowInsecureRequests, customFetch, discovery } from 'openid-client';
import { SpanStatusCode } from '@opentelemetry/api';
import { Telemetry } from '../../../core/index.js';
import { isLoopbackHttp, outboundFetch } from '../outbound-fetch.js';
import { EnterpriseSettings } from './enterprise-options.js';
import type { IdpProvider } from './idp-provider-store.js';
import { IssuerMismatchError, KeySourceError, RemoteKeySet } from './remote-key-set.js';

export { IssuerMismatchError, KeySourceError, UnusableKeyError } from './remote-key-set.js';

const JWKS_MAX_AGE_MS = 10 * 60_000;

interface Discovered {
  /** The JWKS URL: found by this discovery, or, when it failed for an outage, by the last one that succeeded. */
  readonly jwksUri: string | undefined;
  /** Why this discovery failed; undefined when it succeeded. */
  readonly error: KeySourceError | undefined;
  /** When discovery runs again. */
  readonly until: number;
}

/** The discovery document's URL for a discovery source (an issuer, or the document's own URL). */
function documentUrl(source: URL): string {
  if (source.href.includes('/.well-known/')) return source.href;
  return `${source.href.replace(/\/$/, '')}/.well-known/openid-configuration`;
}

/** The issuer named by a discovery document that openid-client refused for naming another issuer. */
function discoveredIssuer(error: unknown): string | undefined {
  const { code, cause } = (error ?? {}) as { code?: unknown; cause?: { attribute?: unknown; body?: { issuer?: unknown } } };
  if (code !== 'OAUTH_JSON_ATTRIBUTE_COMPARISON_FAILED' || cause?.attribute !== 'issuer') return undefined;
  return typeof cause.body?.issuer === 'string' ? cause.body.issuer : undefined;
}

/**
 * Signing keys of identity providers: the JWKS URL (configured, or found by OpenID discovery and
 * cached for `discoveryCacheTtlMs`, an hour by default) and one {@link RemoteKeySet} per URL. A
 * failed discovery is retried after the refetch cooldown; while it fails for an outage, what the
 * last successful one found stays in use, with the keys fetched from it. A token with an unknown
 * `kid` makes the key set refetch, at most once per cooldown — failed and timed-out fetches count
 * too — so neither forged `kid`s nor an IdP outage can make us hammer the IdP.
 */
@injectable()
export class JwksCache {
  private readonly sets = new Map<string, RemoteKeySet>();
  private readonly discovered = new Map<string, Promise<Discovered>>();
  /** The outcome of each source's last discovery, once it is known. */
  private readonly settled = new Map<string, Discovered>();

  constructor(
    @inject(EnterpriseSettings) private readonly settings: EnterpriseSettings,
    @inject(Telemetry) private readonly telemetry: Telemetry,
  ) {}

  /** The key resolver for `idp`'s tokens. */
  async keysFor(idp: IdpProvider): Promise<JWTVerifyGetKey> {
    const jwksUri = idp.jwksUri ?? (await this.discoverJwksUri(idp));
    return this.keySet(jwksUri).getKey;
  }

  /**
   * Seconds until `idp`'s keys will be sought again (discovery when it failed, else the JWKS,
   * whose refetches wait for the cooldown), at least 1: how long an agent whose token could not be
   * verified for an outage is asked to wait.
   */
  retryAfterSeconds(idp: IdpProvider): number {
    const now = Date.now();
    let next = now;
    let jwksUri = idp.jwksUri ?? undefined;
    if (!jwksUri) {
      const discovered = this.settled.get(this.discoveryKey(idp));
      if (discovered?.error !== undefined) next = Math.max(next, discovered.until);
      jwksUri = discovered?.jwksUri;
    }
    const set = jwksUri ? this.sets.get(jwksUri) : undefined;
    if (set?.lastError) next = Math.max(next, set.nextAttemptAt());
    return Math.max(1, Math.ceil((next - now) / 1000));
  }

  /** The key set fetched from `jwksUri` (its fetch attempts and last failure). */
  keySet(jwksUri: string): RemoteKeySet {
    let set = this.sets.get(jwksUri);
    if (!set) {
      const created: RemoteKeySet = new RemoteKeySet(jwksUri, {
        cooldownMs: this.settings.jwksRefetchCooldownMs,
        maxAgeMs: JWKS_MAX_AGE_MS,
        timeoutMs: this.settings.jwksFetchTimeoutMs,
        // Each download is a span (under the authentication that needed it) and a count.
        observe: (attempt) =>
          this.telemetry.span(
            'gatehouse.jwks.fetch',
            undefined,
            async (span) => {
              await attempt();
              const ok = created.lastError === undefined;
              this.telemetry.jwksFetch(ok ? 'ok' : 'error');
              if (!ok && span.isRecording()) {
                span.setAttribute('error.type', 'KeySourceError');
                span.setStatus({ code: SpanStatusCode.ERROR });
              }
            },
            { 'url.full': jwksUri },
          ),
      });
      set = created;
      this.sets.set(jwksUri, set);
    }
    return set;
  }

  /** Run discovery (when needed) and fetch the JWKS now: for an admin "test this provider" action. */
  async probe(idp: IdpProvider): Promise<{ jwksUri: string; keyIds: string[] }> {
    const jwksUri = idp.jwksUri ?? (await this.discoverJwksUri(idp, true));
    let response: Response;
    try {
      response = await outboundFetch(jwksUri, { signal: AbortSignal.timeout(this.settings.jwksFetchTimeoutMs), headers: { accept: 'application/json' } });
    } catch (error) {
      throw new KeySourceError(`The JWKS at ${jwksUri} could not be fetched.`, { cause: error });
    }
    if (!response.ok) throw new KeySourceError(`The JWKS at ${jwksUri} answered HTTP ${response.status}.`);
    const body = (await response.json().catch(() => undefined)) as { keys?: { kid?: unknown }[] } | undefined;
    if (!body || !Array.isArray(body.keys)) throw new KeySourceError(`The document at ${jwksUri} is not a JWKS.`);
    return { jwksUri, keyIds: body.keys.map((key) => (typeof key.kid === 'string' ? key.kid : '')).filter(Boolean) };
  }

  private discoveryKey(idp: IdpProvider): string {
    return `${idp.issuer} ${idp.discoveryUrl ?? idp.issuer}`;
  }

  /** Why the last fetch of `idp`'s keys failed, until one succeeds (keys fetched before stay in use meanwhile). */
  keysFailing(idp: IdpProvider): KeySourceError | undefined {
    const jwksUri = idp.jwksUri ?? this.settled.get(this.discoveryKey(idp))?.jwksUri;
    return jwksUri ? this.sets.get(jwksUri)?.lastError : undefined;
  }

  /** Whether `idp`'s keys, as last fetched, include one with id `kid`; undefined when none were fetched. */
  publishes(idp: IdpProvider, kid: string): boolean | undefined {
    const jwksUri = idp.jwksUri ?? this.settled.get(this.discoveryKey(idp))?.jwksUri;
    return jwksUri ? this.sets.get(jwksUri)?.publishes(kid) : undefined;
  }

  /**
   * Why the last discovery for `idp` failed while what an earlier one found is still in use (an
   * outage of the discovery endpoint); undefined when discovery is current or not used.
   */
  staleDiscovery(idp: IdpProvider): KeySourceError | undefined {
    if (idp.jwksUri) return undefined;
    const discovered = this.settled.get(this.discoveryKey(idp));
    return discovered?.jwksUri === undefined ? undefined : discovered.error;
  }

  private async discoverJwksUri(idp: IdpProvider, fresh = false): Promise<string> {
    const key = this.discoveryKey(idp);
    let entry = fresh ? undefined : this.discovered.get(key);
    let result = entry ? await entry : undefined;
    if (!result || result.until <= Date.now()) {
      const current = this.discovered.get(key);
      if (!fresh && current !== undefined && current !== entry) {
        // Another request has started discovery again meanwhile: share it.
        result = await current;
      } else {
        entry = this.rediscover(idp, key);
        this.discovered.set(key, entry);
        result = await entry;
      }
    }
    // A probe reports the failure even while earlier metadata stays in use for tokens.
    if (!result.jwksUri || (fresh && result.error)) throw result.error!;
    return result.jwksUri;
  }

  /** Run discovery; when it fails for an outage, keep what the last successful one found. */
  private async rediscover(idp: IdpProvider, key: string): Promise<Discovered> {
    const found = await this.discover(idp.issuer, idp.discoveryUrl ?? idp.issuer);
    const last = this.settled.get(key);
    // A document naming another issuer is no outage: the provider's configuration is wrong, and
    // keys found under it before are not kept.
    const keep = found.error !== undefined && !(found.error instanceof IssuerMismatchError) && last?.jwksUri !== undefined;
    const discovered = keep ? { ...found, jwksUri: last!.jwksUri } : found;
    this.settled.set(key, discovered);
    return discovered;
  }

  private async discover(issuer: string, source: string): Promise<Discovered> {
    let url: URL | undefined;
    try {
      url = new URL(source);
      const insecure = isLoopbackHttp(url);
      // openid-client counts its timeout in whole seconds; the configured bound is in milliseconds.
      const timeoutMs = this.settings.jwksFetchTimeoutMs;
      const config = await discovery(url, 'gatehouse', undefined, undefined, {
        execute: insecure ? [allowInsecureRequests] : [],
        timeout: Math.max(1, Math.ceil(timeoutMs / 1000)),
        [customFetch]: (target, options) =>
          outboundFetch(target, {
            method: options.method,
            headers: options.headers,
            body: typeof options.body === 'string' ? options.body : undefined,
            signal: options.signal ? AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
          }),
      });
      const metadata = config.serverMetadata();
      // openid-client compares URLs after parsing them (a bare origin's trailing slash is the same
      // URL) and not at all for a `.well-known` discovery URL; tokens carry the issuer as a string.
      if (metadata.issuer !== issuer) throw new IssuerMismatchError(issuer, metadata.issuer, documentUrl(url));
      if (!metadata.jwks_uri) throw new Error('the discovery document has no jwks_uri');
      return { jwksUri: metadata.jwks_uri, error: undefined, until: Date.now() + this.settings.discoveryCacheTtlMs };
    } catch (error) {
      const named = url ? discoveredIssuer(error) : undefined;
      // A misconfigured issuer is named as such, with both values; other failures keep their cause.
      const failure =
        error instanceof IssuerMismatchError ? error : named !== undefined ? new IssuerMismatchError(issuer, named, documentUrl(url!)) : new KeySourceError(`OpenID discovery for ${issuer} failed.`, { cause: error });
      return { jwksUri: undefined, error: failure, until: Date.now() + this.settings.jwksRefetchCooldownMs };
    }
  }
}
