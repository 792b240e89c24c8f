import { expect } from 'chai';
import { loadCedar } from '../../../src/plugins/ee/policies/cedar.js';
import { AgentFacts, type PrincipalFacts } from '../../../src/plugins/ee/policies/agent-facts.js';
import { toCedarValue } from '../../../src/plugins/ee/policies/cedar-schema.js';
import { PolicyEngine, cedarAddress, type CallFacts, type PolicyVerdict } from '../../../src/plugins/ee/policies/policy-engine.js';
import { defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { governanceEngine, tenantPolicies, type GovernanceTestEngine } from './support.js';

const tools = definePlugin({
  id: 'shortcut-tools',
  tools: [
    defineTool({
      name: 'invoices.update',
      description: 'Update an invoice.',
      permission: 'invoices:write',
      input: z.object({ id: z.string(), amount: z.number(), currency: z.string(), customer: z.object({ country: z.string(), vip: z.boolean() }).optional() }),
      handler: (args) => `updated ${args.id}`,
    }),
    defineTool({
      name: 'tickets.close',
      description: 'Close a ticket.',
      permission: 'tickets:close',
      input: z.object({ board: z.string(), id: z.number().int() }),
      handler: (args) => `closed ${args.id}`,
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

const text = (result: unknown): string => (result as { content: { text: string }[] }).content[0]?.text ?? '';

/**
 * A call that no policy refuses is answered without evaluating the whole set: statements that read
 * nothing of the call are decided once per agent, the others are checked as one joined condition.
 * Every decision must be the one the whole set gives.
 */
describe('EE tenant policies: shortcuts for calls no policy refuses', function () {
  this.timeout(120_000);
  let t: GovernanceTestEngine;
  const agents: Record<'plain' | 'mallory' | 'auditor', string> = { plain: '', mallory: '', auditor: '' };
  const { save, dropAll } = tenantPolicies(() => t);
  const setAttributes = async (agentId: string, attributes: Record<string, string>) => {
    const response = await t.http('PATCH', `/api/v1/mcp/agents/${agentId}`, { token: t.adminKey, body: { attributes } });
    expect(response.status, response.text).to.equal(200);
  };

  before(async () => {
    t = await governanceEngine({ plugins: [tools] });
    const clerk = await t.role('clerk', ['invoices:write', 'tickets:close', 'reports:run']);
    const auditor = await t.role('auditor', ['reports:run']);
    agents.plain = (await t.agent({ name: 'billing bot', roleIds: [clerk] })).id;
    agents.mallory = (await t.agent({ name: 'mallory', roleIds: [clerk] })).id;
    agents.auditor = (await t.agent({ name: 'books bot', roleIds: [clerk, auditor] })).id;
    await setAttributes(agents.mallory, { board: 'support', suspended: 'yes' });
    await setAttributes(agents.auditor, { board: 'sales' });
  });
  after(async () => {
    await t?.close();
  });
  afterEach(dropAll);

  it('gives every call the decision of the whole set: statements with no action scope, action lists, resource and principal scopes, unless, approvals, errors', async () => {
    const tenant = t.tenant;
    const statements: Record<string, string> = {
      'no action scope, reads only the agent': 'forbid (principal, action, resource) when { principal.hasTag("suspended") };',
      'action list, reads the time and the agent': 'forbid (principal, action in [Action::"tickets.close", Action::"reports.run"], resource) when { context.time.hour >= 0 && principal.name == "mallory" };',
      'resource scope': `forbid (principal, action == Action::"invoices.update", resource == Tenant::"${tenant}") when { context.arguments.currency == "XXX" };`,
      'another tenant': 'forbid (principal, action == Action::"invoices.update", resource in Tenant::"elsewhere");',
      'one agent by id': `forbid (principal == Agent::"${agents.mallory}", action == Action::"reports.run", resource);`,
      'own board only, principal in the tenant': `forbid (principal in Tenant::"${tenant}", action == Action::"tickets.close", resource) unless { principal.hasTag("board") && principal.getTag("board") == context.arguments.board };`,
      'big tickets need approval': '@approval("required")\npermit (principal, action == Action::"tickets.close", resource) when { context.arguments.id > 1000 };',
      'auditors ask first': '@approval("required")\nforbid (principal is Agent, action, resource) when { principal.roles.contains("auditor") };',
      'overflowing arithmetic': 'forbid (principal, action == Action::"tickets.close", resource) when { context.arguments.id * 2000000000000000000 < 0 };',
      'only from this host': 'forbid (principal, action, resource) unless { context has clientAddress && context.clientAddress.isInRange(ip("127.0.0.0/8")) };',
      'when and unless': 'forbid (principal, action == Action::"reports.run", resource) when { context.arguments.name like "secret*" } unless { context.time.now < datetime("2000-01-01T00:00:00Z") };',
      'errs for every agent': 'forbid (principal, action == Action::"reports.run", resource) when { principal.name like "*" && 9223372036854775807 + 1 > 0 };',
      'vip customers, entity type and tenant': `forbid (principal is Agent in Tenant::"${tenant}", action == Action::"invoices.update", resource) when { context.arguments has customer && context.arguments.customer.vip };`,
      'the instant and the agent': 'forbid (principal, action == Action::"tickets.close", resource) when { context.time.now > datetime("2020-01-01T00:00:00Z") && principal.hasTag("suspended") };',
      'a calendar field and the credential': 'forbid (principal, action == Action::"invoices.update", resource) when { context.time.weekday > 7 || context.credential == "jwt" };',
    };
    const names = Object.keys(statements);
    // Each statement alone, a few together (several in one policy text), and all of them.
    const sets: string[][] = [...names.map((name) => [name]), names.filter((_, i) => i % 2 === 0), names.filter((_, i) => i % 3 === 1), names.filter((name) => name !== 'errs for every agent'), names];
    const calls: { tool: string; arguments: Record<string, unknown> }[] = [
      { tool: 'invoices.update', arguments: { id: 'i1', amount: 10, currency: 'EUR' } },
      { tool: 'invoices.update', arguments: { id: 'i2', amount: 10, currency: 'XXX', customer: { country: 'DE', vip: true } } },
      { tool: 'tickets.close', arguments: { board: 'support', id: 0 } },
      { tool: 'tickets.close', arguments: { board: 'sales', id: 5000 } },
      { tool: 'reports.run', arguments: { name: 'weekly' } },
      { tool: 'reports.run', arguments: { name: 'secret plan' } },
    ];
    const engine = t.engine.resolve(PolicyEngine);
    const agentFacts = t.engine.resolve(AgentFacts);
    const cedar = await loadCedar();
    const tenantKey: PrincipalFacts = { id: 'tenant-key-1', name: 'a tenant key', roles: [], idp: '', issuer: '', attributes: {} };
    const principals: { id: string; facts: () => Promise<PrincipalFacts | undefined> }[] = [
      ...Object.values(agents).map((id) => ({ id, facts: () => agentFacts.of(tenant, id) })),
      { id: tenantKey.id, facts: async () => ({ ...tenantKey }) },
    ];

    /** What the whole set says, straight from Cedar: every statement of the tenant, every fact of the call. */
    const wholeSet = async (tool: string, args: Record<string, unknown>, principal: (typeof principals)[number], call: CallFacts): Promise<Pick<PolicyVerdict, 'decision' | 'policies' | 'errors'>> => {
      const set = await engine.compiled(tenant);
      expect(set.broken).to.deep.equal([]);
      const action = (await engine.actionOf('tool', tool))!;
      const facts = (await principal.facts())!;
      const address = cedarAddress(call.clientAddress);
      const answer = cedar.isAuthorized({
        principal: { type: 'Agent', id: principal.id },
        action: { type: 'Action', id: action.id },
        resource: { type: 'Tenant', id: tenant },
        context: {
          arguments: toCedarValue(args, action.arguments, ''),
          time: engine.timeOf(call.at),
          credential: call.credential,
          ...(address ? { clientAddress: { __extn: { fn: 'ip', arg: address } } } : {}),
        },
        policies: { staticPolicies: Object.fromEntries([...set.statements.map((statement) => [statement.id, statement.text]), ['base', 'permit(principal, action, resource);']]) },
        entities: [
          { uid: { type: 'Agent', id: principal.id }, attrs: { name: facts.name, roles: [...facts.roles], idp: facts.idp, issuer: facts.issuer }, parents: [{ type: 'Tenant', id: tenant }], tags: { ...facts.attributes } },
          { uid: { type: 'Tenant', id: tenant }, attrs: {}, parents: [] },
        ],
      });
      if (answer.type === 'failure') throw new Error(answer.errors.map((error) => error.message).join('; '));
      const policyOf = (id: string) => set.byId.get(id)!;
      const policies = (list: readonly string[]) => [...new Map(list.map((id) => [policyOf(id).policyId, { id: policyOf(id).policyId, name: policyOf(id).policyName }])).values()];
      const { decision, diagnostics } = answer.response;
      if (diagnostics.errors.length) return { decision: 'deny', policies: [], errors: diagnostics.errors.map(({ policyId }) => ({ policyId: policyOf(policyId).policyId, message: '' })) };
      const decided = diagnostics.reason.filter((id) => id !== 'base');
      if (decision === 'deny') {
        const forbidding = decided.filter((id) => !policyOf(id).approval);
        if (forbidding.length || !decided.length) return { decision: 'deny', policies: policies(forbidding), errors: [] };
        return { decision: 'approval', policies: policies(decided), errors: [] };
      }
      const asking = decided.filter((id) => policyOf(id).approval);
      return asking.length ? { decision: 'approval', policies: policies(asking), errors: [] } : { decision: 'allow', policies: [], errors: [] };
    };

    let compared = 0;
    const allowed = new Set<string>();
    for (const chosen of sets) {
      // Two statements in one policy text when there are several: the text is split into statements.
      const [first, second, ...rest] = chosen;
      if (second) await save(`${first} + ${second}`, `${statements[first!]}\n${statements[second]}`);
      else await save(first!, statements[first!]!);
      for (const name of rest) await save(name, statements[name]!);
      for (const principal of principals) {
        for (const { tool, arguments: args } of calls) {
          for (const clientAddress of ['127.0.0.1', '10.1.2.3', undefined]) {
            const action = (await engine.actionOf('tool', tool))!;
            const call: CallFacts = { arguments: args, at: new Date(), credential: 'api_key', ...(clientAddress ? { clientAddress } : {}) };
            // Twice: the second time the per-agent outcomes are remembered.
            for (let round = 0; round < 2; round++) {
              const verdict = await engine.evaluate(tenant, action, principal, call);
              const expected = await wholeSet(tool, args, principal, call);
              const what = `${chosen.join(', ')} | ${principal.id} ${tool} ${JSON.stringify(args)} from ${clientAddress}`;
              expect(verdict.decision, `${what}: ${verdict.reason}`).to.equal(expected.decision);
              // Cedar names the deciding statements in no particular order.
              expect(verdict.policies, what).to.have.deep.members(expected.policies);
              expect(verdict.errors.map((error) => error.policyId), what).to.have.members(expected.errors.map((error) => error.policyId));
              if (verdict.decision === 'allow') allowed.add(chosen.join(', '));
              compared++;
            }
          }
        }
      }
      await dropAll();
    }
    // The comparison covered allowed calls (the shortcut) and refused ones for most sets.
    expect(compared).to.equal(sets.length * principals.length * calls.length * 3 * 2);
    expect(allowed.size).to.be.greaterThan(sets.length - 3);
  });

  it('decides a call whose statements, joined, are nested deeper than Cedar reads (the whole set decides it)', async () => {
    const client = await t.connect({ token: (await t.agent({ name: 'deep bot', roleIds: [await t.role('deep runner', ['reports:run'])] })).key });
    // Sixty-four conditions joined by && (63 of them, within the 64 a statement may chain) nest
    // past 128 levels as Cedar's JSON, two per &&, more than its reader takes.
    await save('deep conditions', `forbid (principal, action == Action::"reports.run", resource) when { context.arguments.name like "deep*"${' && context.time.hour >= 0'.repeat(63)} };`);
    await save('no secret reports', 'forbid (principal, action == Action::"reports.run", resource) when { context.arguments.name == "secret" };');
    expect(text(await client.callTool({ name: 'reports.run', arguments: { name: 'weekly' } }))).to.equal('report weekly');
    expect(text(await client.callTool({ name: 'reports.run', arguments: { name: 'deep dive' } }))).to.contain('forbidden by policy "deep conditions"');
    expect(text(await client.callTool({ name: 'reports.run', arguments: { name: 'secret' } }))).to.contain('forbidden by policy "no secret reports"');
    await client.close();
  });

  it('follows the agent as it changes: a statement that reads only the agent is decided again when its attributes or roles change', async () => {
    const client = await t.connect({ token: (await t.agent({ name: 'changing bot', roleIds: [await t.role('runner', ['reports:run'])] })).key });
    const list = await t.http('GET', '/api/v1/mcp/agents', { token: t.adminKey });
    const changing = (list.body.data as { id: string; name: string }[]).find((agent) => agent.name === 'changing bot')!.id;
    await save('suspended agents', 'forbid (principal, action, resource) when { principal.hasTag("suspended") };');
    await save('no secret reports', 'forbid (principal, action == Action::"reports.run", resource) when { context.arguments.name == "secret" };');
    expect(text(await client.callTool({ name: 'reports.run', arguments: { name: 'weekly' } }))).to.equal('report weekly');
    await setAttributes(changing, { suspended: 'yes' });
    expect(text(await client.callTool({ name: 'reports.run', arguments: { name: 'weekly' } }))).to.contain('forbidden by policy "suspended agents"');
    await setAttributes(changing, {});
    expect(text(await client.callTool({ name: 'reports.run', arguments: { name: 'weekly' } }))).to.equal('report weekly');
    expect(text(await client.callTool({ name: 'reports.run', arguments: { name: 'secret' } }))).to.contain('forbidden by policy "no secret reports"');
    // Roles: a statement on role names follows a role granted after the first call.
    await save('no reports for auditors', 'forbid (principal, action == Action::"reports.run", resource) when { principal.roles.contains("auditor") };');
    expect(text(await client.callTool({ name: 'reports.run', arguments: { name: 'weekly' } }))).to.equal('report weekly');
    const roles = await t.http('GET', '/api/v1/mcp/roles', { token: t.adminKey });
    const auditor = (roles.body.data as { id: string; name: string }[]).find((role) => role.name === 'auditor')!.id;
    const runner = (roles.body.data as { id: string; name: string }[]).find((role) => role.name === 'runner')!.id;
    const granted = await t.http('PATCH', `/api/v1/mcp/agents/${changing}`, { token: t.adminKey, body: { roleIds: [runner, auditor] } });
    expect(granted.status, granted.text).to.equal(200);
    expect(text(await client.callTool({ name: 'reports.run', arguments: { name: 'weekly' } }))).to.contain('forbidden by policy "no reports for auditors"');
    await client.close();
  });
});
