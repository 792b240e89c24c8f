import { expect } from 'chai';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { AuditSink, ChangeFeed, defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { governanceEngine, type GovernanceTestEngine } from './support.js';

const text = (result: unknown): string => (result as { content: { text: string }[] }).content[0]?.text ?? '';
const isError = (result: unknown): boolean => (result as { isError?: boolean }).isError === true;

const ran: string[] = [];

export const policyTools = definePlugin({
  id: 'policy-tools',
  tools: [
    defineTool({
      name: 'invoices.update',
      description: 'Update an invoice.',
      permission: 'invoices:write',
      input: z.object({
        id: z.string(),
        amount: z.number().describe('Amount in the currency'),
        currency: z.string(),
        customer: z.object({ country: z.string(), vip: z.boolean() }).optional(),
      }),
      handler: (args) => {
        ran.push(`invoices.update ${args.id}`);
        return `updated ${args.id}`;
      },
    }),
    defineTool({
      name: 'tickets.close',
      description: 'Close a ticket.',
      permission: 'tickets:close',
      input: z.object({ board: z.string(), id: z.number().int() }),
      handler: (args) => {
        ran.push(`tickets.close ${args.id}`);
        return `closed ${args.id}`;
      },
    }),
    defineTool({
      name: 'reports.run',
      description: 'Run a report.',
      permission: 'reports:run',
      input: z.object({ name: z.string() }),
      handler: (args) => `report ${args.name}`,
    }),
  ],
});

describe('EE tenant policies (Cedar)', function () {
  this.timeout(60_000);
  let t: GovernanceTestEngine;
  let client: Client;
  let agentId: string;
  const created: string[] = [];

  const save = async (name: string, policyText: string, extra: Record<string, unknown> = {}) => {
    const response = await t.http('POST', '/api/v1/mcp/policies', { token: t.adminKey, body: { name, text: policyText, ...extra } });
    if (response.status !== 201) throw new Error(`policy save failed: ${response.status} ${response.text}`);
    created.push(response.body.data.id);
    return response.body.data as { id: string; version: number; name: string };
  };
  const call = (name: string, args: Record<string, unknown>) => client.callTool({ name, arguments: args });
  const lastAudit = async (tool: string) => {
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const response = await t.http('GET', `/api/v1/mcp/audit?tool=${encodeURIComponent(tool)}&limit=1`, { token: t.adminKey });
    return response.body.data[0] as { decision: string; reason: string; outcome: string; action: string };
  };
  const simulate = async (body: Record<string, unknown>) => {
    const response = await t.http('POST', '/api/v1/mcp/access-check/simulate', { token: t.adminKey, body: { agent: agentId, ...body } });
    if (response.status !== 200) throw new Error(`simulate failed: ${response.status} ${response.text}`);
    return response.body.data as { decision: string; reason: string; stage: string; policies: { id: string; name: string }[]; errors: { policy?: string; message: string }[] };
  };

  before(async () => {
    t = await governanceEngine({ plugins: [policyTools] });
    const role = await t.role('clerk', ['invoices:write', 'tickets:close', 'reports:run']);
    const agent = await t.agent({ name: 'billing bot', roleIds: [role] });
    agentId = agent.id;
    client = await t.connect({ token: agent.key });
  });
  after(async () => {
    await t?.close();
  });
  afterEach(async () => {
    for (const id of created.splice(0)) await t.http('DELETE', `/api/v1/mcp/policies/${id}`, { token: t.adminKey });
  });

  it('refuses a call whose argument passes a numeric bound, and audits the policy as the reason', async () => {
    await save('invoices under 5000', 'forbid (principal, action == Action::"invoices.update", resource)\nwhen { context.arguments.amount.greaterThanOrEqual(decimal("5000.0")) };');
    const small = await call('invoices.update', { id: 'a', amount: 4999.99, currency: 'EUR' });
    expect(isError(small), text(small)).to.equal(false);
    const big = await call('invoices.update', { id: 'b', amount: 5000, currency: 'EUR' });
    expect(isError(big)).to.equal(true);
    expect(text(big)).to.contain('forbidden by policy "invoices under 5000"');
    expect(ran).to.not.include('invoices.update b');
  });

  it('refuses a string outside a set and a nested field, and leaves other calls alone', async () => {
    await save('known currencies', 'forbid (principal, action == Action::"invoices.update", resource)\nunless { ["EUR", "CHF"].contains(context.arguments.currency) };');
    await save('no invoices to sanctioned countries', 'forbid (principal, action == Action::"invoices.update", resource)\nwhen { context.arguments has customer && context.arguments.customer.country == "RU" };');
    expect(isError(await call('invoices.update', { id: 'c1', amount: 10, currency: 'CHF', customer: { country: 'DE', vip: false } }))).to.equal(false);
    const usd = await call('invoices.update', { id: 'c2', amount: 10, currency: 'USD' });
    expect(text(usd)).to.contain('forbidden by policy "known currencies"');
    const nested = await call('invoices.update', { id: 'c3', amount: 10, currency: 'EUR', customer: { country: 'RU', vip: true } });
    expect(text(nested)).to.contain('forbidden by policy "no invoices to sanctioned countries"');
    expect(isError(await call('reports.run', { name: 'weekly' }))).to.equal(false);
    const audited = await lastAudit('invoices.update');
    expect(audited).to.include({ decision: 'denied', outcome: 'denied' });
    expect(audited.reason).to.contain('no invoices to sanctioned countries');
  });

  it('applies time windows: in real calls (the instant) and in the simulator (hour and weekday)', async () => {
    await save('closed since 2020', 'forbid (principal, action == Action::"reports.run", resource)\nwhen { context.time.now > datetime("2020-01-01T00:00:00Z") };');
    expect(text(await call('reports.run', { name: 'weekly' }))).to.contain('forbidden by policy "closed since 2020"');
    for (const id of created.splice(0)) await t.http('DELETE', `/api/v1/mcp/policies/${id}`, { token: t.adminKey });
    await save('closed before 2020', 'forbid (principal, action == Action::"reports.run", resource)\nwhen { context.time.now < datetime("2020-01-01T00:00:00Z") };');
    expect(isError(await call('reports.run', { name: 'weekly' }))).to.equal(false);
    await save('office hours', 'forbid (principal, action, resource)\nunless { context.time.weekday <= 5 && context.time.hour >= 8 && context.time.hour < 18 };');
    const monday = await simulate({ tool: 'reports.run', arguments: { name: 'x' }, at: '2026-11-30T09:30:00Z' });
    expect(monday).to.include({ decision: 'allow' });
    const night = await simulate({ tool: 'reports.run', arguments: { name: 'x' }, at: '2026-11-30T22:00:00Z' });
    expect(night).to.include({ decision: 'deny', stage: 'policy' });
    expect(night.policies.map((p) => p.name)).to.deep.equal(['office hours']);
    const sunday = await simulate({ tool: 'reports.run', arguments: { name: 'x' }, at: '2026-11-29T10:00:00Z' });
    expect(sunday.decision).to.equal('deny');
  });

  it('applies CIDR conditions on the caller\'s address', async () => {
    const local = await save('only from this host', 'forbid (principal, action == Action::"reports.run", resource)\nunless { context has clientAddress && (context.clientAddress.isInRange(ip("127.0.0.0/8")) || context.clientAddress.isLoopback()) };');
    expect(isError(await call('reports.run', { name: 'weekly' }))).to.equal(false);
    await t.http('DELETE', `/api/v1/mcp/policies/${local.id}`, { token: t.adminKey });
    await save('only from the office network', 'forbid (principal, action == Action::"reports.run", resource)\nunless { context has clientAddress && context.clientAddress.isInRange(ip("10.20.0.0/16")) };');
    expect(text(await call('reports.run', { name: 'weekly' }))).to.contain('forbidden by policy "only from the office network"');
    expect(await simulate({ tool: 'reports.run', arguments: { name: 'x' }, clientAddress: '10.20.3.4' })).to.include({ decision: 'allow' });
    expect(await simulate({ tool: 'reports.run', arguments: { name: 'x' }, clientAddress: '10.21.3.4' })).to.include({ decision: 'deny', stage: 'policy' });
  });

  it('lets a forbid override a permit that asks for approval', async () => {
    await save('big invoices need approval', '@approval("required")\npermit (principal, action == Action::"invoices.update", resource)\nwhen { context.arguments.amount.greaterThan(decimal("1000.0")) };');
    await save('never above a million', 'forbid (principal, action == Action::"invoices.update", resource)\nwhen { context.arguments.amount.greaterThan(decimal("1000000.0")) };');
    const huge = await call('invoices.update', { id: 'h1', amount: 2_000_000, currency: 'EUR' });
    expect(text(huge)).to.contain('forbidden by policy "never above a million"');
    const sim = await simulate({ tool: 'invoices.update', arguments: { id: 'h1', amount: 2_000_000, currency: 'EUR' } });
    expect(sim).to.include({ decision: 'deny', stage: 'policy' });
    expect(sim.policies.map((p) => p.name)).to.deep.equal(['never above a million']);
  });

  it('holds a call for approval when a policy requires it, and runs it once approved', async () => {
    await save('big invoices need approval', '@approval("required")\n@reason("invoices above 1,000 need a second pair of eyes")\nforbid (principal, action == Action::"invoices.update", resource)\nwhen { context.arguments.amount.greaterThan(decimal("1000.0")) };');
    expect(isError(await call('invoices.update', { id: 'p1', amount: 999, currency: 'EUR' }))).to.equal(false);
    const held = await call('invoices.update', { id: 'p2', amount: 1500, currency: 'EUR' });
    expect(isError(held)).to.equal(true);
    const match = /request ([0-9a-f-]{36})/.exec(text(held));
    expect(match, text(held)).to.not.equal(null);
    expect(ran).to.not.include('invoices.update p2');
    const pending = await t.http('GET', `/api/v1/mcp/approvals/${match![1]}`, { token: t.adminKey });
    expect(JSON.stringify(pending.body.data)).to.contain('invoices above 1,000 need a second pair of eyes');
    expect((await t.http('POST', `/api/v1/mcp/approvals/${match![1]}/approve`, { token: t.adminKey })).status).to.equal(200);
    expect(text(await call('invoices.update', { id: 'p2', amount: 1500, currency: 'EUR' }))).to.equal('updated p2');
    const sim = await simulate({ tool: 'invoices.update', arguments: { id: 'p3', amount: 1500, currency: 'EUR' } });
    expect(sim).to.include({ decision: 'approval', stage: 'policy' });
  });

  it('refuses an invalid policy at save time with Cedar\'s message and where it is', async () => {
    const unknownTool = await t.http('POST', '/api/v1/mcp/policies', { token: t.adminKey, body: { name: 'typo', text: 'forbid (principal, action == Action::"invoices.updat", resource);' } });
    expect(unknownTool.status).to.equal(400);
    expect(unknownTool.body.error.code).to.equal('validation_failed');
    expect(unknownTool.body.error.details[0]).to.include({ field: 'text', line: 1 });
    expect(unknownTool.body.error.details[0].message).to.contain('unrecognized action `Action::"invoices.updat"`');
    const wrongType = await t.http('POST', '/api/v1/mcp/policies', {
      token: t.adminKey,
      body: { name: 'wrong type', text: 'forbid (principal, action == Action::"tickets.close", resource)\nwhen { context.arguments.id > "7" };' },
    });
    expect(wrongType.status).to.equal(400);
    expect(wrongType.body.error.details[0]).to.include({ field: 'text', line: 2 });
    expect(wrongType.body.error.details[0].message).to.contain('expected Long but saw String');
    const permit = await t.http('POST', '/api/v1/mcp/policies', { token: t.adminKey, body: { name: 'grant', text: 'permit (principal, action, resource);' } });
    expect(permit.status).to.equal(400);
    expect(permit.body.error.details[0].message).to.contain('a permit policy cannot grant anything');
    const checked = await t.http('POST', '/api/v1/mcp/policies/validate', { token: t.adminKey, body: { text: 'forbid (principal, action, resource) when { context.arguments.amount > };' } });
    expect(checked.status).to.equal(200);
    expect(checked.body.data.valid).to.equal(false);
    expect(checked.body.data.errors[0]).to.include({ line: 1 });
    const list = await t.http('GET', '/api/v1/mcp/policies', { token: t.adminKey });
    expect(list.body.data.policies.map((p: { name: string }) => p.name)).to.not.include.members(['typo', 'wrong type', 'grant']);
  });

  it('fails closed when a policy errs at run time: refused, audited, the error stored on the policy', async () => {
    // Valid against the schema, but the multiplication overflows for most ids: evaluating it errs.
    const policy = await save('ticket id arithmetic', 'forbid (principal, action == Action::"tickets.close", resource)\nwhen { context.arguments.id * 2000000000000000000 < 0 };');
    expect(text(await call('tickets.close', { board: 'support', id: 0 }))).to.equal('closed 0');
    const refused = await call('tickets.close', { board: 'support', id: 7 });
    expect(isError(refused)).to.equal(true);
    expect(text(refused)).to.contain('policy "ticket id arithmetic" failed to evaluate').and.to.contain('overflow');
    expect(ran).to.not.include('tickets.close 7');
    const audited = await lastAudit('tickets.close');
    expect(audited).to.include({ decision: 'denied' });
    expect(audited.reason).to.contain('ticket id arithmetic');
    let stored: string | null = null;
    for (let attempt = 0; attempt < 50 && !stored; attempt++) {
      stored = (await t.http('GET', `/api/v1/mcp/policies/${policy.id}`, { token: t.adminKey })).body.data.lastError;
      if (!stored) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(stored).to.contain('evaluation error').and.to.contain('overflow');
    const sim = await simulate({ tool: 'tickets.close', arguments: { board: 'support', id: 7 } });
    expect(sim).to.include({ decision: 'deny', stage: 'policy' });
    expect(sim.errors[0]).to.include({ policy: 'ticket id arithmetic' });
  });

  it('reads the attributes the admin sets on the agent', async () => {
    await save('own board only', 'forbid (principal, action == Action::"tickets.close", resource)\nunless { principal.hasTag("board") && principal.getTag("board") == context.arguments.board };');
    expect(text(await call('tickets.close', { board: 'support', id: 8 }))).to.contain('forbidden by policy "own board only"');
    const patched = await t.http('PATCH', `/api/v1/mcp/agents/${agentId}`, { token: t.adminKey, body: { attributes: { board: 'support' } } });
    expect(patched.status).to.equal(200);
    expect(patched.body.data.attributes).to.deep.equal({ board: 'support' });
    expect(text(await call('tickets.close', { board: 'support', id: 8 }))).to.equal('closed 8');
    expect(text(await call('tickets.close', { board: 'sales', id: 9 }))).to.contain('forbidden by policy "own board only"');
    const bad = await t.http('PATCH', `/api/v1/mcp/agents/${agentId}`, { token: t.adminKey, body: { attributes: { board: 7 } } });
    expect(bad.status).to.equal(400);
    expect(bad.body.error.details[0].field).to.equal('attributes');
    await t.http('PATCH', `/api/v1/mcp/agents/${agentId}`, { token: t.adminKey, body: { attributes: {} } });
  });

  it('versions every change, keeps the history with diffs and audits who changed what', async () => {
    const before = (await t.http('GET', '/api/v1/mcp/policies', { token: t.adminKey })).body.data.version as number;
    const policy = await save('reports by name', 'forbid (principal, action == Action::"reports.run", resource)\nwhen { context.arguments.name == "payroll" };', { description: 'no payroll' });
    expect(policy.version).to.equal(before + 1);
    const disabled = await t.http('PATCH', `/api/v1/mcp/policies/${policy.id}`, { token: t.adminKey, body: { enabled: false } });
    expect(disabled.body.data).to.include({ enabled: false, version: before + 2 });
    expect(isError(await call('reports.run', { name: 'payroll' }))).to.equal(false);
    const edited = await t.http('PATCH', `/api/v1/mcp/policies/${policy.id}`, {
      token: t.adminKey,
      body: { enabled: true, text: 'forbid (principal, action == Action::"reports.run", resource)\nwhen { context.arguments.name == "salaries" };' },
    });
    expect(edited.body.data.version).to.equal(before + 3);
    expect(text(await call('reports.run', { name: 'salaries' }))).to.contain('forbidden by policy "reports by name"');
    const history = (await t.http('GET', `/api/v1/mcp/policies/${policy.id}/history`, { token: t.adminKey })).body.data.history as { version: number; diff: string; enabled: boolean; changedBy: string }[];
    expect(history.map((h) => h.version)).to.deep.equal([before + 3, before + 2, before + 1]);
    expect(history[0]!.diff).to.contain('-when { context.arguments.name == "payroll" };').and.to.contain('+when { context.arguments.name == "salaries" };');
    expect(history[1]!.diff).to.equal('');
    expect(history[0]!.changedBy).to.equal('admin');
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const audit = (await t.http('GET', `/api/v1/mcp/audit?decision=admin&target=${policy.id}`, { token: t.adminKey })).body.data as { action: string; details: any }[];
    expect(audit.map((entry) => entry.action)).to.deep.equal(['policies.update', 'policies.update', 'policies.create']);
    expect(audit[0]!.details.diff).to.contain('+when { context.arguments.name == "salaries" };');
    expect(audit[1]!.details.changed).to.deep.equal({ enabled: { from: true, to: false } });
    expect((await t.http('DELETE', `/api/v1/mcp/policies/${policy.id}`, { token: t.adminKey })).status).to.equal(204);
    expect((await t.http('GET', `/api/v1/mcp/policies/${policy.id}`, { token: t.adminKey })).status).to.equal(404);
    expect((await t.http('GET', '/api/v1/mcp/policies', { token: t.adminKey })).body.data.version).to.equal(before + 4);
  });

  it('serves the generated schema: one action per tool, arguments typed from the input schema', async () => {
    const response = await t.http('GET', '/api/v1/mcp/policies/schema', { token: t.adminKey });
    expect(response.status).to.equal(200);
    const { cedarSchema, tools } = response.body.data as { cedarSchema: string; tools: { name: string; inputSchema: unknown }[] };
    expect(cedarSchema).to.contain('action "invoices.update" appliesTo');
    expect(cedarSchema).to.contain('amount: decimal');
    expect(cedarSchema).to.contain('customer?: {');
    expect(cedarSchema).to.contain('clientAddress?: ipaddr');
    expect(tools.map((tool) => tool.name)).to.include.members(['invoices.update', 'tickets.close', 'reports.run']);
  });

  it('applies a policy saved through one instance on a second instance at once (change feed, not cache expiry)', async function () {
    // Two instances on one database need a database server: each embedded engine has its own.
    if (!process.env.DATABASE_URL) this.skip();
    const other = await governanceEngine({ plugins: [policyTools], tenant: t.tenant, edition: { policies: { cacheTtlMs: 600_000 } } });
    try {
      const key = (await other.agent({ name: 'roaming', roleIds: [await other.role('roaming clerk', ['reports:run'])] })).key;
      const there = await other.connect({ token: key });
      expect(isError(await there.callTool({ name: 'reports.run', arguments: { name: 'q1' } }))).to.equal(false);
      const heard = new Promise<void>((resolve) => {
        const stop = other.engine.resolve<ChangeFeed>(ChangeFeed).subscribe('ee.policies.changed', (payload) => {
          if (payload.tenant === t.tenant) {
            stop();
            resolve();
          }
        });
      });
      await save('no q1 reports', 'forbid (principal, action == Action::"reports.run", resource)\nwhen { context.arguments.name == "q1" };');
      await heard;
      expect(text(await there.callTool({ name: 'reports.run', arguments: { name: 'q1' } }))).to.contain('forbidden by policy "no q1 reports"');
    } finally {
      await other.close();
    }
  });
});
