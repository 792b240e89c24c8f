import { expect } from 'chai';
import { apiRegistry } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import type { AuditEvent, RegistryEntry } from '@gatehouse-mcp/engine';
import { generateOpenApi } from '../../scripts/generate-openapi.js';
import { echoApi, MISSING_ID, type EchoApi } from './support/echo-api.js';
import { governedEdition } from './support/governed-edition.js';
import { callTool, dataOf, textOf } from './support/helpers.js';

const INVOICE = '5a3c1f0e-9b2d-4c8e-8f71-3d2e1c0b9a87';

describe('API registry governance: the operation is what is authorized and audited', () => {
  let api: EchoApi;
  let t: TestEngine;
  let edition: ReturnType<typeof governedEdition>;

  before(async () => {
    api = echoApi();
    // Everything but deleting invoices and anything about users.
    edition = governedEdition((_principal, request) => request.permission !== 'invoices:delete' && !request.permission?.startsWith('users:'));
    t = await createTestEngine({
      plugins: [edition.plugin, apiRegistry({ documents: [{ source: generateOpenApi() }], dispatch: { handler: api.handler }, maxResponseBytes: 32 * 1024 })],
    });
  });
  after(() => t?.close());
  beforeEach(() => {
    api.received.splice(0);
    edition.audit.events.splice(0);
  });

  const lastCall = (): AuditEvent => {
    const calls = edition.audit.events.filter((e) => e.action === 'tools/call');
    expect(calls, 'one audited call').to.have.length(1);
    return calls[0]!;
  };

  it('denies an operation the caller lacks the permission for, and audits the operation', async () => {
    const result = await callTool(t.client, 'api.call', { operationId: 'deleteInvoice', path: { invoiceId: INVOICE } });
    expect(result.isError).to.equal(true);
    expect(textOf(result)).to.equal('Permission denied: missing permission invoices:delete');
    expect(api.received).to.have.length(0);
    const event = lastCall();
    expect(event).to.include({ target: 'deleteInvoice', decision: 'denied', outcome: 'denied', reason: 'missing permission invoices:delete' });
    expect(event.details).to.deep.equal({ tool: 'api.call', method: 'DELETE', path: '/invoices/{invoiceId}' });
    expect(edition.policy.decisions.map((d) => d.request)).to.deep.include({ kind: 'operation', name: 'deleteInvoice', permission: 'invoices:delete' });
    // The tool call itself is decided with the call's facts: its (validated) arguments among them.
    const toolRequest = edition.policy.decisions.map((d) => d.request).find((request) => request.kind === 'tool' && request.name === 'api.call');
    expect(toolRequest).to.include({ kind: 'tool', name: 'api.call', permission: 'api:use' });
    expect(toolRequest?.context?.arguments).to.deep.equal({ operationId: 'deleteInvoice', path: { invoiceId: INVOICE } });
  });

  it('audits allowed calls and each kind of failure under the operation id', async () => {
    const ok = await callTool(t.client, 'api.call', { operationId: 'listInvoices', query: { status: 'open' } });
    expect(dataOf(ok).status).to.equal(200);
    expect(lastCall()).to.include({ target: 'listInvoices', decision: 'allowed', outcome: 'success' });

    edition.audit.events.splice(0);
    await callTool(t.client, 'api.call', { operationId: 'getTicket', path: { ticketId: MISSING_ID } });
    expect(lastCall()).to.include({ target: 'getTicket', decision: 'allowed', outcome: 'error' });

    edition.audit.events.splice(0);
    await callTool(t.client, 'api.call', { operationId: 'createTicket', body: { subject: '' } });
    const invalid = lastCall();
    expect(invalid).to.include({ target: 'createTicket', outcome: 'error' });
    expect(invalid.reason).to.match(/^Invalid arguments for createTicket/);

    edition.audit.events.splice(0);
    await callTool(t.client, 'api.call', { operationId: 'getRevenueReport', query: { from: '2025-01-01', to: '2025-12-31' } });
    const oversized = lastCall();
    expect(oversized).to.include({ target: 'getRevenueReport', outcome: 'error' });
    expect(oversized.reason).to.include('byte limit');
  });

  it('search and describe reveal only operations the caller may use', async () => {
    const found = dataOf<{ results: { operationId: string }[] }>(await callTool(t.client, 'api.search', { query: 'delete an invoice' }));
    const ids = found.results.map((r) => r.operationId);
    expect(ids).to.not.include('deleteInvoice');
    expect(ids).to.include.members(['getInvoice', 'updateInvoice']);
    const users = dataOf<{ results: { operationId: string; permission: string }[] }>(await callTool(t.client, 'api.search', { query: 'deactivate a user', limit: 50 }));
    expect(users.results.filter((r) => r.permission.startsWith('users:'))).to.deep.equal([]);

    const hidden = await callTool(t.client, 'api.describe', { operationId: 'deleteInvoice' });
    expect(textOf(hidden)).to.equal('Unknown operation "deleteInvoice". Use api.search to find operations.');
    expect(dataOf(await callTool(t.client, 'api.describe', { operationId: 'getInvoice' })).operationId).to.equal('getInvoice');
  });

  it('the registry endpoint lists the operations the caller may use', async () => {
    const response = await fetch(`${t.url}/api/v1/meta/mcp-registry`, { headers: { authorization: `Bearer ${t.apiKey}` } });
    expect(response.status).to.equal(200);
    const { data } = (await response.json()) as { data: { count: number; entries: RegistryEntry[] } };
    const names = data.entries.map((e) => e.name);
    expect(names).to.include.members(['api.search', 'api.call', 'createTicket', 'getInvoice']);
    expect(names).to.not.include('deleteInvoice');
    expect(data.entries.filter((e) => e.permission?.startsWith('users:'))).to.deep.equal([]);
    const createTicket = data.entries.find((e) => e.name === 'createTicket')!;
    expect(createTicket).to.deep.include({ kind: 'operation', permission: 'tickets:write', plugin: 'api' });
    expect(createTicket.extra).to.deep.include({ tool: 'api.call', method: 'POST', path: '/tickets' });
    expect(data.count).to.equal(data.entries.length);
  });
});
