import { expect } from 'chai';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { startIdentityEngine, mcpPost, bearer, type IdentityEngine } from '../support/identity-engine.js';

describe('EE identity: API keys', function () {
  this.timeout(60_000);
  let t: IdentityEngine;
  let tenant: string;

  before(async () => {
    t = await startIdentityEngine();
    tenant = uniqueTenant('acme');
  });
  after(() => t?.close());

  const whoami = async (url: string, headers: Record<string, string>) => {
    const response = await mcpPost(url, headers, 'tools/call');
    expect(response.status, JSON.stringify(response.body)).to.equal(200);
    return JSON.parse(response.body.result.content[0].text);
  };

  it('authenticates an agent key as its agent, by Bearer and by X-API-Key', async () => {
    const agent = await t.agents.create(tenant, { name: 'Key bot' });
    t.permissions.grants.set(agent.id, ['tickets:*']);
    const issued = (await t.agents.issueKey(tenant, agent.id, { name: 'ci' }))!;
    expect(issued.key.scopes).to.deep.equal(['agent']);
    const url = t.engine.mcpUrl(tenant);
    for (const headers of [bearer(issued.secret), { 'x-api-key': issued.secret }]) {
      const who = await whoami(url, headers);
      expect(who).to.deep.include({ tenant, kind: 'agent', id: agent.id });
      expect(who.attributes).to.deep.equal({ agentId: agent.id, credential: 'api-key', keyId: issued.key.id, permissions: ['tickets:*'] });
    }
    expect((await t.agents.listKeys(tenant, agent.id)).map((key) => key.id)).to.deep.equal([issued.key.id]);
  });

  it('refuses a revoked agent key at once, and audits it in the key\'s tenant', async () => {
    const agent = await t.agents.create(tenant, { name: 'Revoked bot' });
    const issued = (await t.agents.issueKey(tenant, agent.id, { name: 'old' }))!;
    const url = t.engine.mcpUrl(tenant);
    await whoami(url, bearer(issued.secret));
    expect(await t.agents.revokeKey(tenant, agent.id, issued.key.id)).to.equal(true);
    const before = t.audit.events.length;
    const response = await mcpPost(url, bearer(issued.secret));
    expect(response.status).to.equal(401);
    expect(response.body.error_description).to.equal('The API key has been revoked.');
    expect(response.challenge).to.include('resource_metadata=');
    expect(t.audit.events.slice(before)).to.have.length(1);
    expect(t.audit.events.at(-1)).to.include({ tenant, decision: 'auth-failed', reason: 'The API key has been revoked.' });
  });

  it('refuses the key of a deactivated agent, even at the shared endpoint', async () => {
    const agent = await t.agents.create(tenant, { name: 'Paused bot' });
    const issued = (await t.agents.issueKey(tenant, agent.id, { name: 'k' }))!;
    await whoami(t.engine.mcpUrl(), bearer(issued.secret));
    await t.agents.deactivate(tenant, agent.id);
    const before = t.audit.events.length;
    const response = await mcpPost(t.engine.mcpUrl(), bearer(issued.secret));
    expect(response.status).to.equal(401);
    expect(response.body.error_description).to.match(/deactivated/);
    expect(t.audit.events.slice(before)[0]).to.include({ tenant, decision: 'auth-failed' });
  });

  it("refuses another tenant's agent key at a tenant URL", async () => {
    const agent = await t.agents.create(tenant, { name: 'Home bot' });
    const issued = (await t.agents.issueKey(tenant, agent.id, { name: 'k' }))!;
    const other = uniqueTenant('other');
    const before = t.audit.events.length;
    const response = await mcpPost(t.engine.mcpUrl(other), bearer(issued.secret));
    expect(response.status).to.equal(401);
    expect(t.audit.events.slice(before).map(({ tenant, reason }) => ({ tenant, reason }))).to.deep.equal([{ tenant: other, reason: 'credential of another tenant' }]);
  });

  it("never shows another tenant's URL in the trail of a revoked key's tenant", async () => {
    const agent = await t.agents.create(tenant, { name: 'Wandering bot' });
    const issued = (await t.agents.issueKey(tenant, agent.id, { name: 'k' }))!;
    expect(await t.agents.revokeKey(tenant, agent.id, issued.key.id)).to.equal(true);
    const other = uniqueTenant('other');
    const before = t.audit.events.length;
    const response = await mcpPost(t.engine.mcpUrl(other), bearer(issued.secret));
    expect(response.status).to.equal(401);
    expect(response.body.error_description).to.equal('The API key has been revoked.');
    const events = t.audit.events.slice(before);
    const own = events.filter((event) => event.tenant === tenant);
    expect(own).to.have.length(1);
    expect(own[0]).to.include({ decision: 'auth-failed', reason: "The API key has been revoked. It was presented at another tenant's endpoint." });
    expect(JSON.stringify(own[0])).not.to.include(other);
    // The tenant whose endpoint it was presented at sees that, as for a valid key of another tenant.
    expect(events.filter((event) => event.tenant === other).map((event) => event.reason)).to.deep.equal(['credential of another tenant']);
  });

  it('does not revoke a key through another agent', async () => {
    const a = await t.agents.create(tenant, { name: 'A' });
    const b = await t.agents.create(tenant, { name: 'B' });
    const issued = (await t.agents.issueKey(tenant, a.id, { name: 'k' }))!;
    expect(await t.agents.revokeKey(tenant, b.id, issued.key.id)).to.equal(false);
    expect(await t.agents.revokeKey(uniqueTenant('x'), a.id, issued.key.id)).to.equal(false);
    await whoami(t.engine.mcpUrl(tenant), bearer(issued.secret));
  });

  it('authenticates an admin key as an admin principal and a tenant key as a tenant key', async () => {
    const admin = await t.createKey({ tenant, scopes: ['admin'] });
    const who = await whoami(t.engine.mcpUrl(tenant), bearer(admin.secret));
    expect(who).to.include({ tenant, kind: 'admin', id: admin.id });
    const plain = await t.createKey({ tenant, scopes: ['mcp'] });
    expect(await whoami(t.engine.mcpUrl(tenant), bearer(plain.secret))).to.include({ kind: 'api-key', id: plain.id });
  });

  it('refuses an unknown key and a malformed Authorization header', async () => {
    const unknown = await mcpPost(t.engine.mcpUrl(tenant), bearer('ghk_AAAAAAAAAAAA_' + 'a'.repeat(43)));
    expect(unknown.status).to.equal(401);
    expect(unknown.body.error_description).to.equal('The API key is not valid.');
    const malformed = await mcpPost(t.engine.mcpUrl(tenant), { authorization: 'Basic abc' });
    expect(malformed.status).to.equal(401);
    expect(malformed.body.error).to.equal('invalid_request');
  });
});
