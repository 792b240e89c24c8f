/**
 * Sentences of docs/enterprise.md that no other test asserted (see the claim table in
 * test/ee/docs-claims.test.ts): host tenancy with tokens, a cached credential never outliving its
 * own expiry, agent keys of a deleted agent and expired agent keys, the documented ranges of the
 * provider fields, and the tenant id syntax. Real engine, real oidc-provider, real HTTP.
 */
import { expect } from 'chai';
import { IdentityInputError } from '@gatehouse-mcp/engine/ee';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { requestWithHost } from '../../support/request-with-host.js';
import { startOidcProvider, type OidcClient, type OidcFixture } from '../support/oidc.js';
import { bearer, mcpPost, startIdentityEngine, type IdentityEngine } from '../support/identity-engine.js';

const rpc = (method: string) => JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: method === 'tools/call' ? { name: 'whoami', arguments: {} } : {} });

/** Wait until the wall clock has passed `epochMs` (for claims about expiry, which is wall-clock time). */
async function until(epochMs: number): Promise<void> {
  while (Date.now() <= epochMs) await new Promise((resolve) => setTimeout(resolve, Math.max(10, epochMs - Date.now() + 5)));
}

describe('EE docs/enterprise.md: host tenancy with access tokens', function () {
  this.timeout(60_000);
  let t: IdentityEngine;
  let idp: OidcFixture;
  let client: OidcClient;
  const a = uniqueTenant('a');
  const b = uniqueTenant('b');
  const hostOf = (tenant: string) => `${tenant}.mcp.example.com`;
  const post = (host: string, token: string) =>
    requestWithHost(`${t.url}/api/mcp`, host, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${token}` },
      body: rpc('tools/call'),
    });

  before(async () => {
    idp = await startOidcProvider();
    t = await startIdentityEngine({ tenancy: 'host', publicUrl: 'https://mcp.example.com', tenantHost: '{tenant}.mcp.example.com' });
    client = await idp.registerClient('host-bot');
    // Both tenants trust the same IdP and bind the same client: only the audience tells them apart.
    for (const tenant of [a, b]) {
      const provider = await t.idps.create(tenant, { kind: 'custom', name: 'IdP', issuer: idp.issuer, subjectClaim: 'client_id' });
      await t.agents.create(tenant, { name: 'Host bot', idpId: provider.id, subject: client.clientId });
    }
  });
  after(async () => {
    await t?.close();
    await idp?.close();
  });

  it('serves each tenant’s metadata on its own host, naming that host’s MCP URL as the resource', async () => {
    const response = await requestWithHost(`${t.url}/.well-known/oauth-protected-resource/api/mcp`, hostOf(a));
    expect(response.status).to.equal(200);
    const document = JSON.parse(response.body) as { resource: string; authorization_servers: string[] };
    expect(document.resource).to.equal(`https://${hostOf(a)}/api/mcp`);
    expect(document.authorization_servers).to.deep.equal([idp.issuer]);
    const challenge = await requestWithHost(`${t.url}/api/mcp`, hostOf(a), { method: 'POST', headers: { 'content-type': 'application/json' }, body: rpc('tools/list') });
    expect(challenge.status).to.equal(401);
    expect(challenge.headers['www-authenticate']).to.include(`resource_metadata="https://${hostOf(a)}/.well-known/oauth-protected-resource/api/mcp"`);
  });

  it('accepts a token for the tenant’s host URL on that host, and refuses it on another tenant’s host (same IdP, same client)', async () => {
    const token = await idp.token(client, { resource: `https://${hostOf(a)}/api/mcp` });
    const own = await post(hostOf(a), token);
    expect(own.status, own.body).to.equal(200);
    expect(own.body).to.include(a);
    const other = await post(hostOf(b), token);
    expect(other.status).to.equal(401);
    expect(JSON.parse(other.body).error_description).to.match(/another resource|audience/i);
  });

  it('answers 403 to a host outside the pattern', async () => {
    const token = await idp.token(client, { resource: `https://${hostOf(a)}/api/mcp` });
    expect((await post('mcp.evil.example.com', token)).status).to.equal(403);
  });
});

describe('EE docs/enterprise.md: revocation delay and agent keys', function () {
  this.timeout(60_000);
  let t: IdentityEngine;
  let idp: OidcFixture;
  let tenant: string;

  before(async () => {
    idp = await startOidcProvider();
    // A cache far longer than the credentials used below: whatever stops them, it is not the cache expiring.
    t = await startIdentityEngine({ credentialCacheTtlMs: 60_000 });
    tenant = uniqueTenant('acme');
  });
  after(async () => {
    await t?.close();
    await idp?.close();
  });

  it('a verified token is cached “never beyond a token’s own expiry”', async () => {
    const provider = await t.idps.create(tenant, { kind: 'custom', name: 'Strict clock', issuer: idp.issuer, subjectClaim: 'client_id', clockSkewSeconds: 0 });
    const client = await idp.registerClient('short-lived');
    await t.agents.create(tenant, { name: 'Short-lived', idpId: provider.id, subject: client.clientId });
    const url = t.engine.mcpUrl(tenant);
    const token = await idp.mint({ aud: url, client_id: client.clientId }, { expiresIn: 2 });
    const exp = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).exp as number;
    expect((await mcpPost(url, bearer(token))).status).to.equal(200);
    await until(exp * 1000);
    const refused = await mcpPost(url, bearer(token));
    expect(refused.status).to.equal(401);
    expect(refused.body.error_description).to.match(/expired/);
  });

  it('an agent key stops working when its agent is deleted', async () => {
    const agent = await t.agents.create(tenant, { name: 'Deleted bot' });
    const issued = (await t.agents.issueKey(tenant, agent.id, { name: 'k' }))!;
    const url = t.engine.mcpUrl(tenant);
    expect((await mcpPost(url, bearer(issued.secret))).status).to.equal(200);
    expect(await t.agents.delete(tenant, agent.id)).to.equal(true);
    const refused = await mcpPost(url, bearer(issued.secret));
    expect(refused.status).to.equal(401);
    expect(refused.body.error).to.equal('invalid_token');
  });

  it('an agent key stops working when it expires, though it was verified and cached before', async () => {
    const agent = await t.agents.create(tenant, { name: 'Expiring bot' });
    const expiresAt = new Date(Date.now() + 1500);
    const issued = (await t.agents.issueKey(tenant, agent.id, { name: 'short', expiresAt }))!;
    const url = t.engine.mcpUrl(tenant);
    expect((await mcpPost(url, bearer(issued.secret))).status).to.equal(200);
    await until(expiresAt.getTime());
    const refused = await mcpPost(url, bearer(issued.secret));
    expect(refused.status).to.equal(401);
    expect(refused.body.error_description).to.match(/expired/);
  });
});

describe('EE docs/enterprise.md: provider field ranges and tenant ids', function () {
  this.timeout(60_000);
  let t: IdentityEngine;
  before(async () => {
    t = await startIdentityEngine();
  });
  after(() => t?.close());

  const fieldOf = async (promise: Promise<unknown>): Promise<string | undefined> =>
    promise.then(
      () => undefined,
      (error: unknown) => (error instanceof IdentityInputError ? error.field : `not a field error: ${String(error)}`),
    );

  it('clockSkewSeconds defaults to 60 and is at most 300; listOrder defaults to 0 and runs from 0 to 1000', async () => {
    const tenant = uniqueTenant();
    const base = { kind: 'custom' as const, name: 'x' };
    const created = await t.idps.create(tenant, { ...base, issuer: 'https://d.example.com' });
    expect(created).to.deep.include({ clockSkewSeconds: 60, listOrder: 0 });
    expect(await fieldOf(t.idps.create(tenant, { ...base, issuer: 'https://s300.example.com', clockSkewSeconds: 300 }))).to.equal(undefined);
    expect(await fieldOf(t.idps.create(tenant, { ...base, issuer: 'https://s301.example.com', clockSkewSeconds: 301 }))).to.equal('clockSkewSeconds');
    expect(await fieldOf(t.idps.create(tenant, { ...base, issuer: 'https://l0.example.com', listOrder: 0 }))).to.equal(undefined);
    expect(await fieldOf(t.idps.create(tenant, { ...base, issuer: 'https://l1000.example.com', listOrder: 1000 }))).to.equal(undefined);
    expect(await fieldOf(t.idps.create(tenant, { ...base, issuer: 'https://l1001.example.com', listOrder: 1001 }))).to.equal('listOrder');
    expect(await fieldOf(t.idps.create(tenant, { ...base, issuer: 'https://lneg.example.com', listOrder: -1 }))).to.equal('listOrder');
  });

  it('IdP URLs must be https; plain http is accepted on a loopback host only', async () => {
    const tenant = uniqueTenant();
    const base = { kind: 'custom' as const, name: 'x' };
    expect(await fieldOf(t.idps.create(tenant, { ...base, issuer: 'http://idp.example.com' }))).to.equal('issuer');
    expect(await fieldOf(t.idps.create(tenant, { ...base, issuer: 'https://idp.example.com', jwksUri: 'http://idp.example.com/jwks' }))).to.equal('jwksUri');
    expect(await fieldOf(t.idps.create(tenant, { ...base, issuer: 'http://127.0.0.1:9/realm' }))).to.equal(undefined);
    expect(await fieldOf(t.idps.create(tenant, { ...base, issuer: 'http://localhost:9/other' }))).to.equal(undefined);
  });

  it('tenant ids are lowercase slugs of 1–63 letters, digits and inner hyphens', async () => {
    const metadata = (tenant: string) => fetch(`${t.url}/.well-known/oauth-protected-resource/t/${tenant}/api/mcp`);
    for (const valid of ['a', '7', 'a-b', 'x'.repeat(63)]) expect((await metadata(valid)).status, valid).to.equal(200);
    for (const invalid of ['x'.repeat(64), '-acme', 'acme-', 'Acme', 'ac_me']) expect((await metadata(invalid)).status, invalid).to.equal(404);
  });
});
