import { expect } from 'chai';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { startIdentityEngine, mcpPost, bearer, type IdentityEngine } from '../support/identity-engine.js';
import { startJwksServer, type JwksServer } from '../support/oidc.js';
import { requestWithHost } from '../../support/request-with-host.js';

describe('EE identity: Protected Resource Metadata', function () {
  this.timeout(60_000);

  describe('path tenancy', () => {
    let t: IdentityEngine;
    before(async () => {
      t = await startIdentityEngine();
    });
    after(() => t?.close());

    const metadata = (tenant: string) => fetch(`${t.url}/.well-known/oauth-protected-resource/t/${tenant}/api/mcp`);

    it('lists only the tenant\'s active issuers, with the tenant\'s canonical resource, uncached', async () => {
      const a = uniqueTenant('a');
      const b = uniqueTenant('b');
      await t.idps.create(a, { kind: 'custom', name: 'A1', issuer: 'https://idp-a.example.com' });
      const retired = await t.idps.create(a, { kind: 'keycloak', name: 'A2', realmUrl: 'https://sso.example.com/realms/a' });
      await t.idps.create(b, { kind: 'google', name: 'B' });
      await t.idps.deactivate(a, retired.id);

      const response = await metadata(a);
      expect(response.status).to.equal(200);
      expect(response.headers.get('cache-control')).to.equal('no-store');
      expect(await response.json()).to.deep.equal({
        resource: t.engine.mcpUrl(a),
        authorization_servers: ['https://idp-a.example.com'],
        scopes_supported: ['mcp'],
        bearer_methods_supported: ['header'],
        resource_name: `gatehouse (${a})`,
      });
      expect(((await (await metadata(b)).json()) as { authorization_servers: string[] }).authorization_servers).to.deep.equal(['https://accounts.google.com']);
    });

    it('answers 404 JSON for an invalid tenant', async () => {
      for (const tenant of ['Not_A_Tenant']) {
        const response = await metadata(tenant);
        expect(response.status).to.equal(404);
        expect(response.headers.get('content-type')).to.match(/application\/json/);
        expect(((await response.json()) as { error: { code: string } }).error.code).to.equal('not_found');
      }
    });

    it('is built from the configured public URL, not from forwarded host headers', async () => {
      const a = uniqueTenant('host');
      await t.idps.create(a, { kind: 'google', name: 'G' });
      const response = await fetch(`${t.url}/.well-known/oauth-protected-resource/t/${a}/api/mcp`, { headers: { 'x-forwarded-host': 'evil.example.com' } });
      expect(((await response.json()) as { resource: string }).resource).to.equal(`${t.url}/t/${a}/api/mcp`);
    });
  });

  describe('single tenancy', () => {
    let t: IdentityEngine;
    let jwks: JwksServer;
    const tenant = uniqueTenant('solo');
    before(async () => {
      t = await startIdentityEngine({ tenancy: 'single', tenant });
      jwks = await startJwksServer();
    });
    after(async () => {
      await t?.close();
      await jwks?.close();
    });

    it('serves the metadata and accepts tokens at the plain /api/mcp, with that URL as audience', async () => {
      const idp = await t.idps.create(tenant, { kind: 'custom', name: 'IdP', issuer: 'https://idp.example.com', jwksUri: jwks.jwksUri });
      expect(idp.audience).to.equal(`${t.url}/api/mcp`);
      const agent = await t.agents.create(tenant, { name: 'bot', idpId: idp.id, subject: 'bot' });

      const document = await fetch(`${t.url}/.well-known/oauth-protected-resource/api/mcp`);
      expect(document.status).to.equal(200);
      expect(await document.json()).to.deep.include({ resource: `${t.url}/api/mcp`, authorization_servers: ['https://idp.example.com'] });

      const bare = await mcpPost(`${t.url}/api/mcp`, {});
      expect(bare.status).to.equal(401);
      expect(bare.challenge).to.include(`resource_metadata="${t.url}/.well-known/oauth-protected-resource/api/mcp"`);

      const token = await jwks.keys.sign({ iss: 'https://idp.example.com', aud: `${t.url}/api/mcp`, sub: 'bot' });
      const ok = await mcpPost(`${t.url}/api/mcp`, bearer(token), 'tools/call');
      expect(ok.status).to.equal(200);
      expect(JSON.parse(ok.body.result.content[0].text)).to.include({ tenant, id: agent.id });
    });

    it('refuses other tenants\' URLs and keys', async () => {
      expect((await mcpPost(`${t.url}/t/${uniqueTenant('x')}/api/mcp`, bearer(await jwks.keys.sign({ iss: 'https://idp.example.com', aud: `${t.url}/api/mcp`, sub: 'bot' })))).status).to.equal(401);
      const foreign = await t.createKey({ tenant: uniqueTenant('other'), scopes: ['mcp'] });
      const response = await mcpPost(`${t.url}/api/mcp`, bearer(foreign.secret));
      expect(response.status).to.equal(401);
      expect(response.body.error_description).to.equal('This credential is not valid for this server.');
    });
  });

  describe('host tenancy', () => {
    let t: IdentityEngine;
    let jwks: JwksServer;
    before(async () => {
      t = await startIdentityEngine({ tenancy: 'host', publicUrl: 'https://mcp.example.com', tenantHost: '{tenant}.mcp.example.com' });
      jwks = await startJwksServer();
    });
    after(async () => {
      await t?.close();
      await jwks?.close();
    });

    const post = (host: string, headers: Record<string, string>) =>
      requestWithHost(`${t.url}/api/mcp`, host, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'whoami', arguments: {} } }),
      });

    it("serves each tenant's metadata on its own host, points 401s at it, and accepts tokens only on that host", async () => {
      const a = uniqueTenant('ha');
      const b = uniqueTenant('hb');
      const issuer = 'https://shared-idp.example.com';
      const idpA = await t.idps.create(a, { kind: 'custom', name: 'Shared', issuer, jwksUri: jwks.jwksUri });
      const idpB = await t.idps.create(b, { kind: 'custom', name: 'Shared', issuer, jwksUri: jwks.jwksUri });
      expect(idpA.audience).to.equal(`https://${a}.mcp.example.com/api/mcp`);
      const agent = await t.agents.create(a, { name: 'bot', idpId: idpA.id, subject: 'bot' });
      await t.agents.create(b, { name: 'bot', idpId: idpB.id, subject: 'bot' });

      const document = await requestWithHost(`${t.url}/.well-known/oauth-protected-resource/api/mcp`, `${a}.mcp.example.com`);
      expect(document.status).to.equal(200);
      expect(JSON.parse(document.body)).to.deep.include({ resource: `https://${a}.mcp.example.com/api/mcp`, authorization_servers: [issuer] });

      const bare = await post(`${a}.mcp.example.com`, {});
      expect(bare.status).to.equal(401);
      expect(bare.headers['www-authenticate']).to.include(`resource_metadata="https://${a}.mcp.example.com/.well-known/oauth-protected-resource/api/mcp"`);

      const token = await jwks.keys.sign({ iss: issuer, aud: `https://${a}.mcp.example.com/api/mcp`, sub: 'bot' });
      const ok = await post(`${a}.mcp.example.com`, bearer(token));
      expect(ok.status).to.equal(200);
      expect(JSON.parse(JSON.parse(ok.body).result.content[0].text)).to.include({ tenant: a, id: agent.id });
      // The same IdP is trusted by tenant b, with an agent of the same identity: a's token is still refused there.
      const elsewhere = await post(`${b}.mcp.example.com`, bearer(token));
      expect(elsewhere.status).to.equal(401);
      expect(JSON.parse(elsewhere.body).error_description).to.match(/issued for another resource/);
    });

    it('refuses to boot in host tenancy without the engine option tenantHost', async () => {
      let error: unknown;
      try {
        await startIdentityEngine({ tenancy: 'host' });
      } catch (caught) {
        error = caught;
      }
      expect(String(error)).to.match(/needs the engine option tenantHost/);
    });
  });
});
