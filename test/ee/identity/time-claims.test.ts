/**
 * Time claims (`exp`, `nbf`, `iat`) that no real token carries, signed with the key of a real
 * OpenID provider the tenant trusts: `exp: 1e308` was accepted (and made the cached identity's
 * expiry infinite), a negative `iat` or `nbf` passed. Each is refused with a 401 naming the claim,
 * audited, and the engine keeps serving (docs/security.md, "Access-token profile").
 */
import { expect } from 'chai';
import { CompactSign, importJWK } from 'jose';
import { startLocalIdp, mcpPost, bearer, type IdentityEngine, type LocalIdp, type LocalIdpAgent } from '../support/identity-engine.js';
import type { OidcFixture } from '../support/oidc.js';

const EXP = 'The token\'s expiry (exp) is out of range: it must be seconds since 1970-01-01T00:00:00Z, no later than 9999-12-31T23:59:59Z.';
const NBF = 'The token\'s not-before time (nbf) is out of range: it must be seconds since 1970-01-01T00:00:00Z, no later than 9999-12-31T23:59:59Z.';
const IAT = 'The token\'s issue time (iat) is out of range: it must be seconds since 1970-01-01T00:00:00Z, no later than 9999-12-31T23:59:59Z.';
const LAST_SECOND = 253_402_300_799; // 9999-12-31T23:59:59Z

describe('EE identity: out-of-range time claims', function () {
  this.timeout(60_000);
  let local: LocalIdp;
  let idp: OidcFixture;
  let t: IdentityEngine;
  let agent: LocalIdpAgent;
  let tenant: string;
  let url: string;

  before(async () => {
    local = await startLocalIdp('timekeeper');
    ({ oidc: idp, t } = local);
    agent = await local.agent({ tenant: 'times', name: 'Timekeeper' });
    ({ tenant, url } = agent);
  });
  after(() => local?.close());

  const now = (): number => Math.floor(Date.now() / 1000);
  const mint = (claims: Record<string, unknown>): Promise<string> => agent.mint(claims);

  /** Sign a payload given as JSON text with the provider's ES256 key (for numbers JSON.stringify cannot write, such as 1e400). */
  async function signText(payload: string): Promise<string> {
    const jwk = idp.keys.privateJwks().keys.find((key) => key.alg === 'ES256')!;
    return new CompactSign(new TextEncoder().encode(payload)).setProtectedHeader({ alg: 'ES256', kid: jwk.kid!, typ: 'at+jwt' }).sign(await importJWK(jwk, 'ES256'));
  }

  async function refused(token: string, description: string): Promise<void> {
    const before = t.audit.events.length;
    const response = await mcpPost(url, bearer(token));
    expect(response.status, JSON.stringify(response.body)).to.equal(401);
    expect(response.body.error).to.equal('invalid_token');
    expect(response.body.error_description).to.equal(description);
    expect(response.challenge).to.include('error="invalid_token"');
    const events = t.audit.events.slice(before);
    expect(events, 'one audit event').to.have.length(1);
    expect(events[0]).to.include({ tenant, decision: 'auth-failed', outcome: 'refused', reason: description });
  }

  async function stillServing(): Promise<void> {
    const response = await mcpPost(url, bearer(await agent.token()), 'tools/call');
    expect(response.status, JSON.stringify(response.body)).to.equal(200);
  }

  it('exp 1e308 was accepted, with an infinite expiry cached: it is refused as out of range, and the engine keeps serving', async () => {
    await refused(await mint({ exp: 1e308 }), EXP);
    await refused(await mint({ exp: 1e308 }), EXP);
    await stillServing();
  });

  it('an exp beyond 9999-12-31T23:59:59Z, however large, is refused as out of range', async () => {
    for (const exp of [LAST_SECOND + 1, Number.MAX_SAFE_INTEGER, 1e20, 8.64e15, Number.MAX_VALUE]) await refused(await mint({ exp }), EXP);
    // 1e400 is Infinity once parsed.
    const payload = `{"iss":${JSON.stringify(idp.issuer)},"client_id":${JSON.stringify(agent.client.clientId)},"sub":${JSON.stringify(agent.client.clientId)},"aud":${JSON.stringify(url)},"iat":${now()},"exp":1e400}`;
    await refused(await signText(payload), EXP);
    await stillServing();
  });

  it('a negative exp is refused as out of range, not merely as expired', async () => {
    for (const exp of [-1, -1e308, -0.5]) await refused(await mint({ exp }), EXP);
  });

  it('a negative nbf or iat was accepted: they are refused as out of range', async () => {
    for (const nbf of [-1, -1e308]) await refused(await mint({ nbf }), NBF);
    for (const iat of [-1, -1e308]) await refused(await mint({ iat }), IAT);
    await stillServing();
  });

  it('an nbf or iat far in the future is refused as out of range', async () => {
    for (const nbf of [1e308, LAST_SECOND + 1]) await refused(await mint({ nbf }), NBF);
    for (const iat of [1e308, LAST_SECOND + 1]) await refused(await mint({ iat }), IAT);
    // Within range, they keep their own reasons.
    await refused(await mint({ nbf: now() + 3600 }), 'The token is not valid yet (nbf).');
    await refused(await mint({ iat: now() + 3600 }), 'The token was issued in the future (iat).');
  });

  it('in-range times are accepted: fractional seconds (RFC 7519 NumericDate), nbf and iat at 1970, exp at the last representable second', async () => {
    for (const claims of [{ exp: now() + 300.25, iat: now() - 0.75, nbf: now() - 10.5 }, { nbf: 0 }, { iat: 0 }, { exp: LAST_SECOND }]) {
      const response = await mcpPost(url, bearer(await mint(claims)), 'tools/call');
      expect(response.status, `${JSON.stringify(claims)}: ${JSON.stringify(response.body)}`).to.equal(200);
    }
  });

  it('a signature that does not verify is named before any time claim', async () => {
    const token = await mint({ exp: 1e308 });
    const [head, body] = token.split('.');
    const other = (await mint({ jti: 'other' })).split('.')[2];
    await refused(`${head}.${body}.${other}`, 'The token\'s signature is invalid.');
  });
});
