/**
 * Item 1 of the hardening work: the access-token profile (RFC 9068, RFC 8725) holds whatever the
 * IdP's subject claim, and the audience names exactly this tenant's resource.
 */
import { expect } from 'chai';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { startIdentityEngine, mcpPost, bearer, type IdentityEngine } from '../support/identity-engine.js';
import { startJwksServer, startOidcProvider, type JwksServer, type OidcClient, type OidcFixture } from '../support/oidc.js';

describe('EE identity: strict access-token profile (RFC 9068 / RFC 8725)', function () {
  this.timeout(60_000);
  let idp: OidcFixture;
  let t: IdentityEngine;
  let tenant: string;
  let url: string;
  let client: OidcClient;

  before(async () => {
    idp = await startOidcProvider();
    t = await startIdentityEngine();
    tenant = uniqueTenant('profile');
    url = t.engine.mcpUrl(tenant);
    const provider = await t.idps.create(tenant, { kind: 'custom', name: 'Local IdP', issuer: idp.issuer, subjectClaim: 'client_id' });
    client = await idp.registerClient('profile-agent');
    await t.agents.create(tenant, { name: 'Profile bot', idpId: provider.id, subject: client.clientId });
  });
  after(async () => {
    await t?.close();
    await idp?.close();
  });

  const claims = (extra: Record<string, unknown> = {}) => ({ aud: url, client_id: client.clientId, sub: client.clientId, ...extra });

  async function refused(token: string, description: string, error = 'invalid_token', headers = bearer(token)): Promise<void> {
    const response = await mcpPost(url, headers);
    expect(response.status, JSON.stringify(response.body)).to.equal(401);
    expect(response.body.error).to.equal(error);
    expect(response.body.error_description).to.equal(description);
    expect(response.challenge).to.include(`error="${error}"`);
  }

  async function accepted(token: string): Promise<void> {
    const response = await mcpPost(url, bearer(token));
    expect(response.status, JSON.stringify(response.body)).to.equal(200);
  }

  it('the oidc-provider token itself is accepted (control)', async () => {
    await accepted(await idp.token(client, { resource: url }));
  });

  describe('required claims and their types', () => {
    it('refuses a token without sub even though the agent is named by client_id', async () => {
      await refused(await idp.keys.sign({ iss: idp.issuer, aud: url, client_id: client.clientId }), 'The token has no subject (sub).');
    });

    it('refuses an empty or non-string sub', async () => {
      for (const sub of ['', 42, ['x'], { id: 'x' }, true]) {
        await refused(await idp.mint(claims({ sub })), 'The token\'s subject (sub) must be a non-empty string.');
      }
    });

    it('refuses a token without iat, and a non-numeric iat', async () => {
      await refused(await idp.mint(claims({ iat: undefined })), 'The token has no issue time (iat).');
      await refused(await idp.mint(claims({ iat: String(Math.floor(Date.now() / 1000)) })), 'The token\'s issue time (iat) must be a number.');
    });

    it('refuses an iat in the future beyond the clock skew, accepts one within it', async () => {
      const now = Math.floor(Date.now() / 1000);
      await refused(await idp.mint(claims({ iat: now + 600, exp: now + 900 })), 'The token was issued in the future (iat).');
      await accepted(await idp.mint(claims({ iat: now + 30 })));
    });

    it('refuses a token without exp, and a non-numeric exp', async () => {
      await refused(await idp.mint(claims({ exp: undefined })), 'The token has no expiry (exp).');
      await refused(await idp.mint(claims({ exp: String(Math.floor(Date.now() / 1000) + 300) })), 'The token\'s expiry (exp) must be a number.');
    });

    it('refuses a token without aud, and an aud that is not a string or an array of strings', async () => {
      await refused(await idp.mint(claims({ aud: undefined })), 'The token has no audience (aud).');
      for (const aud of [[url, 7], [], 7, { url }]) {
        await refused(await idp.mint(claims({ aud })), 'The token\'s audience (aud) must be a string or an array of strings.');
      }
    });
  });

  describe('strict compact serialisation', () => {
    const notCompact = 'The token is not a compact JWS: it must be three base64url segments without padding, whitespace or other characters.';

    it('refuses padding, standard-base64 characters, extra or missing segments and stray characters', async () => {
      const token = await idp.mint(claims());
      const [h, p, s] = token.split('.') as [string, string, string];
      const variants = [
        `${h}.${p}.${s}=`,
        `${h}=.${p}.${s}`,
        `${h}.${p}==.${s}`,
        `${h}.${p}.${s}.`,
        `${h}.${p}.${s}.${s}`,
        `${h}.${p}`,
        `.${h}.${p}.${s}`,
        `${h}..${p}.${s}`,
        `${h}.${p.replace(/-/g, '+').replace(/_/g, '/')}+/.${s}`,
        `${h}.${p}.${s}%3D`,
        `${h}.${p}.${s}\u00e9`,
      ];
      for (const variant of variants) await refused(variant, notCompact);
      await accepted(token);
    });

    it('refuses whitespace inside the token as a malformed Authorization header', async () => {
      const token = await idp.mint(claims());
      const [h, p, s] = token.split('.') as [string, string, string];
      for (const value of [`Bearer ${h}. ${p}.${s}`, `Bearer ${h}.${p}.\t${s}`]) {
        await refused(token, 'The Authorization header must be "Bearer <token>".', 'invalid_request', { authorization: value });
      }
    });
  });

  describe('ID tokens are not access tokens', () => {
    it('refuses a token carrying nonce, at_hash or c_hash', async () => {
      for (const claim of ['nonce', 'at_hash', 'c_hash']) {
        await refused(await idp.mint(claims({ [claim]: 'abc123' }), { typ: 'JWT' }), `The token is an OpenID ID token (it carries "${claim}"), not an access token.`);
      }
    });

    it('refuses a header typ that is not an access-token type, and a Keycloak "ID" typ claim', async () => {
      for (const typ of ['id_token+jwt', 'logout+jwt', 'secevent+jwt', 'dpop+jwt']) {
        await refused(await idp.mint(claims(), { typ }), `Tokens of type "${typ}" are not access tokens.`);
      }
      await refused(await idp.mint(claims({ typ: 'ID' }), { typ: 'JWT' }), 'The token\'s "typ" claim ("ID") is not an access-token type.');
      await refused(await idp.mint(claims({ typ: 'Refresh' }), { typ: 'JWT' }), 'The token\'s "typ" claim ("Refresh") is not an access-token type.');
      await accepted(await idp.mint(claims({ typ: 'Bearer' }), { typ: 'JWT' }));
    });
  });

  describe('the audience names exactly this resource', () => {
    const other = 'The token was issued for another resource (aud).';

    it('normalises only scheme and host case and one trailing slash', async () => {
      const u = new URL(url);
      await accepted(await idp.mint(claims({ aud: `HTTP://${u.host.toUpperCase()}${u.pathname}` })));
      await accepted(await idp.mint(claims({ aud: `${url}/` })));
    });

    it('treats dot-segments, userinfo, fragments, repeated slashes and queries as another resource', async () => {
      const u = new URL(url);
      const path = u.pathname; // /t/<tenant>/api/mcp
      const variants = [
        `${u.origin}${path.replace('/api/', '/api/./')}`,
        `${u.origin}${path.replace('/api/mcp', '/x/../api/mcp')}`,
        `${u.origin}${path.replace('/api/', '/api/%2e/')}`,
        `http://user@${u.host}${path}`,
        `http://user:pass@${u.host}${path}`,
        `${url}#frag`,
        `${url}#`,
        `${url}?a=b`,
        `${url}?`,
        `${url}//`,
        `${u.origin}/${path}`,
        `${u.origin}${path.replace('/api/', '/api//')}`,
        `${url} `,
        `${url.replace('/api/mcp', '/api/MCP')}`,
      ];
      for (const aud of variants) await refused(await idp.mint(claims({ aud })), other);
    });
  });

  describe('every documented refusal, word for word', () => {
    it('issuer, type, signature, lifetime and agent binding', async () => {
      await refused(await idp.keys.sign({ aud: url, sub: client.clientId, client_id: client.clientId }), 'The token has no issuer (iss).');
      const token = await idp.mint(claims());
      const [h, p, sig] = token.split('.') as [string, string, string];
      const flipped = `${sig.slice(0, 10)}${sig[10] === 'A' ? 'B' : 'A'}${sig.slice(11)}`;
      await refused(`${h}.${p}.${flipped}`, 'The token\'s signature is invalid.');
      await refused(await idp.mint(claims(), { expiresIn: -600 }), 'The token has expired.');
      await refused(await idp.mint(claims(), { notBeforeIn: 600 }), 'The token is not valid yet (nbf).');
      await refused(await idp.mint({ aud: url, client_id: 'nobody-here', sub: 'nobody-here' }), 'No agent of this tenant is bound to this identity.');
      const provider = (await t.idps.list(tenant))[0]!;
      const retired = await t.agents.create(tenant, { name: 'Retired bot', idpId: provider.id, subject: 'retired-client' });
      await t.agents.setActive(tenant, retired.id, false);
      await refused(await idp.mint({ aud: url, client_id: 'retired-client', sub: 'retired-client' }), 'The agent bound to this identity is deactivated.');
    });

    it('an IdP in RFC 9068 mode accepts at+jwt only', async () => {
      const strictTenant = uniqueTenant('strict');
      const strictUrl = t.engine.mcpUrl(strictTenant);
      const provider = await t.idps.create(strictTenant, { kind: 'custom', name: 'Strict', issuer: idp.issuer, subjectClaim: 'client_id', tokenType: 'at+jwt' });
      await t.agents.create(strictTenant, { name: 'Strict bot', idpId: provider.id, subject: client.clientId });
      const jwtTyped = await idp.mint({ aud: strictUrl, client_id: client.clientId }, { typ: 'JWT' });
      const response = await mcpPost(strictUrl, bearer(jwtTyped));
      expect(response.status).to.equal(401);
      expect(response.body.error_description).to.equal('Only access tokens of type at+jwt are accepted.');
      expect((await mcpPost(strictUrl, bearer(await idp.mint({ aud: strictUrl, client_id: client.clientId })))).status).to.equal(200);
    });
  });

  describe('where tokens may travel', () => {
    it('accepts an access token beside the X-API-Key of a gateway in front (such requests were refused as carrying two credentials)', async () => {
      const token = await idp.token(client, { resource: url });
      expect((await mcpPost(url, { ...bearer(token), 'x-api-key': 'gateway-usage-plan-key' })).status).to.equal(200);
    });

    it('refuses a JWT sent in X-API-Key, whatever its validity', async () => {
      const token = await idp.token(client, { resource: url });
      await refused(token, 'X-API-Key carries API keys only: send access tokens as "Authorization: Bearer <token>".', 'invalid_request', { 'x-api-key': token });
    });

    it('a wrong X-API-Key value was answered as a misplaced token: it is an API key that is not valid (invalid_token)', async () => {
      for (const value of ['wrong-key', 'ghk_AAAAAAAAAAAA_' + 'A'.repeat(43), 'x'.repeat(5_000), 'not.a key']) {
        await refused(value, 'The API key is not valid.', 'invalid_token', { 'x-api-key': value });
      }
    });

    it('an empty X-API-Key was taken for no credential: invalid_request', async () => {
      await refused('', 'The X-API-Key header is empty: send an API key in it, or an access token as "Authorization: Bearer <token>".', 'invalid_request', { 'x-api-key': '' });
    });
  });
});

describe('EE identity: the strict profile refuses none of the real IdP token shapes', function () {
  this.timeout(60_000);
  let t: IdentityEngine;
  let jwks: JwksServer;

  before(async () => {
    t = await startIdentityEngine();
    jwks = await startJwksServer();
  });
  after(async () => {
    await t?.close();
    await jwks?.close();
  });

  it('Google ID tokens with at_hash are accepted by the Google preset only (its documented relaxation)', async () => {
    const tenant = uniqueTenant('google');
    const idp = await t.idps.create(tenant, { kind: 'google', name: 'Google', jwksUri: jwks.jwksUri });
    await t.agents.create(tenant, { name: 'GCP user', idpId: idp.id, subject: '109876543210987654321' });
    const token = await jwks.keys.sign(
      { iss: 'https://accounts.google.com', aud: t.engine.mcpUrl(tenant), azp: '32555940559.apps.googleusercontent.com', sub: '109876543210987654321', at_hash: 'x7Jc6Q6tO8r2lQb5H8zJ0A', email: 'dev@example.com', email_verified: true },
      { alg: 'RS256', typ: 'JWT' },
    );
    const response = await mcpPost(t.engine.mcpUrl(tenant), bearer(token));
    expect(response.status, JSON.stringify(response.body)).to.equal(200);

    const customTenant = uniqueTenant('notgoogle');
    const custom = await t.idps.create(customTenant, { kind: 'custom', name: 'Custom', issuer: 'https://idp.example.com', jwksUri: jwks.jwksUri });
    await t.agents.create(customTenant, { name: 'x', idpId: custom.id, subject: 'u1' });
    const idToken = await jwks.keys.sign({ iss: 'https://idp.example.com', aud: t.engine.mcpUrl(customTenant), sub: 'u1', at_hash: 'abc' }, { alg: 'RS256', typ: 'JWT' });
    const refused = await mcpPost(t.engine.mcpUrl(customTenant), bearer(idToken));
    expect(refused.status).to.equal(401);
    expect(refused.body.error_description).to.equal('The token is an OpenID ID token (it carries "at_hash"), not an access token.');
  });
});
