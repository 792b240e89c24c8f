import { expect } from 'chai';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { startIdentityEngine, mcpPost, bearer, type IdentityEngine } from '../support/identity-engine.js';
import { startJwksServer, type JwksServer } from '../support/oidc.js';

const DIRECTORY = '6f1c2a9e-3b7d-4c1e-9a55-0e2f8d4b7c31';
const APP = '0b9d3c1e-7a44-4f0a-8c2d-5e6f7a8b9c0d';

describe('EE identity: token shapes of real identity providers', function () {
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

  async function call(tenant: string, token: string) {
    const response = await mcpPost(t.engine.mcpUrl(tenant), bearer(token), 'tools/call');
    return { status: response.status, reason: response.body?.error_description as string | undefined, who: response.status === 200 ? JSON.parse(response.body.result.content[0].text) : undefined };
  }

  it('Microsoft Entra v2: issuer from the directory id, agent named by azp, audience = the API application id URI', async () => {
    const tenant = uniqueTenant('entra');
    const idp = await t.idps.create(tenant, { kind: 'entra', name: 'Entra', directoryId: DIRECTORY.toUpperCase(), jwksUri: jwks.jwksUri, audience: 'api://gatehouse-mcp' });
    expect(idp).to.include({ issuer: `https://login.microsoftonline.com/${DIRECTORY}/v2.0`, subjectClaim: 'azp' });
    const agent = await t.agents.create(tenant, { name: 'Entra app', idpId: idp.id, subject: APP });
    const claims = { iss: idp.issuer, aud: 'api://gatehouse-mcp', azp: APP, azpacr: '1', oid: 'c2a1d7e0-0000-4000-8000-000000000001', sub: 'c2a1d7e0-0000-4000-8000-000000000001', tid: DIRECTORY, roles: ['Mcp.Call'], ver: '2.0' };
    const ok = await call(tenant, await jwks.keys.sign(claims, { alg: 'RS256', typ: 'JWT' }));
    expect(ok.who).to.deep.include({ kind: 'agent', id: agent.id });
    expect(ok.who.attributes).to.include({ issuer: idp.issuer, subject: APP });
    // A v1 token of the same directory has another issuer.
    const v1 = await call(tenant, await jwks.keys.sign({ ...claims, iss: `https://sts.windows.net/${DIRECTORY}/`, ver: '1.0', appid: APP }, { alg: 'RS256', typ: 'JWT' }));
    expect(v1).to.include({ status: 401, reason: 'The token\'s issuer is not trusted by this tenant.' });
    // Another application of the same directory is not this agent.
    expect((await call(tenant, await jwks.keys.sign({ ...claims, azp: 'ffffffff-0000-4000-8000-000000000000' }, { alg: 'RS256', typ: 'JWT' }))).status).to.equal(401);
  });

  it('Microsoft Entra v1: sts.windows.net issuer, agent named by appid', async () => {
    const tenant = uniqueTenant('entra1');
    const idp = await t.idps.create(tenant, { kind: 'entra', name: 'Entra v1', directoryId: DIRECTORY, tokenVersion: 'v1', jwksUri: jwks.jwksUri, audience: APP });
    expect(idp).to.include({ issuer: `https://sts.windows.net/${DIRECTORY}/`, subjectClaim: 'appid' });
    const agent = await t.agents.create(tenant, { name: 'Legacy app', idpId: idp.id, subject: APP });
    const token = await jwks.keys.sign({ iss: idp.issuer, aud: APP, appid: APP, appidacr: '1', idp: idp.issuer, oid: 'c2a1d7e0-0000-4000-8000-000000000002', sub: 'c2a1d7e0-0000-4000-8000-000000000002', tid: DIRECTORY, ver: '1.0' }, { alg: 'RS256', typ: 'JWT' });
    expect((await call(tenant, token)).who).to.deep.include({ id: agent.id });
  });

  it('refuses the Entra multi-tenant endpoints and a non-GUID directory', async () => {
    for (const directoryId of ['common', 'organizations', 'consumers', 'contoso.onmicrosoft.com']) {
      try {
        await t.idps.create(uniqueTenant('e'), { kind: 'entra', name: 'x', directoryId });
        expect.fail(`accepted ${directoryId}`);
      } catch (error) {
        expect((error as { code?: string }).code).to.equal('invalid_input');
        expect((error as { field?: string }).field).to.equal('directoryId');
      }
    }
  });

  it('Keycloak: realm URL as issuer, agent named by azp, audience added by a mapper next to "account"', async () => {
    const tenant = uniqueTenant('kc');
    const idp = await t.idps.create(tenant, { kind: 'keycloak', name: 'Keycloak', realmUrl: 'https://sso.example.com/realms/acme/', jwksUri: jwks.jwksUri });
    expect(idp).to.include({ issuer: 'https://sso.example.com/realms/acme', subjectClaim: 'azp', audience: t.engine.mcpUrl(tenant) });
    const agent = await t.agents.create(tenant, { name: 'Keycloak client', idpId: idp.id, subject: 'mcp-agent' });
    const claims = {
      iss: idp.issuer,
      aud: ['account', t.engine.mcpUrl(tenant)],
      sub: '5f0e6c1a-2b3d-4e5f-8a9b-0c1d2e3f4a5b',
      typ: 'Bearer',
      azp: 'mcp-agent',
      preferred_username: 'service-account-mcp-agent',
      scope: 'profile email',
      clientId: 'mcp-agent',
    };
    expect((await call(tenant, await jwks.keys.sign(claims, { alg: 'RS256', typ: 'JWT' }))).who).to.deep.include({ id: agent.id });
    // Without the audience mapper, Keycloak's tokens are for "account" only.
    expect(await call(tenant, await jwks.keys.sign({ ...claims, aud: 'account' }, { alg: 'RS256', typ: 'JWT' }))).to.include({ status: 401, reason: 'The token was issued for another resource (aud).' });
  });

  it('Google: accounts.google.com issuer, agent named by the service account\'s numeric sub', async () => {
    const tenant = uniqueTenant('google');
    const idp = await t.idps.create(tenant, { kind: 'google', name: 'Google', jwksUri: jwks.jwksUri });
    expect(idp).to.include({ issuer: 'https://accounts.google.com', subjectClaim: 'sub' });
    const agent = await t.agents.create(tenant, { name: 'GCP job', idpId: idp.id, subject: '112233445566778899001' });
    const claims = { iss: 'https://accounts.google.com', aud: t.engine.mcpUrl(tenant), sub: '112233445566778899001', azp: '112233445566778899001', email: 'job@project.iam.gserviceaccount.com', email_verified: true };
    expect((await call(tenant, await jwks.keys.sign(claims, { alg: 'RS256', typ: 'JWT' }))).who).to.deep.include({ id: agent.id });
    // Google allows RS256 only by default.
    expect(await call(tenant, await jwks.keys.sign(claims, { alg: 'ES256', typ: 'JWT' }))).to.include({ status: 401, reason: 'The token is signed with an algorithm this identity provider is not trusted for.' });
  });

  it('refuses with a clear reason when the provider\'s discovery fails', async () => {
    const tenant = uniqueTenant('down');
    const idp = await t.idps.create(tenant, { kind: 'custom', name: 'Down', issuer: 'http://127.0.0.1:9/realm' });
    await t.agents.create(tenant, { name: 'x', idpId: idp.id, subject: 'x' });
    const token = await jwks.keys.sign({ iss: idp.issuer, aud: t.engine.mcpUrl(tenant), sub: 'x' });
    const response = await mcpPost(t.engine.mcpUrl(tenant), bearer(token), 'tools/call');
    expect(response.status).to.equal(503);
    expect(response.body.error.message).to.equal('The identity provider could not be reached to verify the token (its signing keys could not be fetched); try again later.');
  });
});
