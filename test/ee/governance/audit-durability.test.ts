import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { AuditSink, defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { freshDatabase, testDatabase } from '@gatehouse-mcp/engine/testing';
import { DbAuditSink } from '../../../src/plugins/ee/audit/db-audit-sink.js';
import { governanceEngine, orderEvent, toolCall, type GovernanceTestEngine } from './support.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const slowTools = definePlugin({
  id: 'slow-tools',
  tools: [
    defineTool({
      name: 'work',
      description: 'Takes a few milliseconds.',
      permission: 'work:run',
      input: z.object({ n: z.number() }),
      handler: async ({ n }) => {
        await sleep(5);
        return `done ${n}`;
      },
    }),
  ],
});

/** Canonical JSON written independently of the sink: sorted keys at every depth. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value).sort().map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

describe('EE audit trail', () => {
  describe('redaction', () => {
    let t: GovernanceTestEngine;
    afterEach(async () => {
      await t?.close();
    });

    it('stores arguments with secrets redacted at any depth, and a digest of the arguments as sent', async () => {
      t = await governanceEngine();
      const role = await t.role('echoer', ['echo:run']);
      const agent = await t.agent({ roleIds: [role] });
      const client = await t.connect({ token: agent.key });
      const jwt = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhZ2VudCJ9.c2lnbmF0dXJl';
      const args = {
        user: 'bob',
        password: 'hunter2',
        nested: { apiKey: 'k-123', list: [{ accessToken: 'tok', keep: 'visible' }], Authorization: 'x' },
        header: 'Bearer abc.def.ghi',
        forwarded: jwt,
        gatehouseKey: 'ghk_ABCDEFabcdef_0123456789012345678901234567890123456789abc',
        stray: t.adminKey,
        clientSecretRef: { id: 1 },
      };
      const result = await client.callTool({ name: 'echo', arguments: args });
      expect(result.isError).to.not.equal(true);
      await t.engine.resolve<AuditSink>(AuditSink).flush();
      const row = await t.knex('mcp_agent_audit').where({ tenant: t.tenant, target: 'echo' }).first();
      expect(row.outcome).to.equal('success');
      expect(row.agent_id).to.equal(agent.id);
      expect(row.arguments).to.deep.equal({
        user: 'bob',
        password: '[REDACTED]',
        nested: { apiKey: '[REDACTED]', list: [{ accessToken: '[REDACTED]', keep: 'visible' }], Authorization: '[REDACTED]' },
        header: '[REDACTED]',
        forwarded: '[REDACTED]',
        gatehouseKey: '[REDACTED]',
        stray: '[REDACTED]',
        clientSecretRef: '[REDACTED]',
      });
      expect(JSON.stringify(row)).to.not.contain('hunter2').and.not.contain(t.adminKey).and.not.contain(jwt);
      expect(row.arguments_digest).to.equal(createHash('sha256').update(canonical(args)).digest('hex'));
    });

    it('follows a configured redaction rule', async () => {
      t = await governanceEngine({ edition: { audit: { redaction: { keys: /^(ssn|pin)$/i, values: [/^\d{4}-\d{4}$/] } } } });
      const role = await t.role('echoer', ['echo:run']);
      const client = await t.connect({ token: (await t.agent({ roleIds: [role] })).key });
      await client.callTool({ name: 'echo', arguments: { ssn: '123', PIN: 9, card: '1234-5678', password: 'kept by this rule' } });
      await t.engine.resolve<AuditSink>(AuditSink).flush();
      const row = await t.knex('mcp_agent_audit').where({ tenant: t.tenant, target: 'echo' }).first();
      expect(row.arguments).to.deep.equal({ ssn: '[REDACTED]', PIN: '[REDACTED]', card: '[REDACTED]', password: 'kept by this rule' });
    });

    it('records denials and authentication failures with who and why', async () => {
      t = await governanceEngine();
      const agent = await t.agent({ name: 'nobody' });
      const client = await t.connect({ token: agent.key });
      await client.callTool({ name: 'billing.charge', arguments: { amount: 5 } });
      const revoked = await t.agent({ name: 'gone', active: false });
      const refused = await toolCall(t, revoked.key, 'tickets.read', { id: '1' });
      expect(refused.status).to.equal(401);
      await t.engine.resolve<AuditSink>(AuditSink).flush();
      const denied = await t.knex('mcp_agent_audit').where({ tenant: t.tenant, target: 'billing.charge' }).first();
      expect(denied).to.include({ decision: 'denied', outcome: 'denied', reason: 'missing permission billing:charge', principal_label: 'nobody', agent_id: agent.id });
      const failed = await t.knex('mcp_agent_audit').where({ tenant: t.tenant, decision: 'auth-failed' }).first();
      expect(failed).to.include({ action: 'authenticate', outcome: 'refused' });
      expect(failed.reason).to.match(/deactivated/);
      expect(failed.client_address).to.be.a('string');
    });
  });

  it('loses no event when the engine shuts down under load', async function () {
    this.timeout(60_000);
    // A long interval: nothing is written before close() unless batches fill up.
    const t = await governanceEngine({ edition: { audit: { flushIntervalMs: 60_000, batchSize: 64 } }, plugins: [slowTools] });
    let closed = false;
    try {
      const role = await t.role('worker', ['work:run']);
      const agent = await t.agent({ roleIds: [role] });
      const clients = await Promise.all([1, 2, 3, 4].map(() => t.connect({ token: agent.key })));
      let done = 0;
      let closing: Promise<void> | undefined;
      const calls = Array.from({ length: 240 }, (_, i) =>
        clients[i % clients.length]!.callTool({ name: 'work', arguments: { n: i } }).then((result) => {
          done++;
          // Shut down while most calls are still in flight.
          if (done === 40) closing = t.engine.close();
          return result;
        }),
      );
      const settled = await Promise.allSettled(calls);
      await closing;
      closed = true;
      const ran = settled.filter((s) => s.status === 'fulfilled' && !(s.value as { isError?: boolean }).isError).length;
      expect(ran).to.be.at.least(40);
      const knex = await testDatabase();
      const rows = await knex('mcp_agent_audit').where({ tenant: t.tenant, action: 'tools/call' }).select('request_id', 'outcome');
      expect(rows.filter((row) => row.outcome === 'success')).to.have.length(ran);
      expect(new Set(rows.map((row) => row.request_id)).size).to.equal(rows.length);
    } finally {
      if (!closed) await t.close();
      else await t.close().catch(() => undefined);
    }
  });

  it('keeps every accepted event through a database outage and refuses calls (503) past the bound', async function () {
    this.timeout(60_000);
    const db = await freshDatabase();
    const t = await governanceEngine({
      database: { knex: db.knex },
      edition: { audit: { maxBuffered: 12, batchSize: 4, flushIntervalMs: 20, retryDelayMs: 20, maxRetryDelayMs: 100 } },
    });
    try {
      const role = await t.role('everything', ['*']);
      const agent = await t.agent({ roleIds: [role] });
      const sink = t.engine.resolve<DbAuditSink>(AuditSink);
      await sink.flush();
      const before = Number((await db.knex('mcp_agent_audit').count({ n: '*' }))[0]!.n);

      await db.knex.raw('alter table mcp_agent_audit rename to mcp_agent_audit_offline');
      let accepted = 0;
      let refused = 0;
      for (let i = 0; i < 30; i++) {
        const { status, body } = await toolCall(t, agent.key, 'tickets.read', { id: String(i) }, i);
        if (status === 200) {
          expect(body.result.content[0].text).to.equal(`ticket ${i}`);
          accepted++;
        } else {
          expect(status).to.equal(503);
          expect(body.error.message).to.contain('audit');
          refused++;
        }
      }
      expect(accepted).to.be.at.least(12);
      expect(refused).to.be.greaterThan(0);
      expect(sink.accepting()).to.equal(false);

      await db.knex.raw('alter table mcp_agent_audit_offline rename to mcp_agent_audit');
      await sink.flush();
      expect(sink.accepting()).to.equal(true);
      expect((await toolCall(t, agent.key, 'tickets.read', { id: 'after' })).status).to.equal(200);
      await sink.flush();

      const rows = await db.knex('mcp_agent_audit').where({ tenant: t.tenant, action: 'tools/call', target: 'tickets.read' });
      expect(rows.filter((row) => row.outcome === 'success')).to.have.length(accepted + 1);
      expect(Number((await db.knex('mcp_agent_audit').count({ n: '*' }))[0]!.n) - before).to.equal(accepted + 1);
    } finally {
      await t.close();
      await db.close();
    }
  });

  it('writes an event that the database cannot store as such instead of blocking the trail', async () => {
    const t = await governanceEngine();
    try {
      const role = await t.role('echoer', ['echo:run']);
      const client = await t.connect({ token: (await t.agent({ roleIds: [role] })).key });
      await client.callTool({ name: 'echo', arguments: { text: 'nul \u0000 inside' } });
      await client.callTool({ name: 'echo', arguments: { text: 'fine' } });
      await t.engine.resolve<DbAuditSink>(AuditSink).flush(5_000);
      const rows = await t.knex('mcp_agent_audit').where({ tenant: t.tenant, target: 'echo' }).orderBy('id');
      expect(rows.map((row) => row.arguments.text)).to.deep.equal(['nul \ufffd inside', 'fine']);
    } finally {
      await t.close();
    }
  });

  it('writes a batch larger than a statement takes parameters (audit.batchSize 3000 kept the first write failing, and the trail stuck)', async function () {
    this.timeout(60_000);
    const t = await governanceEngine({ edition: { audit: { batchSize: 3_000, flushTimeoutMs: 10_000 } } });
    try {
      const sink = t.engine.resolve<DbAuditSink>(AuditSink);
      const tenant = `${t.tenant}-batch`;
      for (let i = 0; i < 3_000; i++) {
        sink.record(orderEvent(tenant, { arguments: { i }, requestId: `batch-${i}` }));
      }
      await sink.flush(10_000);
      const [{ n }] = (await t.knex('mcp_agent_audit').where({ tenant }).count('* as n')) as [{ n: string | number }];
      expect(Number(n)).to.equal(3_000);
    } finally {
      await t.close();
    }
  });
});
