import { expect } from 'chai';
import { loadCedar, type Cedar } from '../../../src/plugins/ee/policies/cedar.js';
import { AgentFacts, type PrincipalFacts } from '../../../src/plugins/ee/policies/agent-facts.js';
import { toCedarValue } from '../../../src/plugins/ee/policies/cedar-schema.js';
import { PolicyEngine, cedarAddress, type CallFacts, type PolicyVerdict } from '../../../src/plugins/ee/policies/policy-engine.js';
import { ActionPlan, InstantSpans, datetimeMillis } from '../../../src/plugins/ee/policies/policy-plan.js';
import type { Statement } from '../../../src/plugins/ee/policies/policy-text.js';
import { defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { governanceEngine, tenantPolicies, type GovernanceTestEngine } from './support.js';

const tools = definePlugin({
  id: 'instant-tools',
  tools: [
    defineTool({
      name: 'reports.run',
      description: 'Run a report.',
      permission: 'reports:run',
      input: z.object({ name: z.string() }),
      handler: (args) => `report ${args.name}`,
    }),
  ],
});

const ms = (iso: string): number => new Date(iso).getTime();

/**
 * A statement that reads the instant only by comparing it with datetime literals is decided once
 * per span of instants between those literals (and at each of them), not on every call. Every
 * decision must still be the one Cedar gives for the whole set at that very instant.
 */
describe('EE tenant policies: statements that compare the instant with fixed dates', function () {
  this.timeout(120_000);
  let t: GovernanceTestEngine;
  let cedar: Cedar;
  let agentId = '';
  const { save, dropAll } = tenantPolicies(() => t);

  before(async () => {
    t = await governanceEngine({ plugins: [tools] });
    cedar = await loadCedar();
    agentId = (await t.agent({ name: 'night bot', roleIds: [await t.role('runner', ['reports:run'])] })).id;
    const response = await t.http('PATCH', `/api/v1/mcp/agents/${agentId}`, { token: t.adminKey, body: { attributes: { shift: 'night' } } });
    expect(response.status, response.text).to.equal(200);
  });
  after(async () => {
    await t?.close();
  });
  afterEach(dropAll);

  /** What the whole set says at `call.at`, straight from Cedar: every statement, every fact of the call. */
  const wholeSet = async (call: CallFacts): Promise<Pick<PolicyVerdict, 'decision' | 'policies' | 'errors'>> => {
    const engine = t.engine.resolve(PolicyEngine);
    const set = await engine.compiled(t.tenant);
    expect(set.broken).to.deep.equal([]);
    const action = (await engine.actionOf('tool', 'reports.run'))!;
    const facts = (await t.engine.resolve(AgentFacts).of(t.tenant, agentId))!;
    const address = cedarAddress(call.clientAddress);
    const answer = cedar.isAuthorized({
      principal: { type: 'Agent', id: agentId },
      action: { type: 'Action', id: action.id },
      resource: { type: 'Tenant', id: t.tenant },
      context: {
        arguments: toCedarValue(call.arguments, action.arguments, ''),
        time: engine.timeOf(call.at),
        credential: call.credential,
        ...(address ? { clientAddress: { __extn: { fn: 'ip', arg: address } } } : {}),
      },
      policies: { staticPolicies: Object.fromEntries([...set.statements.map((statement) => [statement.id, statement.text]), ['base', 'permit(principal, action, resource);']]) },
      entities: [
        { uid: { type: 'Agent', id: agentId }, attrs: { name: facts.name, roles: [...facts.roles], idp: facts.idp, issuer: facts.issuer }, parents: [{ type: 'Tenant', id: t.tenant }], tags: { ...facts.attributes } },
        { uid: { type: 'Tenant', id: t.tenant }, attrs: {}, parents: [] },
      ],
    });
    if (answer.type === 'failure') throw new Error(answer.errors.map((error) => error.message).join('; '));
    const policyOf = (id: string) => set.byId.get(id)!;
    const { decision, diagnostics } = answer.response;
    if (diagnostics.errors.length) return { decision: 'deny', policies: [], errors: diagnostics.errors.map(({ policyId }) => ({ policyId: policyOf(policyId).policyId, message: '' })) };
    const decided = diagnostics.reason.filter((id) => id !== 'base');
    const policies = [...new Map(decided.map((id) => [policyOf(id).policyId, { id: policyOf(id).policyId, name: policyOf(id).policyName }])).values()];
    if (decision === 'deny') return { decision: decided.length && decided.every((id) => policyOf(id).approval) ? 'approval' : 'deny', policies, errors: [] };
    return decided.some((id) => policyOf(id).approval) ? { decision: 'approval', policies, errors: [] } : { decision: 'allow', policies: [], errors: [] };
  };

  /** Compare the engine's verdict with Cedar's at every instant, in order and back again (the second pass meets remembered spans). */
  const compareAt = async (instants: readonly number[], clientAddress = '127.0.0.1'): Promise<Map<number, PolicyVerdict>> => {
    const engine = t.engine.resolve(PolicyEngine);
    const action = (await engine.actionOf('tool', 'reports.run'))!;
    const principal = { id: agentId, facts: () => t.engine.resolve(AgentFacts).of(t.tenant, agentId) };
    const verdicts = new Map<number, PolicyVerdict>();
    for (const order of [instants, [...instants].reverse()]) {
      for (const at of order) {
        const call: CallFacts = { arguments: { name: 'weekly' }, at: new Date(at), credential: 'api_key', clientAddress };
        const verdict = await engine.evaluate(t.tenant, action, principal, call);
        const expected = await wholeSet(call);
        const what = `${new Date(at).toISOString()}: ${verdict.reason}`;
        expect(verdict.decision, what).to.equal(expected.decision);
        expect(verdict.policies, what).to.have.deep.members(expected.policies);
        expect(verdict.errors.map((error) => error.policyId), what).to.have.members(expected.errors.map((error) => error.policyId));
        verdicts.set(at, verdict);
      }
    }
    return verdicts;
  };

  /** Every literal's instant, a millisecond before and after, and instants far away on both sides. */
  const around = (...literals: number[]): number[] => [ms('1999-06-01T00:00:00Z'), ...literals.flatMap((at) => [at - 1, at, at + 1]), ms('2040-06-01T00:00:00Z')];

  it('reads datetime literals as Cedar does: dates, times, milliseconds and offsets, to the millisecond', async () => {
    const literals = [
      '2020-01-01',
      '2020-02-29',
      '2020-03-01T12:34:56Z',
      '2020-03-01T12:34:56.789Z',
      '2020-03-01T00:30:00+0100',
      '2020-03-01T23:30:00-0130',
      '2020-03-01T00:00:00.001+2359',
      '2020-03-01T00:00:00-0000',
      '0000-01-01',
      '9999-12-31T23:59:59.999Z',
    ];
    for (const literal of literals) {
      const read = datetimeMillis(literal);
      expect(read, literal).to.be.a('number');
      // Cedar's own comparison at the instant read, a millisecond before and after.
      for (const [delta, expected] of [
        [-1, 'lt'],
        [0, 'eq'],
        [1, 'gt'],
      ] as const) {
        const iso = new Date(read! + delta).toISOString();
        // Before year 0000 and after 9999 an instant is not written as Cedar reads it.
        if (!/^\d{4}-/.test(iso)) continue;
        const answer = cedar.isAuthorized({
          principal: { type: 'Agent', id: 'a' },
          action: { type: 'Action', id: 'x' },
          resource: { type: 'Tenant', id: 't' },
          context: { now: { __extn: { fn: 'datetime', arg: iso } } },
          policies: {
            staticPolicies: {
              lt: `permit (principal, action, resource) when { context.now < datetime("${literal}") };`,
              eq: `permit (principal, action, resource) when { context.now == datetime("${literal}") };`,
              gt: `permit (principal, action, resource) when { context.now > datetime("${literal}") };`,
            },
          },
          entities: [],
        });
        expect(answer.type).to.equal('success');
        if (answer.type === 'success') expect(answer.response.diagnostics.reason, `${literal} at ${iso}`).to.deep.equal([expected]);
      }
    }
    // Texts Cedar does not read as datetimes are not read here either.
    for (const literal of ['2020-02-30', '2020-01-01T24:00:00Z', '2020-01-01T00:00:00.5Z', '2020-01-01T00:00', '20200101', '+2020-01-01']) expect(datetimeMillis(literal), literal).to.equal(undefined);
  });

  it('tells spans apart at each breakpoint, a millisecond either side', () => {
    const spans = new InstantSpans([20, 10, 20]);
    expect([0, 9, 10, 11, 19, 20, 21, 1e12].map((at) => spans.spanOf(at))).to.deep.equal([0, 0, 1, 2, 2, 3, 4, 4]);
    expect(spans.spanOf(Number.NaN)).to.equal(undefined);
    expect(spans.spanOf(ms('0000-01-01T00:00:00Z') - 1)).to.equal(undefined);
    expect(spans.spanOf(ms('9999-12-31T23:59:59.999Z'))).to.equal(4);
    expect(new InstantSpans(undefined).spanOf(Number.NaN)).to.equal(0);
  });

  it('decides only comparisons with literals once per span; any other use of the instant is evaluated on every call', () => {
    const statement = (id: string, condition: string): Statement =>
      ({ id, policyId: id, policyName: id, text: `forbid (principal, action == Action::"reports.run", resource) when { ${condition} };`, actions: new Set(['reports.run']) }) as unknown as Statement;
    const plan = new ActionPlan(cedar, 'reports.run', [
      statement('before', 'context.time.now < datetime("2020-01-01")'),
      statement('reversed', 'datetime("2021-01-01T00:00:00+0100") >= context.time.now && principal.hasTag("shift")'),
      statement('unless', 'context has clientAddress && !(context.time.now == datetime("2022-01-01T00:00:00.500Z"))'),
      statement('calendar too', 'context.time.hour < 6 && context.time.now != datetime("2023-01-01")'),
      statement('arithmetic', 'context.time.now.offset(duration("1h")) < datetime("2020-01-01")'),
      statement('two instants', 'context.time.now == context.time.now'),
      statement('toDate', 'context.time.now.toDate() == datetime("2020-01-01")'),
      statement('as a whole', 'context.time has now && context.time.now < datetime("2020-01-01")'),
      statement('arguments', 'context.time.now < datetime("2020-01-01") && context.arguments.name == "x"'),
      statement('not Cedar\'s', 'context.time.now < datetime("2020-01-01T00:00:00+0099")'),
    ]);
    expect(plan.fixed.map((s) => s.id)).to.deep.equal(['before', 'reversed', 'unless', 'calendar too']);
    expect(plan.contextual.map((s) => s.id)).to.deep.equal(['arithmetic', 'two instants', 'toDate', 'as a whole', 'arguments', "not Cedar's"]);
    expect(plan.instants.breakpoints).to.deep.equal([ms('2020-01-01'), ms('2020-12-31T23:00:00Z'), ms('2022-01-01T00:00:00.500Z'), ms('2023-01-01')]);
  });

  it('gives the decision Cedar gives at every instant: each comparison, literals on either side, with the agent, the address and approvals', async () => {
    const a = ms('2020-01-01T00:00:00Z');
    const b = ms('2021-06-15T12:00:00.250Z');
    const c = ms('2022-03-01T00:00:00+0200');
    await save('not before', 'forbid (principal, action == Action::"reports.run", resource) when { context.time.now < datetime("2020-01-01") };');
    await save('not at b', 'forbid (principal, action == Action::"reports.run", resource) when { context.time.now == datetime("2021-06-15T12:00:00.250Z") };');
    await save('night shift until c', 'forbid (principal, action, resource) when { principal.hasTag("shift") && datetime("2022-03-01T00:00:00+0200") <= context.time.now && !(context.time.now > datetime("2023-01-01")) };');
    await save('window', '@approval("required")\npermit (principal, action == Action::"reports.run", resource) when { context.time.now >= datetime("2021-06-15T12:00:00.250Z") && context.time.now <= datetime("2022-03-01T00:00:00+0200") } unless { context.time.now != datetime("2021-06-15T12:00:00.250Z") && context has clientAddress && context.clientAddress.isInRange(ip("10.0.0.0/8")) };');
    const plan = (await t.engine.resolve(PolicyEngine).compiled(t.tenant)).planFor(cedar, (await t.engine.resolve(PolicyEngine).actionOf('tool', 'reports.run'))!.id);
    expect(plan.contextual, 'every statement is decided per span').to.deep.equal([]);
    const instants = around(a, b, c, ms('2023-01-01'));
    const verdicts = await compareAt(instants);
    await compareAt(instants, '10.1.2.3');
    // The spans do change the answer: refused before a, approval inside the window, allowed after.
    expect(verdicts.get(a - 1)!.decision).to.equal('deny');
    expect(verdicts.get(a)!.decision).to.equal('allow');
    expect(verdicts.get(b)!.decision).to.equal('deny');
    expect(verdicts.get(b + 1)!.decision).to.equal('approval');
    expect(verdicts.get(c)!.decision).to.equal('deny');
    expect(verdicts.get(ms('2023-01-01') + 1)!.decision).to.equal('allow');
  });

  it('fails closed where Cedar cannot evaluate a statement, in the spans where it cannot', async () => {
    const at = ms('2030-01-01T00:00:00Z');
    await save('errs until 2030', 'forbid (principal, action == Action::"reports.run", resource) when { context.time.now > datetime("2030-01-01") || 9223372036854775807 + 1 > 0 };');
    const verdicts = await compareAt(around(at));
    for (const instant of [at - 1, at]) {
      expect(verdicts.get(instant)!.decision).to.equal('deny');
      expect(verdicts.get(instant)!.errors.map((error) => error.policy)).to.deep.equal(['errs until 2030']);
    }
    expect(verdicts.get(at + 1)!.decision).to.equal('deny');
    expect(verdicts.get(at + 1)!.errors).to.deep.equal([]);
    expect(verdicts.get(at + 1)!.reason).to.contain('forbidden by policy "errs until 2030"');
  });

  it('answers an instant outside the years a datetime is written with as the whole set does', async () => {
    await save('not before', 'forbid (principal, action == Action::"reports.run", resource) when { context.time.now < datetime("2020-01-01") };');
    const engine = t.engine.resolve(PolicyEngine);
    const action = (await engine.actionOf('tool', 'reports.run'))!;
    const principal = { id: agentId, facts: () => t.engine.resolve(AgentFacts).of(t.tenant, agentId) };
    await compareAt([ms('2025-01-01T00:00:00Z'), ms('9999-12-31T23:59:59.999Z')]);
    // Past year 9999 the instant is no datetime Cedar reads: refused, as the whole set refuses it, although the span after 2020 allowed the call.
    const far = await engine.evaluate(t.tenant, action, principal, { arguments: { name: 'weekly' }, at: new Date(ms('9999-12-31T23:59:59.999Z') + 1), credential: 'api_key' });
    expect(far.decision).to.equal('deny');
    expect(far.errors).to.have.length(1);
  });
});
