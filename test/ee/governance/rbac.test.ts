import { expect } from 'chai';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { permissionMatches } from '../../../src/plugins/ee/rbac/permission-pattern.js';
import { governanceEngine, type GovernanceTestEngine } from './support.js';

const text = (result: unknown): string => ((result as { content: { text: string }[] }).content[0]?.text ?? '');
const toolNames = async (client: Client): Promise<string[]> => (await client.listTools()).tools.map((tool) => tool.name).sort();

describe('EE RBAC', () => {
  let t: GovernanceTestEngine;
  before(async () => {
    t = await governanceEngine();
  });
  after(async () => {
    await t?.close();
  });

  it('matches exact permissions, resource wildcards and the global wildcard', () => {
    expect(permissionMatches('tickets:read', 'tickets:read')).to.equal(true);
    expect(permissionMatches('tickets:read', 'tickets:write')).to.equal(false);
    expect(permissionMatches('tickets:*', 'tickets:write')).to.equal(true);
    expect(permissionMatches('tickets:*', 'tickets:comments:write')).to.equal(true);
    expect(permissionMatches('tickets:*', 'ticketsx:read')).to.equal(false);
    expect(permissionMatches('tickets:*', 'tickets')).to.equal(false);
    expect(permissionMatches('*', 'billing:charge')).to.equal(true);
    expect(permissionMatches('*', undefined)).to.equal(true);
    expect(permissionMatches('tickets:*', undefined)).to.equal(false);
  });

  it('denies everything to an agent without roles, and lists no tools', async () => {
    const agent = await t.agent({ name: 'no roles' });
    const client = await t.connect({ token: agent.key });
    expect(await toolNames(client)).to.deep.equal([]);
    const result = await client.callTool({ name: 'tickets.read', arguments: { id: '1' } });
    expect(result.isError).to.equal(true);
    expect(text(result)).to.equal('Permission denied: missing permission tickets:read');
  });

  it('lists and runs only what the roles grant; a denied call names the missing permission only', async () => {
    const reader = await t.role('ticket reader', ['tickets:read']);
    const agent = await t.agent({ name: 'reader', roleIds: [reader] });
    const client = await t.connect({ token: agent.key });
    expect(await toolNames(client)).to.deep.equal(['tickets.read']);
    expect(text(await client.callTool({ name: 'tickets.read', arguments: { id: '7' } }))).to.equal('ticket 7');
    const denied = await client.callTool({ name: 'tickets.write', arguments: { id: '7' } });
    expect(denied.isError).to.equal(true);
    expect(text(denied)).to.equal('Permission denied: missing permission tickets:write');
    const undeclared = await client.callTool({ name: 'diagnostics.ping', arguments: {} });
    expect(undeclared.isError).to.equal(true);
    expect(text(undeclared)).to.contain('missing permission *');
  });

  it('grants a whole resource with resource:* and everything, including undeclared tools, with *', async () => {
    const tickets = await t.role('tickets all', ['tickets:*']);
    const everything = await t.role('superuser', ['*']);
    const ticketAgent = await t.connect({ token: (await t.agent({ roleIds: [tickets] })).key });
    expect(await toolNames(ticketAgent)).to.deep.equal(['tickets.read', 'tickets.write']);
    const root = await t.connect({ token: (await t.agent({ roleIds: [everything] })).key });
    expect(await toolNames(root)).to.deep.equal(['billing.charge', 'diagnostics.ping', 'echo', 'tickets.read', 'tickets.write']);
    expect(text(await root.callTool({ name: 'diagnostics.ping', arguments: {} }))).to.equal('pong');
  });

  it('applies a role change to the next call without reconnecting', async () => {
    const roleId = await t.role('changing', ['tickets:read']);
    const agent = await t.agent({ roleIds: [roleId] });
    const client = await t.connect({ token: agent.key });
    expect((await client.callTool({ name: 'tickets.write', arguments: { id: '1' } })).isError).to.equal(true);

    const patched = await t.http('PATCH', `/api/v1/mcp/roles/${roleId}`, { token: t.adminKey, body: { permissions: ['tickets:read', 'tickets:write'] } });
    expect(patched.status).to.equal(200);
    expect(text(await client.callTool({ name: 'tickets.write', arguments: { id: '1' } }))).to.equal('wrote 1');
    expect(await toolNames(client)).to.deep.equal(['tickets.read', 'tickets.write']);

    expect((await t.http('DELETE', `/api/v1/mcp/roles/${roleId}`, { token: t.adminKey })).status).to.equal(200);
    expect(await toolNames(client)).to.deep.equal([]);
    expect(text(await client.callTool({ name: 'tickets.read', arguments: { id: '1' } }))).to.equal('Permission denied: missing permission tickets:read');
  });

  it('does not let an admin credential call tools', async () => {
    const client = await t.connect({ token: t.adminKey });
    expect(await toolNames(client)).to.deep.equal([]);
    const result = await client.callTool({ name: 'tickets.read', arguments: { id: '1' } });
    expect(result.isError).to.equal(true);
    expect(text(result)).to.contain('missing scope mcp');
  });

  it('gives a plain tenant key (scope mcp, no agent) no tools by default — governance cannot be bypassed with a CE-style key', async () => {
    const plain = await t.connect({ token: (await t.createKey({ scopes: ['mcp'] })).secret });
    expect(await toolNames(plain)).to.deep.equal([]);
    const result = await plain.callTool({ name: 'tickets.read', arguments: { id: '1' } });
    expect(result.isError).to.equal(true);
    expect(text(result)).to.match(/tenant API keys have no roles here/);
    const both = await t.connect({ token: (await t.createKey({ scopes: ['admin', 'mcp'] })).secret });
    expect((await both.callTool({ name: 'tickets.write', arguments: { id: '2' } })).isError).to.equal(true);
  });

  it('lets plain tenant keys call every tool only when the edition is configured with rbac.tenantKeys "allow"', async () => {
    const lenient = await governanceEngine({ edition: { rbac: { tenantKeys: 'allow' } } });
    try {
      const service = await lenient.connect({ token: (await lenient.createKey({ scopes: ['mcp'] })).secret });
      expect(await toolNames(service)).to.deep.equal(['billing.charge', 'diagnostics.ping', 'echo', 'tickets.read', 'tickets.write']);
      expect(text(await service.callTool({ name: 'tickets.write', arguments: { id: '2' } }))).to.equal('wrote 2');
    } finally {
      await lenient.close();
    }
  });

  it('lists in the registry only what the agent may use, each with its permission — never the tools it may not', async () => {
    const reader = await t.role('registry reader', ['tickets:read']);
    const agent = await t.agent({ roleIds: [reader] });
    const response = await t.http('GET', '/api/v1/meta/mcp-registry', { token: agent.key });
    expect(response.status).to.equal(200);
    const data = response.body.data as { edition: string; entries: { name: string; permission: string | null; allowed: boolean; reason?: string }[] };
    expect(data.edition).to.equal('enterprise');
    expect(data.entries.map((entry) => entry.name)).to.deep.equal(['tickets.read']);
    expect(data.entries[0]).to.include({ permission: 'tickets:read', allowed: true });
    expect((await t.http('GET', '/api/v1/meta/mcp-registry')).status).to.equal(401);
  });

  it('explains per tool what an agent may call in the access check', async () => {
    const reader = await t.role('checked reader', ['tickets:read']);
    const agent = await t.agent({ name: 'checked', roleIds: [reader] });
    const response = await t.http('GET', `/api/v1/mcp/access-check?agent=${agent.id}`, { token: t.adminKey });
    expect(response.status).to.equal(200);
    const tools = Object.fromEntries((response.body.data.tools as { name: string; allowed: boolean; reason: string }[]).map((tool) => [tool.name, tool]));
    expect(tools['tickets.read']).to.include({ allowed: true });
    expect(tools['tickets.write']).to.include({ allowed: false, reason: 'missing permission tickets:write' });
    expect(response.body.data.credentials).to.deep.equal({ jwt: false, activeApiKeys: 1 });

    expect((await t.http('POST', `/api/v1/mcp/agents/${agent.id}/deactivate`, { token: t.adminKey })).status).to.equal(200);
    const inactive = await t.http('GET', `/api/v1/mcp/access-check?agent=${agent.id}`, { token: t.adminKey });
    expect((inactive.body.data.tools as { allowed: boolean; reason: string }[]).every((tool) => !tool.allowed && tool.reason === 'agent inactive')).to.equal(true);

    const missing = await t.http('GET', '/api/v1/mcp/access-check?agent=00000000-0000-4000-8000-000000000000', { token: t.adminKey });
    expect(missing.status).to.equal(404);
    const noAgent = await t.http('GET', '/api/v1/mcp/access-check', { token: t.adminKey });
    expect(noAgent.status).to.equal(400);
    expect(noAgent.body.error.details).to.deep.equal([{ field: 'agent', message: 'agent is required (an agent id)' }]);
  });
});
