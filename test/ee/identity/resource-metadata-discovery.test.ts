/**
 * Item 6 of the hardening work: Protected Resource Metadata for a tenant with no active IdP is an
 * empty list (the 401 challenge points there), the admin decides which IdP is listed first, and
 * with a base path the metadata is at the origin root where RFC 9728 places it.
 */
import { expect } from 'chai';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { governanceEngine, type GovernanceTestEngine } from '../governance/support.js';
import { startIdentityEngine, mcpPost, bearer, type IdentityEngine } from '../support/identity-engine.js';

const challengeUrl = (challenge: string | null): string => /resource_metadata="([^"]+)"/.exec(challenge ?? '')?.[1] ?? '';

describe('EE identity: resource metadata clients can always follow', function () {
  this.timeout(60_000);

  describe('a tenant without an active identity provider', () => {
    let t: IdentityEngine;
    before(async () => {
      t = await startIdentityEngine();
    });
    after(() => t?.close());

    it('answers 200 with an empty authorization_servers list, and the 401 challenge points there', async () => {
      const tenant = uniqueTenant('noidp');
      const refused = await mcpPost(t.engine.mcpUrl(tenant), {});
      expect(refused.status).to.equal(401);
      const url = challengeUrl(refused.challenge);
      expect(url).to.equal(`${t.url}/.well-known/oauth-protected-resource/t/${tenant}/api/mcp`);
      const response = await fetch(url);
      expect(response.status).to.equal(200);
      expect(await response.json()).to.deep.equal({
        resource: t.engine.mcpUrl(tenant),
        authorization_servers: [],
        scopes_supported: ['mcp'],
        bearer_methods_supported: ['header'],
        resource_name: `gatehouse (${tenant})`,
      });
      // The same once its only provider is deactivated.
      const idp = await t.idps.create(tenant, { kind: 'google', name: 'G' });
      expect(((await (await fetch(url)).json()) as { authorization_servers: string[] }).authorization_servers).to.deep.equal(['https://accounts.google.com']);
      await t.idps.deactivate(tenant, idp.id);
      expect(((await (await fetch(url)).json()) as { authorization_servers: string[] }).authorization_servers).to.deep.equal([]);
    });
  });

  describe('several identity providers', () => {
    let t: GovernanceTestEngine;
    before(async () => {
      t = await governanceEngine();
    });
    after(() => t?.close());

    it('are listed in the order the admin sets (listOrder, lower first), then oldest first', async () => {
      const create = async (body: Record<string, unknown>) => {
        const response = await t.http('POST', '/api/v1/mcp/idp-providers', { token: t.adminKey, body });
        expect(response.status, response.text).to.equal(201);
        return response.body.data as { id: string; listOrder: number };
      };
      const first = await create({ kind: 'custom', name: 'Old', issuer: 'https://old.example.com' });
      await create({ kind: 'custom', name: 'Mid', issuer: 'https://mid.example.com' });
      expect(first.listOrder).to.equal(0);
      const metadata = async () =>
        ((await (await fetch(`${t.url}/.well-known/oauth-protected-resource/t/${t.tenant}/api/mcp`)).json()) as { authorization_servers: string[] }).authorization_servers;
      expect(await metadata()).to.deep.equal(['https://old.example.com', 'https://mid.example.com']);

      const preferred = await create({ kind: 'custom', name: 'New', issuer: 'https://new.example.com', listOrder: 0 });
      const moved = await t.http('PATCH', `/api/v1/mcp/idp-providers/${first.id}`, { token: t.adminKey, body: { listOrder: 10 } });
      expect(moved.status, moved.text).to.equal(200);
      expect(moved.body.data.listOrder).to.equal(10);
      expect(await metadata()).to.deep.equal(['https://mid.example.com', 'https://new.example.com', 'https://old.example.com']);
      expect(preferred.listOrder).to.equal(0);

      const bad = await t.http('PATCH', `/api/v1/mcp/idp-providers/${first.id}`, { token: t.adminKey, body: { listOrder: -1 } });
      expect(bad.status).to.equal(400);
      expect(bad.body.error.details.map((d: { field: string }) => d.field)).to.include('listOrder');
    });
  });

  describe('with a base path', () => {
    let t: IdentityEngine;
    before(async () => {
      t = await startIdentityEngine({ basePath: '/gw' });
    });
    after(() => t?.close());

    it('points the challenge at the origin-root well-known URL of RFC 9728 and serves it there (and under the base path)', async () => {
      const tenant = uniqueTenant('based');
      await t.idps.create(tenant, { kind: 'google', name: 'G' });
      const mcpUrl = t.engine.mcpUrl(tenant);
      const origin = new URL(mcpUrl).origin;
      expect(mcpUrl).to.equal(`${origin}/gw/t/${tenant}/api/mcp`);
      const refused = await mcpPost(mcpUrl, bearer('not-a-token'));
      expect(refused.status).to.equal(401);
      const url = challengeUrl(refused.challenge);
      expect(url).to.equal(`${origin}/.well-known/oauth-protected-resource/gw/t/${tenant}/api/mcp`);
      for (const location of [url, `${origin}/gw/.well-known/oauth-protected-resource/t/${tenant}/api/mcp`]) {
        const response = await fetch(location);
        expect(response.status, location).to.equal(200);
        expect(await response.json()).to.deep.include({ resource: mcpUrl, authorization_servers: ['https://accounts.google.com'] });
      }
      // Nothing else is served outside the base path.
      expect((await fetch(`${origin}/.well-known/oauth-protected-resource/other/t/${tenant}/api/mcp`)).status).to.equal(404);
      expect((await fetch(`${origin}/t/${tenant}/api/mcp`, { method: 'POST' })).status).to.equal(404);
    });
  });
});
