import { createRequire } from 'node:module';
import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { AuditSink, defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { MAX_CONDITIONS, MAX_NESTING } from '../../../src/plugins/ee/policies/policy-limits.js';
import { governanceEngine, type GovernanceTestEngine } from './support.js';

const text = (result: unknown): string => (result as { content: { text: string }[] }).content[0]?.text ?? '';
const isError = (result: unknown): boolean => (result as { isError?: boolean }).isError === true;

const hostileTools = definePlugin({
  id: 'hostile-policy-tools',
  tools: [
    defineTool({
      name: 'files.delete',
      description: 'Delete a file.',
      permission: 'files:delete',
      input: z.object({ path: z.string() }),
      handler: (args) => `deleted ${args.path}`,
    }),
    defineTool({
      name: 'notes.store',
      description: 'Store a note with free-form metadata.',
      permission: 'notes:store',
      input: z.object({ title: z.string(), metadata: z.record(z.string(), z.unknown()).optional() }),
      handler: (args) => `stored ${args.title}`,
    }),
  ],
});

const statement = (condition: string): string => `forbid (principal, action == Action::"files.delete", resource)\nwhen { ${condition} };`;

/** Texts whose nesting crashed Cedar's WebAssembly (and with it every tenant's policies) before they were refused. */
const hostile: Record<string, string> = {
  'parentheses 140 deep': statement(`${'('.repeat(140)}true${')'.repeat(140)}`),
  'sets 140 deep': statement(`${'['.repeat(140)}1${']'.repeat(140)} == [1]`),
  'records 140 deep': statement(`${'{a: '.repeat(140)}1${'}'.repeat(140)} == {a: 1}`),
  'an if-then-else chain of 400': statement(`${'if true then '.repeat(400)}true${' else false'.repeat(400)}`),
  'an addition chain of 600': statement(`${Array(601).fill('1').join(' + ')} == 1`),
  'an attribute chain of 600': statement(`context has arguments && context.arguments${'.a'.repeat(600)} == 1`),
  'a chain of 1200 ||': statement(Array(1201).fill('true').join(' || ')),
};

describe('EE tenant policies: texts nested too deeply for Cedar', function () {
  this.timeout(120_000);
  let t: GovernanceTestEngine;
  let client: Client;
  let agentId: string;
  let agentKey: string;
  const other = { tenant: uniqueTenant('other'), admin: '', client: undefined as unknown as Client };

  const lastAudit = async (tool: string, token = t.adminKey) => {
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const response = await t.http('GET', `/api/v1/mcp/audit?tool=${encodeURIComponent(tool)}&limit=1`, { token });
    return response.body.data[0] as { decision: string; reason: string; outcome: string };
  };
  /** The other tenant's forbid still refuses its call, and an allowed call still passes: Cedar still works. */
  const otherTenantStillEvaluates = async () => {
    const refused = await other.client.callTool({ name: 'files.delete', arguments: { path: '/etc/passwd' } });
    expect(text(refused)).to.contain('forbidden by policy "nothing under /etc"');
    const allowed = await other.client.callTool({ name: 'files.delete', arguments: { path: '/tmp/x' } });
    expect(isError(allowed), text(allowed)).to.equal(false);
  };

  before(async () => {
    t = await governanceEngine({ plugins: [hostileTools] });
    const role = await t.role('cleaner', ['files:delete', 'notes:store']);
    const agent = await t.agent({ name: 'cleaner bot', roleIds: [role] });
    agentId = agent.id;
    agentKey = agent.key;
    client = await t.connect({ token: agent.key });
    other.admin = await t.adminOf(other.tenant);
    const otherRole = await t.role('cleaner', ['files:delete'], other.admin);
    const otherAgent = await t.agent({ name: 'other bot', roleIds: [otherRole], token: other.admin });
    other.client = await t.connect({ token: otherAgent.key });
    const saved = await t.http('POST', '/api/v1/mcp/policies', {
      token: other.admin,
      body: { name: 'nothing under /etc', text: statement('context.arguments.path like "/etc/*"') },
    });
    expect(saved.status, saved.text).to.equal(201);
    await otherTenantStillEvaluates();
  });
  after(async () => {
    await t?.close();
  });

  for (const [shape, policy] of Object.entries(hostile)) {
    it(`refuses to save ${shape}, naming where, and other tenants' policies keep evaluating`, async () => {
      const saved = await t.http('POST', '/api/v1/mcp/policies', { token: t.adminKey, body: { name: shape, text: policy } });
      expect(saved.status, saved.text).to.equal(400);
      expect(saved.body.error.message).to.match(/nests too deeply|too many conditions/);
      const checked = await t.http('POST', '/api/v1/mcp/policies/validate', { token: t.adminKey, body: { text: policy } });
      expect(checked.status, checked.text).to.equal(200);
      expect(checked.body.data.valid).to.equal(false);
      expect(checked.body.data.errors[0].line).to.be.a('number');
      expect(checked.body.data.errors[0].column).to.be.a('number');
      await otherTenantStillEvaluates();
    });
  }

  it(`accepts expressions up to the documented limits (${MAX_NESTING} levels, ${MAX_CONDITIONS} conditions)`, async () => {
    const deepest = statement(`${'('.repeat(MAX_NESTING - 4)}context.arguments.path == "/x"${')'.repeat(MAX_NESTING - 4)}`);
    const widest = statement(Array(MAX_CONDITIONS + 1).fill('context.arguments.path == "/x"').join(' || '));
    // Brackets and operators in strings and comments are not part of any expression.
    const quoted = `// ${'(['.repeat(200)} + + + . . .\n${statement(`context.arguments.path like "${'(['.repeat(200)}*${' + .'.repeat(200)}"`)}`;
    for (const policy of [deepest, widest, quoted]) {
      const checked = await t.http('POST', '/api/v1/mcp/policies/validate', { token: t.adminKey, body: { text: policy } });
      expect(checked.body.data, JSON.stringify(checked.body.data.errors)).to.deep.include({ valid: true });
    }
    const saved = await t.http('POST', '/api/v1/mcp/policies', { token: t.adminKey, body: { name: 'deep but allowed', text: deepest } });
    expect(saved.status, saved.text).to.equal(201);
    expect(text(await client.callTool({ name: 'files.delete', arguments: { path: '/x' } }))).to.contain('forbidden by policy "deep but allowed"');
    const simulated = await t.http('POST', '/api/v1/mcp/access-check/simulate', { token: t.adminKey, body: { agent: agentId, tool: 'files.delete', arguments: { path: '/x' } } });
    expect(simulated.body.data).to.include({ decision: 'deny', stage: 'policy' });
    await t.http('DELETE', `/api/v1/mcp/policies/${saved.body.data.id}`, { token: t.adminKey });
  });

  it("keeps a hostile policy stored before the check from breaking other tenants: it fails closed for its own tenant only", async () => {
    const tenant = uniqueTenant('stored');
    const admin = await t.adminOf(tenant);
    const role = await t.role('cleaner', ['files:delete'], admin);
    const agent = await t.agent({ name: 'stored bot', roleIds: [role], token: admin });
    const now = new Date();
    await t.knex('mcp_policies').insert({ tenant, name: 'from before', description: '', text: hostile['parentheses 140 deep'], enabled: true, version: 1, updated_by: 'test', created_at: now, updated_at: now });
    await t.knex('mcp_policy_sets').insert({ tenant, version: 1, updated_at: now }).onConflict('tenant').merge();
    const own = await t.connect({ token: agent.key });
    const refused = await own.callTool({ name: 'files.delete', arguments: { path: '/tmp/x' } });
    expect(isError(refused)).to.equal(true);
    expect(text(refused)).to.contain('"from before" cannot be evaluated');
    expect(text(refused)).to.contain('nests too deeply');
    const simulated = await t.http('POST', '/api/v1/mcp/access-check/simulate', { token: admin, body: { agent: agent.id, tool: 'files.delete', arguments: { path: '/tmp/x' } } });
    expect(simulated.status, simulated.text).to.equal(200);
    expect(simulated.body.data.decision).to.equal('deny');
    const listed = await t.http('GET', '/api/v1/mcp/policies', { token: admin });
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const stored = (await t.knex('mcp_policies').where({ tenant }).first()) as { last_error: string | null };
    expect(stored.last_error ?? listed.body.data.policies[0].lastError).to.contain('nests too deeply');
    await otherTenantStillEvaluates();
  });

  it('evaluates a policy on arguments nested as deep as the engine takes them (an argument 10,000 deep made Cedar fail), and never runs a deeper one', async () => {
    const saved = await t.http('POST', '/api/v1/mcp/policies', {
      token: t.adminKey,
      body: { name: 'no secret notes', text: 'forbid (principal, action == Action::"notes.store", resource)\nwhen { context.arguments.title like "*secret*" };' },
    });
    expect(saved.status, saved.text).to.equal(201);
    // JSON.stringify cannot write a value 10,000 deep: the client sends a marker, replaced on the wire.
    const nested = (depth: number): string => `${'{"a":'.repeat(depth)}true${'}'.repeat(depth)}`;
    const clientReplacing = async (replacement: string): Promise<Client> => {
      const client = new Client({ name: 'deep-arguments', version: '1.0.0' });
      await client.connect(
        new StreamableHTTPClientTransport(new URL(t.engine.mcpUrl()), {
          requestInit: { headers: { authorization: `Bearer ${agentKey}` } },
          fetch: (url, init) => fetch(url, typeof init?.body === 'string' ? { ...init, body: init.body.replace('"DEEP"', replacement) } : init),
        }),
      );
      return client;
    };
    // The deepest the engine takes: 128 levels, of which the message, params, arguments and metadata are 4.
    const deepest = await clientReplacing(nested(124));
    const deep = await deepest.callTool({ name: 'notes.store', arguments: { title: 'secret plans', metadata: { value: 'DEEP' } } });
    expect(isError(deep)).to.equal(true);
    expect(text(deep)).to.contain('forbidden by policy "no secret notes"');
    expect(await lastAudit('notes.store')).to.include({ decision: 'denied', outcome: 'denied' });
    const plain = await deepest.callTool({ name: 'notes.store', arguments: { title: 'shopping', metadata: { value: 'DEEP' } } });
    await deepest.close();
    expect(isError(plain), text(plain)).to.equal(false);

    const tooDeep = await clientReplacing(nested(10_000));
    const refused = await tooDeep.callTool({ name: 'notes.store', arguments: { title: 'shopping too', metadata: { value: 'DEEP' } } }).then(
      () => undefined,
      (error: Error) => error,
    );
    await tooDeep.close();
    expect(refused?.message).to.contain('deeper than 128 levels');
    expect(await lastAudit('notes.store')).to.include({ decision: 'allowed', outcome: 'success' });
    await t.http('DELETE', `/api/v1/mcp/policies/${saved.body.data.id}`, { token: t.adminKey });
    await otherTenantStillEvaluates();
  });

  it("replaces Cedar's WebAssembly after a crash: the call in flight fails closed, every later one is evaluated again", async () => {
    // Crash the very instance the engine uses, through the raw module (as a text that slipped past both checks would).
    const raw = createRequire(import.meta.url)('@cedar-policy/cedar-wasm/nodejs') as { policySetTextToParts(text: string): unknown; policyToJson(text: string): unknown };
    const dead = (): boolean => {
      try {
        raw.policyToJson(statement('true'));
        return false;
      } catch (error) {
        return /memory access out of bounds/.test(String(error));
      }
    };
    // How deep it takes depends on how much of the stack is free: deeper until the instance is dead.
    for (const depth of [140, 400, 1000, 5000, 20_000]) {
      expect(() => raw.policySetTextToParts(statement(`${'('.repeat(depth)}true${')'.repeat(depth)}`))).to.throw();
      if (dead()) break;
    }
    expect(dead(), 'the instance is dead').to.equal(true);
    const inFlight = await other.client.callTool({ name: 'files.delete', arguments: { path: '/tmp/x' } });
    expect(isError(inFlight)).to.equal(true);
    expect(text(inFlight)).to.contain('policy evaluation failed');
    expect(text(inFlight)).to.contain('restarted');
    expect((await lastAudit('files.delete', other.admin)).decision).to.equal('denied');
    await otherTenantStillEvaluates();
    const checked = await t.http('POST', '/api/v1/mcp/policies/validate', { token: t.adminKey, body: { text: statement('context.arguments.path == "/x"') } });
    expect(checked.body.data).to.deep.include({ valid: true });
  });
});
