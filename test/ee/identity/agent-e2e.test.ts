import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { AuditSink, Database, definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { AgentStore, IdpProviderStore, enterpriseEdition } from '@gatehouse-mcp/engine/ee';
import { createTestEngine, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { RoleStore } from '../../../src/plugins/ee/rbac/role-store.js';
import { startOidcProvider, type OidcFixture } from '../support/oidc.js';

const readTicket = defineTool({
  name: 'tickets.read',
  description: 'Reads a ticket.',
  permission: 'tickets:read',
  input: z.object({ id: z.string() }),
  handler: ({ id }, ctx) => `ticket ${id} for ${ctx.principal.label}`,
});
const closeTicket = defineTool({
  name: 'tickets.close',
  description: 'Closes a ticket.',
  permission: 'tickets:write',
  input: z.object({ id: z.string() }),
  handler: ({ id }) => `closed ${id}`,
});

describe('EE identity: an agent end to end with a real OpenID provider', function () {
  this.timeout(60_000);
  let idp: OidcFixture;
  let t: TestEngine;

  before(async () => {
    idp = await startOidcProvider();
    t = await createTestEngine({ connect: false, plugins: [enterpriseEdition(), definePlugin({ id: 'tickets', tools: [readTicket, closeTicket] })] });
  });

  after(async () => {
    await t?.close();
    await idp?.close();
  });

  it('gets 401, follows the resource metadata to the IdP, obtains a token for the tenant resource and calls an allowed tool', async () => {
    const tenant = uniqueTenant('acme');
    const provider = await t.engine.resolve(IdpProviderStore).create(tenant, { kind: 'custom', name: 'Corporate IdP', issuer: idp.issuer, subjectClaim: 'client_id' });
    const credentials = await idp.registerClient('ticket-bot');
    const agent = await t.engine.resolve(AgentStore).create(tenant, { name: 'Ticket bot', idpId: provider.id, subject: credentials.clientId });
    const roles = t.engine.resolve(RoleStore);
    const reader = await roles.create(tenant, { name: 'reader', permissions: ['tickets:read'] });
    await roles.assign(tenant, agent.id, [reader.id]);

    // Without a token, the challenge names the tenant's resource metadata, which names the IdP.
    const url = t.engine.mcpUrl(tenant);
    const bare = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' });
    expect(bare.status).to.equal(401);
    const metadataUrl = /resource_metadata="([^"]+)"/.exec(bare.headers.get('www-authenticate') ?? '')?.[1];
    expect(metadataUrl).to.equal(`${t.url}/.well-known/oauth-protected-resource/t/${tenant}/api/mcp`);
    const metadata = (await (await fetch(metadataUrl!)).json()) as { resource: string; authorization_servers: string[] };
    expect(metadata.resource).to.equal(url);
    expect(metadata.authorization_servers).to.deep.equal([idp.issuer]);

    const authProvider = new ClientCredentialsProvider({ clientId: credentials.clientId, clientSecret: credentials.clientSecret, expectedIssuer: idp.issuer });
    const client = new Client({ name: 'ticket-bot', version: '1.0.0' });
    try {
      await client.connect(new StreamableHTTPClientTransport(new URL(url), { authProvider }));
      const tokens = authProvider.tokens();
      expect(tokens?.access_token, 'the SDK obtained a token').to.be.a('string');

      const listed = await client.listTools();
      expect(listed.tools.map((tool) => tool.name)).to.deep.equal(['tickets.read']);
      const result = await client.callTool({ name: 'tickets.read', arguments: { id: 'T-1' } });
      expect(result.isError).to.not.equal(true);
      expect(result.content).to.deep.equal([{ type: 'text', text: 'ticket T-1 for Ticket bot' }]);

      const denied = await client.callTool({ name: 'tickets.close', arguments: { id: 'T-1' } });
      expect(denied.isError).to.equal(true);
      expect(JSON.stringify(denied.content)).to.include('tickets:write');
    } finally {
      await client.close();
    }

    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const rows = await t.engine.resolve<Database>(Database).forTenant(tenant).table('mcp_agent_audit').where({ action: 'tools/call' }).orderBy('id');
    const calls = rows.map((row: any) => ({ target: row.target, decision: row.decision, agent: row.agent_id, issuer: row.issuer, subject: row.subject }));
    expect(calls).to.deep.include({ target: 'tickets.read', decision: 'allowed', agent: agent.id, issuer: idp.issuer, subject: credentials.clientId });
    expect(calls).to.deep.include({ target: 'tickets.close', decision: 'denied', agent: agent.id, issuer: idp.issuer, subject: credentials.clientId });
  });

  it('audits a refused token in the tenant whose URL was called', async () => {
    const tenant = uniqueTenant('acme');
    await t.engine.resolve(IdpProviderStore).create(tenant, { kind: 'custom', name: 'IdP', issuer: idp.issuer, subjectClaim: 'client_id' });
    const url = t.engine.mcpUrl(tenant);
    const token = await idp.mint({ aud: 'https://another.example.com/api/mcp', client_id: 'x' });
    const response = await fetch(url, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' });
    expect(response.status).to.equal(401);
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const rows = await t.engine.resolve<Database>(Database).forTenant(tenant).table('mcp_agent_audit').where({ decision: 'auth-failed' });
    expect(rows).to.have.length(1);
    expect(rows[0]!.reason).to.match(/another resource/);
  });
});
