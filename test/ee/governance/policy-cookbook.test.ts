import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { governanceEngine, type GovernanceTestEngine } from './support.js';

/** The cookbook of docs/policies.md: each rule's title and its policy text, exactly as the doc has them. */
const doc = readFileSync(new URL('../../../docs/policies.md', import.meta.url), 'utf8');
const cookbook = new Map<number, { title: string; text: string }>();
for (const match of doc.matchAll(/^### (\d+)\. (.+)\n[\s\S]*?```cedar\n([\s\S]*?)```/gm)) {
  cookbook.set(Number(match[1]), { title: match[2]!, text: match[3]! });
}
const rule = (n: number): { title: string; text: string } => {
  const found = cookbook.get(n);
  if (!found) throw new Error(`docs/policies.md has no cookbook rule ${n}`);
  return found;
};

const text = (result: unknown): string => (result as { content: { text: string }[] }).content[0]?.text ?? '';
const isError = (result: unknown): boolean => (result as { isError?: boolean }).isError === true;

/** The tools the cookbook is written for, as docs/policies.md describes them. */
const cookbookTools = definePlugin({
  id: 'cookbook-tools',
  tools: [
    defineTool({
      name: 'invoices.update',
      description: 'Update an invoice.',
      permission: 'invoices:write',
      input: z.object({ invoice: z.string(), amount: z.number(), currency: z.string(), customer: z.object({ country: z.string(), vip: z.boolean() }).optional() }),
      handler: ({ invoice }) => `updated ${invoice}`,
    }),
    defineTool({ name: 'tickets.close', description: 'Close a ticket.', permission: 'tickets:close', input: z.object({ board: z.string(), ticket: z.number().int() }), handler: ({ ticket }) => `closed ${ticket}` }),
    defineTool({ name: 'tickets.delete', description: 'Delete a ticket.', permission: 'tickets:delete', input: z.object({ ticket: z.number().int() }), handler: ({ ticket }) => `deleted ${ticket}` }),
    defineTool({ name: 'payments.refund', description: 'Refund a payment.', permission: 'payments:refund', input: z.object({ payment: z.string(), cents: z.number().int() }), handler: ({ cents }) => `refunded ${cents}` }),
    defineTool({
      name: 'shipments.create',
      description: 'Ship an order.',
      permission: 'shipments:create',
      input: z.object({ order: z.string(), address: z.object({ country: z.string(), city: z.string() }) }),
      handler: ({ order }) => `shipped ${order}`,
    }),
    defineTool({ name: 'reports.run', description: 'Run a report.', permission: 'reports:run', input: z.object({ name: z.string() }), handler: ({ name }) => `report ${name}` }),
    defineTool({ name: 'deploy.run', description: 'Deploy a service.', permission: 'deploy:run', input: z.object({ service: z.string(), environment: z.string() }), handler: ({ service, environment }) => `deployed ${service} to ${environment}` }),
  ],
});

describe('docs/policies.md cookbook: every rule, exactly as written', function () {
  this.timeout(60_000);
  let t: GovernanceTestEngine;
  let clerk: Client;
  let clerkId: string;
  let intern: Client;
  let policyId: string | undefined;

  const saveRule = async (n: number): Promise<void> => {
    const { title, text: policyText } = rule(n);
    const response = await t.http('POST', '/api/v1/mcp/policies', { token: t.adminKey, body: { name: title, text: policyText } });
    if (response.status !== 201) throw new Error(`rule ${n} was refused: ${response.text}`);
    policyId = response.body.data.id;
  };
  const simulate = async (body: Record<string, unknown>, agent = clerkId) => {
    const response = await t.http('POST', '/api/v1/mcp/access-check/simulate', { token: t.adminKey, body: { agent, ...body } });
    if (response.status !== 200) throw new Error(`simulate failed: ${response.status} ${response.text}`);
    return response.body.data as { decision: string; stage: string; reason: string; approvers?: number };
  };
  const attributes = async (agentId: string, values: Record<string, string>): Promise<void> => {
    expect((await t.http('PATCH', `/api/v1/mcp/agents/${agentId}`, { token: t.adminKey, body: { attributes: values } })).status).to.equal(200);
  };

  before(async () => {
    t = await governanceEngine({ plugins: [cookbookTools] });
    const all = await t.role('operator', ['invoices:write', 'tickets:*', 'payments:refund', 'shipments:create', 'reports:run', 'deploy:run']);
    const interns = await t.role('intern', []);
    const clerkAgent = await t.agent({ name: 'clerk', roleIds: [all] });
    clerkId = clerkAgent.id;
    clerk = await t.connect({ token: clerkAgent.key });
    intern = await t.connect({ token: (await t.agent({ name: 'intern', roleIds: [all, interns] })).key });
  });
  after(async () => {
    await t?.close();
  });
  afterEach(async () => {
    if (policyId) await t.http('DELETE', `/api/v1/mcp/policies/${policyId}`, { token: t.adminKey });
    policyId = undefined;
    await attributes(clerkId, {});
  });

  it('has ten rules, and the schema it shows is the one the engine generates', async () => {
    expect([...cookbook.keys()]).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    const shown = /the schema \(`GET \/api\/v1\/mcp\/policies\/schema`\) reads:\n\n```cedar\n([\s\S]*?)```/.exec(doc);
    expect(shown, 'the schema example in docs/policies.md').to.not.equal(null);
    const generated = (await t.http('GET', '/api/v1/mcp/policies/schema', { token: t.adminKey })).body.data.cedarSchema as string;
    // The doc shows the part of the schema for invoices.update: the common type, the entities and its action.
    const invoiceAction = /action "invoices\.update" appliesTo \{[\s\S]*?\n\};\n/.exec(generated)![0];
    const head = generated.slice(0, generated.indexOf('action '));
    expect(shown![1]).to.equal(head + invoiceAction);
  });

  it('1. invoices only under 5,000 EUR', async () => {
    await saveRule(1);
    expect(text(await clerk.callTool({ name: 'invoices.update', arguments: { invoice: 'F-1', amount: 4999.5, currency: 'EUR' } }))).to.equal('updated F-1');
    const big = await clerk.callTool({ name: 'invoices.update', arguments: { invoice: 'F-2', amount: 5000, currency: 'EUR' } });
    expect(text(big)).to.equal('Permission denied: invoices of 5,000 EUR or more are updated by the finance team');
    expect(isError(await clerk.callTool({ name: 'invoices.update', arguments: { invoice: 'F-3', amount: 10, currency: 'USD' } }))).to.equal(true);
  });

  it('2. tickets only of the agent\'s own board', async () => {
    await saveRule(2);
    expect(isError(await clerk.callTool({ name: 'tickets.close', arguments: { board: 'support', ticket: 1 } }))).to.equal(true);
    await attributes(clerkId, { board: 'support' });
    expect(text(await clerk.callTool({ name: 'tickets.close', arguments: { board: 'support', ticket: 2 } }))).to.equal('closed 2');
    expect(text(await clerk.callTool({ name: 'tickets.close', arguments: { board: 'sales', ticket: 3 } }))).to.contain('forbidden by policy "Tickets only of the agent\'s own board"');
  });

  it('3. office hours', async () => {
    await saveRule(3);
    const at = (iso: string) => simulate({ tool: 'reports.run', arguments: { name: 'weekly' }, at: iso });
    expect((await at('2026-11-30T09:30:00Z')).decision).to.equal('allow');
    expect((await at('2026-11-30T17:59:00Z')).decision).to.equal('allow');
    expect(await at('2026-11-30T18:00:00Z')).to.include({ decision: 'deny', stage: 'policy' });
    expect((await at('2026-11-28T10:00:00Z')).decision).to.equal('deny');
  });

  it('4. only from our network', async () => {
    await saveRule(4);
    // This test's client calls from the loopback address: outside the network.
    expect(text(await clerk.callTool({ name: 'reports.run', arguments: { name: 'weekly' } }))).to.contain('forbidden by policy "Only from our network"');
    expect((await simulate({ tool: 'reports.run', arguments: { name: 'weekly' }, clientAddress: '10.1.2.3' })).decision).to.equal('allow');
    expect((await simulate({ tool: 'reports.run', arguments: { name: 'weekly' }, clientAddress: '192.168.7.8' })).decision).to.equal('allow');
    expect((await simulate({ tool: 'reports.run', arguments: { name: 'weekly' }, clientAddress: '172.16.0.1' })).decision).to.equal('deny');
  });

  it('5. refunds above 100 EUR need two approvers', async () => {
    await saveRule(5);
    expect(text(await clerk.callTool({ name: 'payments.refund', arguments: { payment: 'P-1', cents: 5000 } }))).to.equal('refunded 5000');
    const held = await clerk.callTool({ name: 'payments.refund', arguments: { payment: 'P-2', cents: 20000 } });
    expect(text(held)).to.match(/^Approval required, request [0-9a-f-]{36}/);
    const id = /request ([0-9a-f-]{36})/.exec(text(held))![1];
    const request = (await t.http('GET', `/api/v1/mcp/approvals/${id}`, { token: t.adminKey })).body.data;
    expect(JSON.stringify(request)).to.contain('"approversRequired":2');
    expect(await simulate({ tool: 'payments.refund', arguments: { payment: 'P-3', cents: 20000 } })).to.include({ decision: 'approval', stage: 'policy', approvers: 2 });
  });

  it('6. agents with the intern role never close or delete tickets', async () => {
    await saveRule(6);
    expect(text(await intern.callTool({ name: 'tickets.delete', arguments: { ticket: 4 } }))).to.contain('forbidden by policy');
    expect(isError(await intern.callTool({ name: 'tickets.close', arguments: { board: 'b', ticket: 4 } }))).to.equal(true);
    expect(text(await clerk.callTool({ name: 'tickets.delete', arguments: { ticket: 4 } }))).to.equal('deleted 4');
  });

  it('7. no shipments to embargoed countries', async () => {
    await saveRule(7);
    expect(isError(await clerk.callTool({ name: 'shipments.create', arguments: { order: 'O-1', address: { country: 'IR', city: 'Tehran' } } }))).to.equal(true);
    expect(text(await clerk.callTool({ name: 'shipments.create', arguments: { order: 'O-2', address: { country: 'DE', city: 'Berlin' } } }))).to.equal('shipped O-2');
  });

  it('8. only the approved reports', async () => {
    await saveRule(8);
    expect(text(await clerk.callTool({ name: 'reports.run', arguments: { name: 'monthly' } }))).to.equal('report monthly');
    expect(isError(await clerk.callTool({ name: 'reports.run', arguments: { name: 'payroll' } }))).to.equal(true);
  });

  it('9. no changes during the year-end freeze', async () => {
    await saveRule(9);
    const invoice = { invoice: 'F-9', amount: 10, currency: 'EUR' };
    expect((await simulate({ tool: 'invoices.update', arguments: invoice, at: '2026-12-25T10:00:00Z' })).decision).to.equal('deny');
    expect((await simulate({ tool: 'invoices.update', arguments: invoice, at: '2026-12-20T10:00:00Z' })).decision).to.equal('allow');
    expect((await simulate({ tool: 'invoices.update', arguments: invoice, at: '2027-01-02T00:00:00Z' })).decision).to.equal('allow');
    expect((await simulate({ tool: 'reports.run', arguments: { name: 'weekly' }, at: '2026-12-25T10:00:00Z' })).decision).to.equal('allow');
  });

  it('10. production deploys: the platform team\'s agents only, each approved', async () => {
    await saveRule(10);
    expect(text(await clerk.callTool({ name: 'deploy.run', arguments: { service: 'api', environment: 'staging' } }))).to.equal('deployed api to staging');
    expect(await simulate({ tool: 'deploy.run', arguments: { service: 'api', environment: 'production' } })).to.include({ decision: 'deny', stage: 'policy' });
    await attributes(clerkId, { team: 'platform' });
    expect(text(await clerk.callTool({ name: 'deploy.run', arguments: { service: 'api', environment: 'production' } }))).to.match(/^Approval required/);
    expect(await simulate({ tool: 'deploy.run', arguments: { service: 'api', environment: 'production' } })).to.include({ decision: 'approval', stage: 'policy' });
  });
});
