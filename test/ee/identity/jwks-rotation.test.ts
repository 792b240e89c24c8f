import { expect } from 'chai';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { startIdentityEngine, mcpPost, bearer, type IdentityEngine } from '../support/identity-engine.js';
import { JwksCache, KeySourceError } from '@gatehouse-mcp/engine/ee';
import { startJwksServer, startOidcProvider, type JwksServer } from '../support/oidc.js';

const COOLDOWN_MS = 400;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('EE identity: JWKS rotation', function () {
  this.timeout(60_000);
  let t: IdentityEngine;
  let jwks: JwksServer;

  before(async () => {
    t = await startIdentityEngine({ jwksRefetchCooldownMs: COOLDOWN_MS });
    jwks = await startJwksServer();
  });
  after(async () => {
    await t?.close();
    await jwks?.close();
  });

  it('refetches the keys once on an unknown kid, at most once per cooldown', async () => {
    const tenant = uniqueTenant('rot');
    const issuer = 'https://idp.example.com';
    const idp = await t.idps.create(tenant, { kind: 'custom', name: 'Rotating', issuer, jwksUri: jwks.jwksUri });
    await t.agents.create(tenant, { name: 'bot', idpId: idp.id, subject: 'bot' });
    const url = t.engine.mcpUrl(tenant);
    const status = async (token: string) => (await mcpPost(url, bearer(token))).status;
    const claims = { iss: issuer, aud: url, sub: 'bot' };

    expect(await status(await jwks.keys.sign(claims))).to.equal(200);
    expect(jwks.keys.jwksRequests).to.equal(1);

    // The IdP rotates right after our fetch: the new kid is unknown, and a refetch is not allowed yet.
    const rotated = await jwks.keys.rotate('ES256');
    expect(await status(await jwks.keys.sign(claims, { kid: rotated }))).to.equal(401);
    expect(jwks.keys.jwksRequests).to.equal(1);

    // After the cooldown, the unknown kid triggers exactly one refetch, which finds it.
    await pause(COOLDOWN_MS + 100);
    expect(await status(await jwks.keys.sign(claims, { kid: rotated }))).to.equal(200);
    expect(jwks.keys.jwksRequests).to.equal(2);

    // A burst of forged kids cannot make us hammer the IdP.
    await pause(COOLDOWN_MS + 100);
    for (let i = 0; i < 5; i++) expect(await status(await jwks.keys.sign(claims, { untrustedKey: true }))).to.equal(401);
    expect(jwks.keys.jwksRequests).to.equal(3);

    // Old and new keys keep working from the cache.
    expect(await status(await jwks.keys.sign({ ...claims, jti: 'a' }, { alg: 'RS256' }))).to.equal(200);
    expect(await status(await jwks.keys.sign({ ...claims, jti: 'b' }, { kid: rotated }))).to.equal(200);
    expect(jwks.keys.jwksRequests).to.equal(3);
  });
});

describe('EE identity: provider key sources', function () {
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

  it('probes a provider\'s configured JWKS and reports its key ids', async () => {
    const idp = await t.idps.create(uniqueTenant('probe'), { kind: 'custom', name: 'P', issuer: 'https://idp.example.com', jwksUri: jwks.jwksUri });
    const probe = await t.engine.resolve(JwksCache).probe(idp);
    expect(probe.jwksUri).to.equal(jwks.jwksUri);
    expect(probe.keyIds).to.deep.equal(jwks.keys.jwks().keys.map((key) => key.kid));
  });

  it('probes by OpenID discovery when no JWKS URL is configured, and reports an unreachable provider', async () => {
    const oidc = await startOidcProvider();
    try {
      const idp = await t.idps.create(uniqueTenant('probe'), { kind: 'custom', name: 'P', issuer: oidc.issuer });
      const probe = await t.engine.resolve(JwksCache).probe(idp);
      expect(probe.jwksUri).to.equal(oidc.jwksUri);
      expect(probe.keyIds).to.have.length(2);
    } finally {
      await oidc.close();
    }
    const down = await t.idps.create(uniqueTenant('probe'), { kind: 'custom', name: 'Down', issuer: 'http://127.0.0.1:9' });
    try {
      await t.engine.resolve(JwksCache).probe(down);
      expect.fail('probe of an unreachable provider succeeded');
    } catch (error) {
      expect(error).to.be.instanceOf(KeySourceError);
      expect((error as Error).message).to.equal('OpenID discovery for http://127.0.0.1:9 failed.');
    }
  });

  it('refuses tokens with a clear reason when the configured JWKS is unreachable', async () => {
    const tenant = uniqueTenant('nokeys');
    const idp = await t.idps.create(tenant, { kind: 'custom', name: 'No keys', issuer: 'https://idp.example.com', jwksUri: 'http://127.0.0.1:9/keys' });
    await t.agents.create(tenant, { name: 'bot', idpId: idp.id, subject: 'bot' });
    const response = await mcpPost(t.engine.mcpUrl(tenant), bearer(await jwks.keys.sign({ iss: 'https://idp.example.com', aud: t.engine.mcpUrl(tenant), sub: 'bot' })));
    expect(response.status).to.equal(503);
    expect(response.body.error.message).to.equal('The identity provider could not be reached to verify the token (its signing keys could not be fetched); try again later.');
  });
});
