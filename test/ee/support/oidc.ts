/**
 * Identity provider fixtures for Enterprise tests, all on 127.0.0.1:
 *
 * - {@link startOidcProvider}: a real `oidc-provider` issuing JWT access tokens by client
 *   credentials, with resource indicators (the token's `aud` is the requested `resource`), dynamic
 *   client registration, and a JWKS endpoint that the test controls (key rotation, request count).
 * - {@link startJwksServer}: a bare JWKS endpoint with a key ring, for tokens that claim to come
 *   from elsewhere (Entra, Google, Keycloak shapes).
 *
 * Both can mint arbitrary tokens with their own keys or with keys nobody trusts.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import Provider from 'oidc-provider';

export type SigningAlg = 'ES256' | 'RS256' | 'PS256';

interface RingKey {
  readonly kid: string;
  readonly alg: SigningAlg;
  readonly privateKey: CryptoKey;
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}

async function makeKey(alg: SigningAlg, kid = `k-${randomBytes(6).toString('hex')}`): Promise<RingKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg, use: 'sig' };
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, privateJwk, publicJwk };
}

/** An EC `jwk` made unusable: its point is not on its curve. */
const damagedJwk = (jwk: JWK): JWK => ({ ...jwk, x: 'AAAA' });

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

export interface MintOptions {
  /** Signing algorithm of the key to use. Default ES256. */
  readonly alg?: SigningAlg;
  /** Use this kid in the header (whatever key signs). */
  readonly kid?: string;
  /** Sign with a fresh key that is not published (an attacker's key). */
  readonly untrustedKey?: boolean;
  /** Header `typ`. Default `at+jwt`; `null` omits it. */
  readonly typ?: string | null;
  /** Lifetime in seconds from now (negative: already expired). Default 300. */
  readonly expiresIn?: number;
  /** `nbf` in seconds from now. */
  readonly notBeforeIn?: number;
}

/** A set of signing keys, published as a JWKS, that can sign tokens and rotate. */
export class KeyRing {
  private published: RingKey[] = [];
  /** How many times the JWKS was fetched. */
  jwksRequests = 0;

  static async create(algs: readonly SigningAlg[] = ['ES256', 'RS256']): Promise<KeyRing> {
    const ring = new KeyRing();
    for (const alg of algs) ring.published.push(await makeKey(alg));
    return ring;
  }

  /** Kids whose public key is published damaged (see {@link damage}). */
  private readonly damaged = new Set<string>();

  /** The public JWKS as served. */
  jwks(): { keys: JWK[] } {
    return { keys: this.published.map((key) => (this.damaged.has(key.kid) ? damagedJwk(key.publicJwk) : key.publicJwk)) };
  }

  /**
   * Publish the ES256 key damaged (a key that cannot be imported: its point is not on the curve),
   * under its own kid, until the returned function publishes it intact. Tokens are still signed
   * with the real private key. Returns the kid and the repair.
   */
  damage(): { kid: string; repair: () => void } {
    const key = this.published.find((k) => k.alg === 'ES256');
    if (!key) throw new Error('no ES256 key in the ring');
    this.damaged.add(key.kid);
    return { kid: key.kid, repair: () => void this.damaged.delete(key.kid) };
  }

  /** Private JWKs (for an authorization server that signs with them). */
  privateJwks(): { keys: JWK[] } {
    return { keys: this.published.map((key) => key.privateJwk) };
  }

  /** Publish a new key of `alg`, used first by {@link sign} from now on; returns its kid. */
  async rotate(alg: SigningAlg = 'ES256'): Promise<string> {
    const key = await makeKey(alg);
    this.published.unshift(key);
    return key.kid;
  }

  /** Stop publishing the key `kid` (it no longer verifies anything); the returned function publishes it again, last. */
  retire(kid: string): () => void {
    const key = this.published.find((k) => k.kid === kid);
    if (!key) throw new Error(`no key ${kid} in the ring`);
    this.published = this.published.filter((k) => k !== key);
    return () => void this.published.push(key);
  }

  /** Make a key that will be published only when {@link publish} is called; returns its kid. */
  async prepare(alg: SigningAlg = 'ES256'): Promise<{ kid: string; publish: () => void }> {
    const key = await makeKey(alg);
    this.pending.set(key.kid, key);
    return { kid: key.kid, publish: () => this.published.unshift(key) };
  }

  private readonly pending = new Map<string, RingKey>();

  /** Sign `claims` (iat/exp filled in). */
  async sign(claims: JWTPayload, options: MintOptions = {}): Promise<string> {
    const alg = options.alg ?? 'ES256';
    let key: RingKey | undefined;
    if (options.untrustedKey) key = await makeKey(alg);
    else if (options.kid) key = this.published.find((k) => k.kid === options.kid) ?? this.pending.get(options.kid);
    else key = this.published.find((k) => k.alg === alg);
    if (!key) throw new Error(`no ${alg} key in the ring`);
    const now = Math.floor(Date.now() / 1000);
    const header: { alg: string; kid: string; typ?: string } = { alg: key.alg, kid: options.kid ?? key.kid };
    const typ = options.typ === undefined ? 'at+jwt' : options.typ;
    if (typ !== null) header.typ = typ;
    const jwt = new SignJWT({ iat: now, exp: now + (options.expiresIn ?? 300), ...claims }).setProtectedHeader(header);
    if (options.notBeforeIn !== undefined) jwt.setNotBefore(now + options.notBeforeIn);
    return jwt.sign(key.privateKey);
  }

  /** An unsigned token (`alg: none`). */
  unsigned(claims: JWTPayload): string {
    const now = Math.floor(Date.now() / 1000);
    return `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ iat: now, exp: now + 300, ...claims })}.`;
  }

  /** An HS256 token whose HMAC secret is a published public key (the algorithm-confusion attack). */
  async hmacWithPublicKey(claims: JWTPayload): Promise<string> {
    const key = this.published.find((k) => k.alg === 'RS256') ?? this.published[0]!;
    const now = Math.floor(Date.now() / 1000);
    const secret = new TextEncoder().encode(JSON.stringify(key.publicJwk));
    return new SignJWT({ iat: now, exp: now + 300, ...claims }).setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: key.kid }).sign(secret);
  }

  /** Count a JWKS fetch and answer it. */
  serve(res: http.ServerResponse): void {
    this.jwksRequests++;
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    res.end(JSON.stringify(this.jwks()));
  }
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function shut(server: http.Server): Promise<void> {
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export interface JwksServer {
  /** The URL of the JWKS document. */
  readonly jwksUri: string;
  readonly keys: KeyRing;
  close(): Promise<void>;
}

/** A JWKS endpoint on 127.0.0.1 serving `keys` at `/keys`. */
export async function startJwksServer(keys?: KeyRing): Promise<JwksServer> {
  const ring = keys ?? (await KeyRing.create(['RS256', 'ES256']));
  const server = http.createServer((req, res) => {
    if (req.url === '/keys') return ring.serve(res);
    res.writeHead(404).end();
  });
  const base = await listen(server);
  return { jwksUri: `${base}/keys`, keys: ring, close: () => shut(server) };
}

export interface OidcClient {
  readonly clientId: string;
  readonly clientSecret: string;
}

export interface OidcFixture {
  /** The issuer (`iss` of its tokens), e.g. `http://127.0.0.1:40111`. */
  readonly issuer: string;
  readonly jwksUri: string;
  readonly tokenEndpoint: string;
  /** The provider's signing keys (also usable to mint arbitrary tokens it would appear to issue). */
  readonly keys: KeyRing;
  /** Register a client allowed the client-credentials grant (dynamic client registration). */
  registerClient(name?: string, authMethod?: 'client_secret_basic' | 'client_secret_post'): Promise<OidcClient>;
  /** Get an access token by client credentials for `resource` (RFC 8707). */
  token(client: OidcClient, options: { resource: string; scope?: string }): Promise<string>;
  /** Mint a token with this issuer's `iss` and the given claims, signed by the ring (see {@link MintOptions}). */
  mint(claims: JWTPayload, options?: MintOptions): Promise<string>;
  /** Stop answering (an outage): the port is closed and open connections are dropped. */
  stop(): Promise<void>;
  /** Answer again on the same port, with the same keys and clients. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export interface OidcFixtureOptions {
  /** Algorithm of the provider's access tokens. Default ES256. */
  readonly accessTokenAlg?: SigningAlg;
  /** Access token lifetime in seconds. Default 300. */
  readonly accessTokenTtl?: number;
}

/**
 * Start a real OpenID provider on 127.0.0.1. Access tokens for a resource indicator are JWTs
 * (`typ: at+jwt`) with `aud` = the resource, `client_id` and `sub` = the client id, scope `mcp`.
 */
export async function startOidcProvider(options: OidcFixtureOptions = {}): Promise<OidcFixture> {
  const keys = await KeyRing.create(['ES256', 'RS256']);
  const alg = options.accessTokenAlg ?? 'ES256';
  let provider: Provider | undefined;
  const server = http.createServer((req, res) => {
    // The JWKS is served by the ring so tests can rotate keys and count fetches; a query string
    // makes a URL of its own (keys cached under it are fetched afresh).
    if (req.url?.split('?')[0] === '/jwks') return keys.serve(res);
    provider!.callback()(req, res);
  });
  const issuer = await listen(server);
  provider = new Provider(issuer, {
    jwks: keys.privateJwks(),
    clients: [],
    scopes: ['mcp'],
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      registration: { enabled: true, initialAccessToken: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: async () => undefined,
        useGrantedResource: async () => true,
        getResourceServerInfo: async (_ctx: unknown, resource: string) => ({
          scope: 'mcp',
          audience: resource,
          accessTokenTTL: options.accessTokenTtl ?? 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg } },
        }),
      },
    },
    ttl: { ClientCredentials: options.accessTokenTtl ?? 300 },
    cookies: { keys: [randomBytes(16).toString('hex')] },
  });

  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    tokenEndpoint: `${issuer}/token`,
    keys,
    async registerClient(name = 'agent', authMethod = 'client_secret_basic') {
      const response = await fetch(`${issuer}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_name: name,
          grant_types: ['client_credentials'],
          response_types: [],
          redirect_uris: [],
          token_endpoint_auth_method: authMethod,
        }),
      });
      const body = (await response.json()) as { client_id?: string; client_secret?: string; error_description?: string };
      if (!response.ok || !body.client_id || !body.client_secret) throw new Error(`client registration failed: ${JSON.stringify(body)}`);
      return { clientId: body.client_id, clientSecret: body.client_secret };
    },
    async token(client, tokenOptions) {
      const response = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', resource: tokenOptions.resource, scope: tokenOptions.scope ?? 'mcp' }),
      });
      const body = (await response.json()) as { access_token?: string };
      if (!response.ok || !body.access_token) throw new Error(`token request failed: ${JSON.stringify(body)}`);
      return body.access_token;
    },
    // Like the provider's own client-credentials tokens, `sub` is the client id unless given.
    mint: (claims, mintOptions) => keys.sign({ iss: issuer, ...(typeof claims.client_id === 'string' ? { sub: claims.client_id } : {}), ...claims }, mintOptions),
    stop: () => shut(server),
    restart: () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(Number(new URL(issuer).port), '127.0.0.1', () => resolve());
      }),
    close: () => (server.listening ? shut(server) : Promise.resolve()),
  };
}
