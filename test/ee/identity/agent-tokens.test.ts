import { expect } from 'chai';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { startIdentityEngine, mcpPost, bearer, type IdentityEngine } from '../support/identity-engine.js';
import { startOidcProvider, type OidcClient, type OidcFixture } from '../support/oidc.js';

describe('EE identity: agent access tokens', function () {
  this.timeout(60_000);
  let idp: OidcFixture;
  let other: OidcFixture;
  let t: IdentityEngine;
  let tenant: string;
  let tenantB: string;
  let client: OidcClient;
  let agentId: string;
  let url: string;

  before(async () => {
    idp = await startOidcProvider();
    other = await startOidcProvider();
    t = await startIdentityEngine();
    tenant = uniqueTenant('acme');
    tenantB = uniqueTenant('globex');
    url = t.engine.mcpUrl(tenant);
    const provider = await t.idps.create(tenant, { kind: 'custom', name: 'Local IdP', issuer: idp.issuer, subjectClaim: 'client_id' });
    await t.idps.create(tenantB, { kind: 'custom', name: 'Same IdP', issuer: idp.issuer, subjectClaim: 'client_id' });
    client = await idp.registerClient('agent-a');
    agentId = (await t.agents.create(tenant, { name: 'Ticket bot', idpId: provider.id, subject: client.clientId })).id;
    const providerB = (await t.idps.list(tenantB))[0]!;
    await t.agents.create(tenantB, { name: 'Globex bot', idpId: providerB.id, subject: client.clientId });
    t.permissions.grants.set(agentId, ['tickets:read']);
  });

  after(async () => {
    await t?.close();
    await idp?.close();
    await other?.close();
  });

  /** Expect a 401 with a challenge naming the tenant's metadata, and the failure audited in `auditTenant`. */
  async function refused(token: string, reason: RegExp, target = url, auditTenant = tenant): Promise<void> {
    const before = t.audit.events.length;
    const response = await mcpPost(target, bearer(token));
    expect(response.status, JSON.stringify(response.body)).to.equal(401);
    expect(response.body.error).to.equal('invalid_token');
    expect(response.body.error_description).to.match(reason);
    expect(response.challenge).to.match(/^Bearer /);
    expect(response.challenge).to.include('error="invalid_token"');
    expect(response.challenge).to.include(`resource_metadata="${t.url}/.well-known/oauth-protected-resource/t/${auditTenant}/api/mcp"`);
    expect(response.challenge).to.include('scope="mcp"');
    const events = t.audit.events.slice(before);
    expect(events, 'one audit event').to.have.length(1);
    expect(events[0]).to.include({ tenant: auditTenant, decision: 'auth-failed', outcome: 'refused' });
    expect(events[0]!.reason).to.match(reason);
    expect(events[0]!.reason).to.not.include(token);
  }

  it('accepts a client-credentials token for the tenant resource and names the agent', async () => {
    const token = await idp.token(client, { resource: url });
    const response = await mcpPost(url, bearer(token), 'tools/call');
    expect(response.status).to.equal(200);
    const who = JSON.parse(response.body.result.content[0].text);
    expect(who).to.deep.include({ tenant, kind: 'agent', id: agentId });
    expect(who.attributes).to.deep.include({ agentId, credential: 'jwt', issuer: idp.issuer, subject: client.clientId, permissions: ['tickets:read'] });
  });

  it('accepts an audience that differs only in host case and a trailing slash', async () => {
    const token = await idp.mint({ aud: `${url.replace('127.0.0.1', '127.0.0.1').replace('http://', 'HTTP://')}/`, client_id: client.clientId });
    expect((await mcpPost(url, bearer(token))).status).to.equal(200);
  });

  it('accepts an audience array containing the resource', async () => {
    const token = await idp.mint({ aud: ['account', url], client_id: client.clientId }, { typ: 'JWT', alg: 'RS256' });
    expect((await mcpPost(url, bearer(token))).status).to.equal(200);
  });

  it('refuses a token without credentials with a challenge pointing at the metadata', async () => {
    const response = await mcpPost(url, {});
    expect(response.status).to.equal(401);
    expect(response.challenge).to.include(`resource_metadata="${t.url}/.well-known/oauth-protected-resource/t/${tenant}/api/mcp"`);
    expect(response.challenge).to.not.include('error=');
  });

  it('refuses an untrusted issuer', async () => {
    const otherClient = await other.registerClient();
    await refused(await other.token(otherClient, { resource: url }), /issuer is not trusted/);
  });

  it('refuses a token for another audience', async () => {
    await refused(await idp.token(client, { resource: 'https://elsewhere.example.com/api/mcp' }), /another resource/);
  });

  it('refuses a token issued for tenant A at tenant B, though B trusts the same issuer and has the same agent binding', async () => {
    const token = await idp.token(client, { resource: url });
    await refused(token, /another resource/, t.engine.mcpUrl(tenantB), tenantB);
  });

  it('refuses an expired token, and one not yet valid', async () => {
    await refused(await idp.mint({ aud: url, client_id: client.clientId }, { expiresIn: -120 }), /expired/);
    await refused(await idp.mint({ aud: url, client_id: client.clientId }, { notBeforeIn: 600 }), /not valid yet/);
  });

  it('tolerates the configured clock skew', async () => {
    expect((await mcpPost(url, bearer(await idp.mint({ aud: url, client_id: client.clientId }, { expiresIn: -20 })))).status).to.equal(200);
  });

  it('refuses a token without expiry', async () => {
    const token = await idp.keys.sign({ iss: idp.issuer, aud: url, client_id: client.clientId, sub: client.clientId, exp: undefined });
    await refused(token, /no expiry/);
  });

  it('refuses alg "none"', async () => {
    await refused(idp.keys.unsigned({ iss: idp.issuer, aud: url, client_id: client.clientId }), /"none" are never accepted/);
  });

  it('refuses HS256 signed with the provider\'s public key', async () => {
    await refused(await idp.keys.hmacWithPublicKey({ iss: idp.issuer, aud: url, client_id: client.clientId }), /"HS256" are never accepted/);
  });

  it('refuses a token signed with a key that is not published (unknown kid)', async () => {
    await refused(await idp.mint({ aud: url, client_id: client.clientId }, { untrustedKey: true }), /unknown key id/);
  });

  it('refuses a published kid with a forged signature', async () => {
    const published = idp.keys.jwks().keys[0]!.kid!;
    await refused(await idp.mint({ aud: url, client_id: client.clientId }, { untrustedKey: true, kid: published, alg: 'ES256' }), /signature is invalid/);
  });

  it('refuses a token type that is not an access token', async () => {
    await refused(await idp.mint({ aud: url, client_id: client.clientId }, { typ: 'dpop+jwt' }), /not access tokens/);
  });

  it('accepts typ JWT, at+jwt, application/at+jwt and no typ by default', async () => {
    for (const typ of ['JWT', 'at+jwt', 'application/at+jwt', null]) {
      expect((await mcpPost(url, bearer(await idp.mint({ aud: url, client_id: client.clientId, jti: String(typ) }, { typ })))).status, String(typ)).to.equal(200);
    }
  });

  it('refuses a token whose subject is not bound to an agent', async () => {
    await refused(await idp.mint({ aud: url, client_id: 'someone-else' }), /No agent of this tenant/);
    await refused(await idp.mint({ aud: url, sub: 'a-user' }), /no "client_id" claim/);
  });

  it('refuses a token whose subject holds NUL or a lone surrogate as unbound, not with an internal error', async () => {
    await refused(await idp.mint({ aud: url, client_id: 'agent-\u0000' }), /No agent of this tenant/);
    await refused(await idp.mint({ aud: url, client_id: 'agent-\ud800' }), /No agent of this tenant/);
  });

  it('refuses tokens at the shared endpoint in path tenancy', async () => {
    const response = await mcpPost(t.engine.mcpUrl(), bearer(await idp.token(client, { resource: url })));
    expect(response.status).to.equal(401);
    expect(response.body.error_description).to.match(/only at a tenant's MCP URL/);
  });

  it('stops a deactivated agent at once, and lets it back in on reactivation', async () => {
    const second = await idp.registerClient('agent-b');
    const provider = (await t.idps.list(tenant))[0]!;
    const agent = await t.agents.create(tenant, { name: 'Short-lived', idpId: provider.id, subject: second.clientId });
    const token = await idp.token(second, { resource: url });
    expect((await mcpPost(url, bearer(token))).status).to.equal(200);
    await t.agents.deactivate(tenant, agent.id);
    await refused(token, /agent bound to this identity is deactivated/);
    await t.agents.activate(tenant, agent.id);
    expect((await mcpPost(url, bearer(token))).status).to.equal(200);
  });

  it('stops trusting a deactivated provider at once', async () => {
    const third = await idp.registerClient('agent-c');
    const tenantC = uniqueTenant('initech');
    const provider = await t.idps.create(tenantC, { kind: 'custom', name: 'IdP', issuer: idp.issuer, subjectClaim: 'client_id' });
    await t.agents.create(tenantC, { name: 'C', idpId: provider.id, subject: third.clientId });
    const urlC = t.engine.mcpUrl(tenantC);
    const token = await idp.token(third, { resource: urlC });
    expect((await mcpPost(urlC, bearer(token))).status).to.equal(200);
    await t.idps.deactivate(tenantC, provider.id);
    await refused(token, /issuer is not trusted/, urlC, tenantC);
  });

  it('enforces at+jwt in strict mode', async () => {
    const tenantS = uniqueTenant('strict');
    const provider = await t.idps.create(tenantS, { kind: 'custom', name: 'Strict', issuer: idp.issuer, subjectClaim: 'client_id', tokenType: 'at+jwt' });
    await t.agents.create(tenantS, { name: 'S', idpId: provider.id, subject: client.clientId });
    const urlS = t.engine.mcpUrl(tenantS);
    expect((await mcpPost(urlS, bearer(await idp.mint({ aud: urlS, client_id: client.clientId }, { typ: 'at+jwt' })))).status).to.equal(200);
    await refused(await idp.mint({ aud: urlS, client_id: client.clientId }, { typ: 'JWT' }), /Only access tokens of type at\+jwt/, urlS, tenantS);
    await refused(await idp.mint({ aud: urlS, client_id: client.clientId }, { typ: null }), /Only access tokens of type at\+jwt/, urlS, tenantS);
  });
});
