import { expect } from 'chai';
import { AuditSink, Logger, Telemetry, defineTool, definePlugin, z, type AuditEvent } from '@gatehouse-mcp/engine';
import { AuditVerifier } from '@gatehouse-mcp/engine/ee';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { DbAuditSink } from '../../../src/plugins/ee/audit/db-audit-sink.js';
import { AuditSinkSettings } from '../../../src/plugins/ee/audit/audit-sink-settings.js';
import { governanceEngine, type GovernanceTestEngine } from './support.js';

/** Tools that report whether their own intent was already stored when they ran. */
const durableTools = definePlugin({
  id: 'durable-tools',
  tools: [
    defineTool({
      name: 'orders.place',
      description: 'Places an order (durable before execute).',
      permission: 'orders:write',
      durability: 'before',
      input: z.object({ id: z.string() }),
      handler: async ({ id }, ctx) => {
        const intent = await ctx.db.table('mcp_agent_audit').where({ request_id: ctx.requestId, outcome: 'intent' }).first();
        return { id, intentStored: intent !== undefined };
      },
    }),
    defineTool({
      name: 'orders.update',
      description: 'Changes data; durable only when the edition makes it the default.',
      permission: 'orders:write',
      input: z.object({ id: z.string() }),
      handler: async (_args, ctx) => ({ intentStored: (await ctx.db.table('mcp_agent_audit').where({ request_id: ctx.requestId, outcome: 'intent' }).first()) !== undefined }),
    }),
    defineTool({
      name: 'orders.read',
      description: 'Reads only.',
      permission: 'orders:write',
      annotations: { readOnlyHint: true },
      input: z.object({ id: z.string() }),
      handler: async (_args, ctx) => ({ intentStored: (await ctx.db.table('mcp_agent_audit').where({ request_id: ctx.requestId, outcome: 'intent' }).first()) !== undefined }),
    }),
  ],
});

describe('EE audit: durable before execute', function () {
  this.timeout(60_000);
  let t: GovernanceTestEngine;
  afterEach(async () => {
    await t?.close();
  });

  async function agentClient(): Promise<Awaited<ReturnType<GovernanceTestEngine['connect']>>> {
    const role = await t.role('orders', ['orders:write']);
    const agent = await t.agent({ roleIds: [role] });
    return t.connect({ token: agent.key });
  }

  it("commits a durable tool's intent before its handler runs, then completes it with the outcome", async () => {
    t = await governanceEngine({ plugins: [durableTools] });
    const client = await agentClient();
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => client.callTool({ name: 'orders.place', arguments: { id: `O-${i}` } })));
    for (const result of results) expect(result.structuredContent).to.include({ intentStored: true });
    const plain = await client.callTool({ name: 'orders.update', arguments: { id: 'O-1' } });
    expect(plain.structuredContent).to.deep.equal({ intentStored: false });
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const rows = await t.knex('mcp_agent_audit').where({ tenant: t.tenant, target: 'orders.place' }).orderBy('seq');
    const intents = rows.filter((r) => r.outcome === 'intent');
    const done = rows.filter((r) => r.outcome === 'success');
    expect(intents).to.have.length(12);
    expect(done).to.have.length(12);
    expect(done.map((r) => r.details.intentId).sort()).to.deep.equal(intents.map((r) => r.event_id).sort());
    expect(await t.knex('mcp_audit_open_intents').where({ tenant: t.tenant })).to.deep.equal([]);
    expect((await t.engine.resolve(AuditVerifier).verify(t.tenant)).ok).to.equal(true);
  });

  it('makes tools that change data durable by default with audit.durableWrites, but not read-only ones', async () => {
    t = await governanceEngine({ plugins: [durableTools], edition: { audit: { durableWrites: true } } });
    const client = await agentClient();
    expect((await client.callTool({ name: 'orders.update', arguments: { id: 'O-1' } })).structuredContent).to.deep.equal({ intentStored: true });
    expect((await client.callTool({ name: 'orders.read', arguments: { id: 'O-1' } })).structuredContent).to.deep.equal({ intentStored: false });
  });

  it('marks the open intents of an instance that died as outcome unknown at start-up, and leaves a live instance alone', async () => {
    t = await governanceEngine({ plugins: [durableTools] });
    const tenant = uniqueTenant('crashed');
    const make = () => new DbAuditSink(t.engine.database, t.engine.resolve(AuditSinkSettings), t.engine.resolve(Logger), t.engine.resolve(Telemetry));
    const intent = (i: number): AuditEvent => ({
      time: new Date(),
      tenant,
      principal: undefined,
      action: 'tools/call',
      target: 'orders.place',
      decision: 'allowed',
      reason: undefined,
      outcome: 'intent',
      arguments: { id: `O-${i}` },
      latencyMs: undefined,
      requestId: `crashed-${i}`,
      clientAddress: '198.51.100.7',
    });
    // On a PostgreSQL server: a live instance (holding its liveness lock) with an intent in flight.
    // The embedded database serves one process, so there every other instance is gone.
    const server = t.engine.database.kind === 'postgres';
    const live = server ? make() : undefined;
    await live?.start();
    await live?.recordIntent({ ...intent(0), requestId: 'live-0' });
    // An instance that wrote two intents and then died (never completed them, never holds a lock now).
    const dead = make();
    await dead.recordIntent(intent(1));
    await dead.recordIntent(intent(2));
    (dead as unknown as { stopped: boolean }).stopped = true;

    const recovered = await (t.engine.resolve<DbAuditSink>(DbAuditSink)).recoverIntents();
    expect(recovered).to.equal(2);
    const rows = await t.knex('mcp_agent_audit').where({ tenant }).orderBy('seq');
    const unknown = rows.filter((r) => r.outcome === 'unknown');
    expect(unknown.map((r) => r.request_id).sort()).to.deep.equal(['crashed-1', 'crashed-2']);
    expect(unknown[0].reason).to.match(/stopped before recording its outcome/);
    expect(unknown[0].client_address).to.equal('198.51.100.7');
    const open = await t.knex('mcp_audit_open_intents').where({ tenant });
    expect(open).to.have.length(server ? 1 : 0);
    await live?.close();
    expect((await t.engine.resolve(AuditVerifier).verify(tenant)).ok).to.equal(true);
  });
});
