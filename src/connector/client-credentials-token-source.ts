import * as oidc from 'openid-client';
import { ConnectorError } from './connector-error.js';
import { isTimeout, networkFailure } from './network-errors.js';
import type { StderrLogger } from './stderr-logger.js';
import type { TokenSource } from './token-source.js';

export interface ClientCredentialsOptions {
  readonly issuer: string | undefined;
  readonly tokenEndpoint: string | undefined;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scope: string | undefined;
  readonly resource: string | undefined;
  readonly clientAuth: 'basic' | 'post';
  readonly timeoutMs: number;
  readonly logger: StderrLogger;
  /** Injected clock, for tests of the refresh margin. */
  readonly now?: () => number;
}

interface CachedToken {
  readonly value: string;
  /** Epoch ms at which to stop using it (its expiry minus the refresh margin); Infinity when unknown. */
  readonly refreshAt: number;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Refresh this long before expiry: a fifth of the lifetime, at most a minute. */
export function refreshMarginMs(lifetimeMs: number): number {
  return Math.min(60_000, Math.floor(lifetimeMs / 5));
}

/** The HTTP status behind an openid-client error, when it came from a response. */
function httpStatusOf(error: unknown): number | undefined {
  const direct = (error as { status?: unknown })?.status;
  if (typeof direct === 'number') return direct;
  const cause = (error as { cause?: unknown })?.cause;
  return cause instanceof Response ? cause.status : undefined;
}

/** 401/403 with `invalid_client`, or with no OAuth error body at all. */
function rejectsClientAuthentication(error: unknown): boolean {
  const status = httpStatusOf(error);
  if (status !== 401 && status !== 403) return false;
  if (error instanceof oidc.ResponseBodyError) return error.error === 'invalid_client';
  if (error instanceof oidc.WWWAuthenticateChallengeError) {
    const code = error.cause[0]?.parameters?.error;
    return code === undefined || code === 'invalid_client';
  }
  return true;
}

function describeRejection(error: unknown): string {
  const status = httpStatusOf(error);
  const code = error instanceof oidc.ResponseBodyError ? error.error : undefined;
  return `HTTP ${status ?? '?'}${code ? ` ${code}` : ''}`;
}

/**
 * OAuth 2.0 client credentials at the agent's IdP (openid-client). Tokens are cached and replaced
 * shortly before they expire; concurrent requests that find the token stale share one token
 * request.
 */
export class ClientCredentialsTokenSource implements TokenSource {
  readonly description: string;
  readonly fixHint: string;
  private config: Promise<oidc.Configuration> | undefined;
  /** The client authentication method in use; starts as configured, may fall back once to post. */
  private method: 'basic' | 'post';
  private methodConfirmed = false;
  private current: CachedToken | undefined;
  private inFlight: Promise<CachedToken> | undefined;
  private readonly now: () => number;
  /** How many tokens this source has obtained (reported with --verbose). */
  fetched = 0;

  constructor(private readonly options: ClientCredentialsOptions) {
    this.now = options.now ?? Date.now;
    this.method = options.clientAuth;
    this.description = `client "${options.clientId}"`;
    this.fixHint = `Check --client-id and the client secret, and that the agent is registered with the server.`;
  }

  async token(): Promise<string> {
    const current = this.current;
    if (current && this.now() < current.refreshAt) return current.value;
    this.inFlight ??= this.fetchToken().finally(() => {
      this.inFlight = undefined;
    });
    return (await this.inFlight).value;
  }

  rejected(token: string): boolean {
    if (this.current?.value === token) this.current = undefined;
    return true;
  }

  private async fetchToken(): Promise<CachedToken> {
    const config = await (this.config ??= this.configure().catch((error: unknown) => {
      this.config = undefined;
      throw error;
    }));
    const parameters: Record<string, string> = {};
    if (this.options.scope) parameters.scope = this.options.scope;
    if (this.options.resource) parameters.resource = this.options.resource;
    const started = this.now();
    const endpoint = (): URL => new URL(config.serverMetadata().token_endpoint ?? this.options.tokenEndpoint ?? this.options.issuer!);
    let response;
    try {
      response = await oidc.clientCredentialsGrant(config, parameters);
    } catch (error) {
      // Some IdPs accept only client_secret_post and answer client_secret_basic with 401/403
      // invalid_client, or an empty 403: retry once with post, and keep using what worked.
      if (this.method !== 'basic' || this.methodConfirmed || !rejectsClientAuthentication(error)) throw this.idpFailure(error, endpoint());
      this.options.logger.info(`the IdP refused client_secret_basic (${describeRejection(error)}); retrying once with client_secret_post.`);
      const post = this.withMethod(config, 'post');
      try {
        response = await oidc.clientCredentialsGrant(post, parameters);
      } catch (retryError) {
        throw this.idpFailure(retryError, endpoint());
      }
      this.method = 'post';
      this.config = Promise.resolve(post);
    }
    if (!this.methodConfirmed) {
      this.methodConfirmed = true;
      this.options.logger.info(`client authentication with client_secret_${this.method} worked.`);
    }
    const lifetimeSeconds = response.expiresIn();
    const refreshAt = lifetimeSeconds === undefined ? Infinity : started + lifetimeSeconds * 1000 - refreshMarginMs(lifetimeSeconds * 1000);
    this.fetched++;
    this.options.logger.addSecret(response.access_token);
    this.options.logger.debug(`obtained an access token for ${this.description}${lifetimeSeconds === undefined ? '' : ` (expires in ${lifetimeSeconds} s)`}.`);
    this.current = { value: response.access_token, refreshAt };
    return this.current;
  }

  /** The same IdP configuration with another client authentication method. */
  private withMethod(config: oidc.Configuration, method: 'basic' | 'post'): oidc.Configuration {
    const { clientId, clientSecret } = this.options;
    const auth = method === 'post' ? oidc.ClientSecretPost(clientSecret) : oidc.ClientSecretBasic(clientSecret);
    const next = new oidc.Configuration(config.serverMetadata(), clientId, undefined, auth);
    if (new URL(config.serverMetadata().token_endpoint ?? config.serverMetadata().issuer).protocol === 'http:') oidc.allowInsecureRequests(next);
    next.timeout = config.timeout;
    return next;
  }

  private async configure(): Promise<oidc.Configuration> {
    const { issuer, tokenEndpoint, clientId, clientSecret } = this.options;
    const auth = this.method === 'post' ? oidc.ClientSecretPost(clientSecret) : oidc.ClientSecretBasic(clientSecret);
    const target = new URL((issuer ?? tokenEndpoint)!);
    if (target.protocol === 'http:' && !LOOPBACK.has(target.hostname)) {
      throw new ConnectorError('config', `The IdP URL ${target.origin} is plain http; only https (or http on this machine) is allowed for credentials.`);
    }
    const insecure = target.protocol === 'http:';
    let config: oidc.Configuration;
    if (issuer) {
      try {
        config = await oidc.discovery(target, clientId, undefined, auth, {
          execute: insecure ? [oidc.allowInsecureRequests] : [],
          timeout: Math.ceil(this.options.timeoutMs / 1000),
        });
      } catch (error) {
        throw this.idpFailure(error, target, true);
      }
    } else {
      config = new oidc.Configuration({ issuer: target.origin, token_endpoint: target.href }, clientId, undefined, auth);
      if (insecure) oidc.allowInsecureRequests(config);
    }
    config.timeout = Math.ceil(this.options.timeoutMs / 1000);
    return config;
  }

  private idpFailure(error: unknown, target: URL, discovery = false): ConnectorError {
    if (error instanceof ConnectorError) return error;
    const flag = this.options.issuer ? '--issuer' : '--token-endpoint';
    let refusal: { error: string; description: string | undefined } | undefined;
    if (error instanceof oidc.ResponseBodyError) refusal = { error: error.error, description: error.error_description };
    if (error instanceof oidc.WWWAuthenticateChallengeError) {
      const parameters = error.cause[0]?.parameters;
      refusal = { error: parameters?.error ?? (error.status === 401 ? 'invalid_client' : `HTTP ${error.status}`), description: parameters?.error_description };
    }
    const status = httpStatusOf(error);
    if (!refusal && status !== undefined && status >= 400 && status < 500) {
      // An empty or non-JSON 4xx: the body says nothing, the status says the client was refused.
      return new ConnectorError('idp', `the IdP rejected the client credentials (HTTP ${status}). Check --client-id and the client secret.`);
    }
    if (refusal) {
      const detail = `${refusal.error}${refusal.description ? `: ${refusal.description}` : ''}`;
      switch (refusal.error) {
        case 'invalid_client':
        case 'unauthorized_client':
          return new ConnectorError('idp', `the IdP rejected the client credentials (${detail}). Check --client-id and the client secret.`);
        case 'invalid_target':
          return new ConnectorError('idp', `the IdP rejected the resource indicator (${detail}). Fix --resource, or pass --no-resource if this IdP does not support it.`);
        case 'invalid_scope':
          return new ConnectorError('idp', `the IdP rejected the requested scope (${detail}). Fix --scope.`);
        default:
          return new ConnectorError('idp', `the IdP refused a token (${detail}). Check the client's configuration at the IdP.`);
      }
    }
    if (discovery && !isTimeout(error) && !(error instanceof TypeError)) {
      const detail = error instanceof Error ? error.message : String(error);
      return new ConnectorError('idp', `OpenID discovery at ${target.origin} failed (${detail}). Check ${flag}, or use --token-endpoint.`);
    }
    if (error instanceof oidc.ClientError || (error instanceof Error && !(error instanceof TypeError) && !isTimeout(error))) {
      return new ConnectorError('idp', `the IdP's token endpoint answered unexpectedly (${error.message}). Check ${flag}.`);
    }
    const failure = networkFailure(error, target, 'the IdP', flag, this.options.timeoutMs);
    return new ConnectorError(failure.kind, failure.message, false, { cause: error });
  }
}
