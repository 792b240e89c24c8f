import { expect } from 'chai';
import { AuditSink } from '@gatehouse-mcp/engine';
import { apiRegistry } from '@gatehouse-mcp/engine/oss';
import { AGENT_KIND } from '@gatehouse-mcp/engine/ee';
import { generateOpenApi } from '../../../scripts/generate-openapi.js';
import { governanceEngine, type GovernanceTestEngine } from '../../ee/governance/support.js';
import { echoApi, MISSING_ID } from '../support/echo-api.js';
import { callTool, dataOf, textOf } from '../support/helpers.js';

const INVOICE = '5a3c1f0e-9b2d-4c8e-8f71-3d2e1c0b9a87';

describe('EE: API registry operations under RBAC and the audit trail', () => {
  let t: GovernanceTestEngine;
  const api = echoApi();

  before(async () => {
    t = await governanceEngine({ plugins: [apiRegistry({ documents: [{ source: generateOpenApi() }], dispatch: { handler: api.handler } })] });
  });
  after(() => t?.close());

  it('applies tenant policies to each operation as an action of its own (operation:<id>)', async () => {
    const reader = await t.role('policy reader', ['api:use', 'invoices:read']);
    const client = await t.connect({ token: (await t.agent({ name: 'policy reader', roleIds: [reader] })).key });
    const schema = (await t.http('GET', '/api/v1/mcp/policies/schema', { token: t.adminKey })).body.data.cedarSchema as string;
    expect(schema).to.contain('action "operation:listInvoices" appliesTo');
    const saved = await t.http('POST', '/api/v1/mcp/policies', {
      token: t.adminKey,
      body: { name: 'no invoice listing', text: 'forbid (principal, action == Action::"operation:listInvoices", resource)\nwhen { context.time.now > datetime("2020-01-01T00:00:00Z") };' },
    });
    expect(saved.status, saved.text).to.equal(201);
    try {
      const refused = await callTool(client, 'api.call', { operationId: 'listInvoices', query: { status: 'open' } });
      expect(textOf(refused)).to.equal('Permission denied: forbidden by policy "no invoice listing"');
      const other = await callTool(client, 'api.call', { operationId: 'getInvoice', path: { invoiceId: INVOICE } });
      expect(dataOf<{ status: number }>(other).status).to.equal(200);
    } finally {
      await t.http('DELETE', `/api/v1/mcp/policies/${saved.body.data.id}`, { token: t.adminKey });
    }
  });

  it('authorizes each operation by its own permission and audits it by operation id', async () => {
    const clerk = await t.role('invoice clerk', ['api:use', 'invoices:read', 'tickets:*']);
    const agent = await t.agent({ name: 'clerk', roleIds: [clerk] });
    const client = await t.connect({ token: agent.key });
    expect((await client.listTools()).tools.map((tool) => tool.name).sort()).to.deep.equal(['api.call', 'api.describe', 'api.search']);

    const listed = await callTool(client, 'api.call', { operationId: 'listInvoices', query: { status: 'open' } });
    const answer = dataOf<{ status: number; body: { principal: { tenant: string; kind: string; id: string } } }>(listed);
    expect(answer.status).to.equal(200);
    // The host's handler learns which agent the call acts for.
    expect(answer.body.principal).to.deep.equal({ tenant: t.tenant, kind: AGENT_KIND, id: agent.id });
    const denied = await callTool(client, 'api.call', { operationId: 'deleteInvoice', path: { invoiceId: INVOICE } });
    expect(denied.isError).to.equal(true);
    expect(textOf(denied)).to.equal('Permission denied: missing permission invoices:delete');
    const missing = await callTool(client, 'api.call', { operationId: 'getTicket', path: { ticketId: MISSING_ID } });
    expect(textOf(missing)).to.match(/failed with HTTP 404/);
    const invalid = await callTool(client, 'api.call', { operationId: 'createTicket', body: {} });
    expect(textOf(invalid)).to.match(/^Invalid arguments for createTicket/);

    const found = dataOf<{ results: { operationId: string; permission: string }[] }>(await callTool(client, 'api.search', { query: 'delete an invoice', limit: 50 }));
    expect(found.results.length).to.be.greaterThan(0);
    expect(found.results.every((r) => r.permission === 'invoices:read' || r.permission.startsWith('tickets:')), JSON.stringify(found.results)).to.equal(true);

    const registry = await t.http('GET', '/api/v1/meta/mcp-registry', { token: agent.key });
    expect(registry.status).to.equal(200);
    // The Enterprise endpoint lists only the entries the caller may use, each with its permission.
    const allowed = new Map((registry.body.data.entries as { name: string; allowed: boolean }[]).map((e) => [e.name, e.allowed]));
    expect(['listInvoices', 'getInvoice', 'createTicket'].map((name) => allowed.get(name))).to.deep.equal([true, true, true]);
    expect(['deleteInvoice', 'listContacts'].map((name) => allowed.has(name))).to.deep.equal([false, false]);

    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const audit = await t.http('GET', `/api/v1/mcp/audit?agent=${agent.id}&limit=500`, { token: t.adminKey });
    expect(audit.status).to.equal(200);
    const records = audit.body.data as Record<string, unknown>[];
    const byTarget = (target: string): Record<string, unknown> | undefined => records.find((r) => Object.values(r).includes(target));
    expect(byTarget('listInvoices'), JSON.stringify(records[0])).to.deep.include({ decision: 'allowed', outcome: 'success' });
    expect(byTarget('deleteInvoice')).to.deep.include({ decision: 'denied' });
    expect(byTarget('getTicket')).to.deep.include({ decision: 'allowed', outcome: 'error' });
    expect(byTarget('createTicket')).to.deep.include({ decision: 'allowed', outcome: 'error' });
  });

  it('denies the registry to an agent without the registry permission', async () => {
    const reader = await t.role('reader only', ['invoices:read']);
    const client = await t.connect({ token: (await t.agent({ roleIds: [reader] })).key });
    expect((await client.listTools()).tools).to.deep.equal([]);
    const result = await callTool(client, 'api.search', { query: 'list invoices' });
    expect(textOf(result)).to.equal('Permission denied: missing permission api:use');
  });
});
