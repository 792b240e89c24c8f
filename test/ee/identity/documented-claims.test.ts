/**
 * Sentences of docs/enterprise.md that no other test asserted (see the claim table in
 * test/ee/docs-claims.test.ts): a cached credential never outliving its own expiry, the agent keys
 * of a deleted agent and expired agent keys, the documented ranges of the provider fields, https
 * for IdP URLs, the tenant id syntax, the SDK taking the first listed IdP, Entra's `oid` binding,
 * admin credentials under another tenant's path and at sign-in. Real engine, real oidc-provider,
 * real SDK client, real HTTP.
 */
import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { ApiKeyStore } from '@gatehouse-mcp/engine';
import { IdentityInputError } from '@gatehouse-mcp/engine/ee';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { startJwksServer, startOidcProvider, type OidcFixture } from '../support/oidc.js';
import { governanceEngine, type GovernanceTestEngine } from '../governance/support.js';
import { bearer, mcpPost, startIdentityEngine, type IdentityEngine } from '../support/identity-engine.js';

/** Wait until the wall clock has passed `epochMs` (for claims about expiry, which is wall-clock time). */
async function until(epochMs: number): Promise<void> {
  while (Date.now() <= epochMs) await new Promise((resolve) => setTimeout(resolve, Math.max(10, epochMs - Date.now() + 5)));
}

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

describe('EE docs/enterprise.md: several IdPs, Entra object ids, admin credentials', function () {
  this.timeout(90_000);

  it('the MCP SDK’s ClientCredentialsProvider takes the first IdP of the metadata: listOrder decides which', async () => {
    const first = await startOidcProvider();
    const second = await startOidcProvider();
    const t = await startIdentityEngine();
    try {
      const tenant = uniqueTenant('multi');
      const url = t.engine.mcpUrl(tenant);
      const clients: { clientId: string; clientSecret: string; expectedIssuer: string }[] = [];
      for (const [index, idp] of [first, second].entries()) {
        const provider = await t.idps.create(tenant, { kind: 'custom', name: `IdP ${index}`, issuer: idp.issuer, subjectClaim: 'client_id', listOrder: index === 0 ? 5 : 1 });
        const client = await idp.registerClient(`agent-${index}`);
        await t.agents.create(tenant, { name: `Agent ${index}`, idpId: provider.id, subject: client.clientId });
        clients.push({ ...client, expectedIssuer: idp.issuer });
      }
      // listOrder 1 (the second IdP) is listed before listOrder 5: the SDK asks that one for its token.
      const connect = async (credentials: { clientId: string; clientSecret: string; expectedIssuer: string }) => {
        const client = new Client({ name: 'several-idps', version: '1.0.0' });
        try {
          await client.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider: new ClientCredentialsProvider(credentials) }));
          const result = (await client.callTool({ name: 'whoami', arguments: {} })) as { content: { text: string }[] };
          return JSON.parse(result.content[0]!.text).attributes.subject as string;
        } finally {
          await client.close().catch(() => undefined);
        }
      };
      expect(await connect(clients[1]!)).to.equal(clients[1]!.clientId);
      // The client of the IdP listed second is sent to the first, to which it will not present its credentials.
      let refused: Error | undefined;
      await connect(clients[0]!).catch((error: Error) => (refused = error));
      expect(refused?.message).to.include(`is not presented to ${second.issuer}`);
    } finally {
      await t.close();
      await first.close();
      await second.close();
    }
  });

  it('an Entra provider with subjectClaim oid names the agent by the service principal’s object id', async () => {
    const jwks = await startJwksServer();
    const t = await startIdentityEngine();
    try {
      const tenant = uniqueTenant('oid');
      const directory = '6f1c2a9e-3b7d-4c1e-9a55-0e2f8d4b7c31';
      const objectId = 'c2a1d7e0-0000-4000-8000-0000000000aa';
      const idp = await t.idps.create(tenant, { kind: 'entra', name: 'Entra', directoryId: directory, jwksUri: jwks.jwksUri, audience: 'api://gatehouse-mcp', subjectClaim: 'oid' });
      const agent = await t.agents.create(tenant, { name: 'By object id', idpId: idp.id, subject: objectId });
      const claims = { iss: idp.issuer, aud: 'api://gatehouse-mcp', azp: '0b9d3c1e-7a44-4f0a-8c2d-5e6f7a8b9c0d', oid: objectId, sub: objectId, tid: directory, ver: '2.0' };
      const ok = await mcpPost(t.engine.mcpUrl(tenant), bearer(await jwks.keys.sign(claims, { alg: 'RS256', typ: 'JWT' })), 'tools/call');
      expect(ok.status).to.equal(200);
      expect(JSON.parse(ok.body.result.content[0].text)).to.deep.include({ id: agent.id });
      // Another service principal of the same application is another identity.
      const other = await mcpPost(t.engine.mcpUrl(tenant), bearer(await jwks.keys.sign({ ...claims, oid: 'c2a1d7e0-0000-4000-8000-0000000000bb' }, { alg: 'RS256', typ: 'JWT' })));
      expect(other.status).to.equal(401);
    } finally {
      await t.close();
      await jwks.close();
    }
  });

  describe('admin credentials', () => {
    let g: GovernanceTestEngine;
    before(async () => {
      g = await governanceEngine();
    });
    after(() => g?.close());

    it('an admin credential is refused under another tenant’s /t/ path, and answers under its own', async () => {
      const other = uniqueTenant('other');
      expect((await g.http('GET', `/t/${g.tenant}/api/v1/mcp/agents`, { token: g.adminKey })).status).to.equal(200);
      const refused = await g.http('GET', `/t/${other}/api/v1/mcp/agents`, { token: g.adminKey });
      expect(refused.status).to.be.oneOf([401, 403]);
      expect(refused.text).to.not.include('"data"');
    });

    it('a revoked or expired admin key is refused at sign-in, saying why', async () => {
      const signIn = (apiKey: string) => fetch(`${g.url}/admin/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ apiKey }) });
      const keys = g.engine.resolve(ApiKeyStore);
      const revoked = await keys.create({ tenant: g.tenant, name: 'old admin', scopes: ['admin'], expiresAt: null, createdBy: 'test' });
      expect((await signIn(revoked.secret)).status).to.equal(200);
      await keys.revoke(g.tenant, revoked.key.id);
      const afterRevoke = await signIn(revoked.secret);
      expect(afterRevoke.status).to.equal(401);
      expect(JSON.stringify(await afterRevoke.json())).to.match(/revoked/);
      const expired = await keys.create({ tenant: g.tenant, name: 'expired admin', scopes: ['admin'], expiresAt: new Date(Date.now() - 1000), createdBy: 'test' });
      const afterExpiry = await signIn(expired.secret);
      expect(afterExpiry.status).to.equal(401);
      expect(JSON.stringify(await afterExpiry.json())).to.match(/expired/);
    });
  });
});
