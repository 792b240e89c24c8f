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

const DISCOVERY_TTL_MS = 60 * 60_000;
const JWKS_MAX_AGE_MS = 10 * 60_000;

interface Discovered {
  readonly jwksUri: string | undefined;
  readonly error: unknown;
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
 * cached for an hour; a failed discovery is retried after the refetch cooldown) and one
 * {@link RemoteKeySet} per URL. A token with an unknown `kid` makes the
 * key set refetch, at most once per cooldown — failed and timed-out fetches count too — so neither
 * forged `kid`s nor an IdP outage can make us hammer the IdP.
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

  private async discoverJwksUri(idp: IdpProvider, fresh = false): Promise<string> {
    const source = idp.discoveryUrl ?? idp.issuer;
    const key = this.discoveryKey(idp);
    let entry = fresh ? undefined : this.discovered.get(key);
    let result = entry ? await entry : undefined;
    if (!result || result.until <= Date.now()) {
      entry = this.discover(idp.issuer, source).then((discovered) => {
        this.settled.set(key, discovered);
        return discovered;
      });
      this.discovered.set(key, entry);
      result = await entry;
    }
    if (!result.jwksUri) {
      // A misconfigured issuer is named as such, with both values; other failures keep their cause.
      if (result.error instanceof IssuerMismatchError) throw result.error;
      throw new KeySourceError(`OpenID discovery for ${idp.issuer} failed.`, { cause: result.error });
    }
    return result.jwksUri;
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
      return { jwksUri: metadata.jwks_uri, error: undefined, until: Date.now() + DISCOVERY_TTL_MS };
    } catch (error) {
      const named = url ? discoveredIssuer(error) : undefined;
      return { jwksUri: undefined, error: named === undefined ? error : new IssuerMismatchError(issuer, named, documentUrl(url!)), until: Date.now() + this.settings.jwksRefetchCooldownMs };
    }
  }
}
