/**
 * Approvals right after a database failover: every pooled connection is dead, and the pool learns
 * so only as it uses each one. Reading the approvals first expires the due ones (a write); that
 * write was not run again, so the list and the record answered 503 once, and so did an agent
 * asking after its held call.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import knexFactory, { type Knex } from 'knex';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { AuditSink, defineTool, definePlugin, openDatabase, z } from '@gatehouse-mcp/engine';
import { ApprovalStore } from '@gatehouse-mcp/engine/ee';
import { pgProxy, type PgProxy, fillPool as fillPoolOf } from '../../support/pg-proxy.js';
import { governanceEngine, type GovernanceTestEngine } from './support.js';

const URL_ = process.env.DATABASE_URL;

const text = (result: unknown): string => ((result as { content: { text: string }[] }).content[0]?.text ?? '');
const requestIdOf = (result: unknown): string => {
  const match = /request ([0-9a-f-]{36})/.exec(text(result));
  if (!match) throw new Error(`no approval request in: ${text(result)}`);
  return match[1]!;
};

const approvalTools = definePlugin({
  id: 'approval-tools',
  tools: [
    defineTool({
      name: 'tickets.delete',
      description: 'Delete a ticket.',
      permission: 'tickets:delete',
      approval: 'required',
      input: z.object({ id: z.string() }),
      handler: async ({ id }) => {
        deleted.push(id);
        return `deleted ${id}`;
      },
    }),
    defineTool({
      name: 'tickets.purge',
      description: 'Purge a ticket.',
      permission: 'tickets:delete',
      approval: 'required',
      input: z.object({ id: z.string() }),
      handler: async ({ id }) => {
        ranPurge?.();
        return `purged ${id}`;
      },
    }),
  ],
});
/** The tickets `tickets.delete` deleted, once per run. */
const deleted: string[] = [];
/** Called as `tickets.purge` runs. */
let ranPurge: (() => void) | undefined;

/** A webhook endpoint on 127.0.0.1 that keeps the body of every delivery and answers 204. */
async function webhookReceiver(): Promise<{ url: string; received: string[]; close(): Promise<void> }> {
  const received: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      received.push(body);
      res.statusCode = 204;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/approvals`;
  return { url, received, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

describe('EE approvals right after every pooled connection was terminated', function () {
  this.timeout(120_000);
  let t: GovernanceTestEngine;
  let admin: Knex;
  let proxy: PgProxy;
  let schema: string;
  let close: () => Promise<void>;
  let deleter: Client;
  let deleterKey: string;
  let ticket = 0;

  before(async function () {
    if (!URL_) this.skip();
    schema = `gh_approvals_${randomBytes(4).toString('hex')}`;
    proxy = await pgProxy(new URL(URL_!));
    const db = await openDatabase({ url: proxy.url(URL_!), schema, pool: { min: 0, max: 4 } });
    close = () => db.close();
    admin = knexFactory({ client: 'pg', connection: URL_, searchPath: [schema] });
    t = await governanceEngine({ database: { knex: db.knex }, plugins: [approvalTools] });
    const role = await t.role('deleter', ['tickets:delete']);
    deleterKey = (await t.agent({ name: 'deleter', roleIds: [role] })).key;
    deleter = await t.connect({ token: deleterKey });
  });
  after(async () => {
    await t?.close().catch(() => undefined);
    await admin?.raw('drop schema if exists ?? cascade', [schema]).catch(() => undefined);
    await close?.().catch(() => undefined);
    await admin?.destroy();
    await proxy?.close();
  });

  const fillPool = (): Promise<void> => fillPoolOf(t.engine.database);
  // Dead connections an earlier test left behind are passed over, so each test starts from a working pool.
  beforeEach(() => fillPool());
  /** Every pooled connection dead, its client not told. */
  const failover = async (): Promise<void> => {
    await fillPool();
    expect(proxy.openConnections(), 'pooled connections').to.be.at.least(2);
    proxy.staleAll();
  };
  /** A new call held for approval; its request id. */
  const held = async (): Promise<string> => requestIdOf(await deleter.callTool({ name: 'tickets.delete', arguments: { id: `T-${++ticket}` } }));
  const overdue = (id: string): Promise<number> => admin('mcp_approvals').where({ id }).update({ expires_at: new Date(Date.now() - 1000) });
  /** Audit records of `action` (with `decision`, if given) about approval request `id`. */
  const audited = async (id: string, action: string, decision?: string): Promise<number> => {
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const [row] = (await admin('mcp_agent_audit')
      .whereRaw("details->>'approvalId' = ?", [id])
      .andWhere({ action, ...(decision ? { decision } : {}) })
      .count('* as n')) as { n: string }[];
    return Number(row!.n);
  };
  const expiries = (id: string): Promise<number> => audited(id, 'approvals.expire');

  it('answers the approvals list, one approval and the webhook instead of unavailable, expiring what is due', async () => {
    const pending = await held();
    const due = await held();
    await overdue(due);
    for (const path of ['approvals', 'approvals?state=pending', `approvals/${pending}`, 'approval-webhook']) {
      await failover();
      const response = await t.http('GET', `/api/v1/mcp/${path}`, { token: t.adminKey });
      expect(response.status, `${path}: ${response.text}`).to.equal(200);
    }
    await failover();
    const listed = await t.http('GET', '/api/v1/mcp/approvals', { token: t.adminKey });
    expect(listed.status, listed.text).to.equal(200);
    const states = Object.fromEntries((listed.body.data as { id: string; state: string }[]).map((a) => [a.id, a.state]));
    expect(states).to.include({ [pending]: 'pending', [due]: 'expired' });
    expect(await expiries(due)).to.equal(1);
  });

  it('audits an expiry once when the expiring statement committed and its answer was lost', async () => {
    const due = await held();
    await overdue(due);
    // The expiry commits, then the connection is cut before its answer arrives: run again, it must
    // still audit the rows the lost attempt expired, and only once.
    proxy.arm(1, /^update "mcp_approvals" set "state"/);
    const response = await t.http('GET', `/api/v1/mcp/approvals/${due}`, { token: t.adminKey });
    expect(proxy.cuts(), 'cut statements').to.deep.equal(['statement']);
    expect(response.status, response.text).to.equal(200);
    expect(response.body.data.state).to.equal('expired');
    expect(await expiries(due)).to.equal(1);
    // Later runs find nothing more to expire.
    expect((await t.http('GET', '/api/v1/mcp/approvals', { token: t.adminKey })).status).to.equal(200);
    expect(await expiries(due)).to.equal(1);
  });

  it("answers an agent asking after its held call, again or as a task, instead of unavailable", async () => {
    const id = await held();
    await failover();
    const again = await deleter.callTool({ name: 'tickets.delete', arguments: { id: `T-${ticket}` } });
    expect(text(again)).to.match(/^Approval required, request /);
    expect(requestIdOf(again)).to.equal(id);

    const created = await deleter.request({ method: 'tools/call', params: { name: 'tickets.delete', arguments: { id: 'K-1' }, task: { ttl: 60_000 } } }, CreateTaskResultSchema);
    await failover();
    const task = await deleter.experimental.tasks.getTask(created.task.taskId);
    expect(task.status).to.equal('working');
  });

  it('decides right after a failover; a decision whose every attempt lost its commit is answered 503 with Retry-After, audited as maybe made, and its retry says what happened', async () => {
    const first = await held();
    await failover();
    const approved = await t.http('POST', `/api/v1/mcp/approvals/${first}/approve`, { token: t.adminKey });
    expect(approved.status, approved.text).to.equal(200);
    expect(approved.body.data.state).to.equal('approved');

    const second = await held();
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const before = proxy.cuts().length;
    // Every attempt the engine makes (one more than the pool holds) commits, and loses its answer.
    proxy.arm(5);
    let lost;
    try {
      lost = await t.http('POST', `/api/v1/mcp/approvals/${second}/deny`, { token: t.adminKey, body: { reason: 'not this one' } });
    } finally {
      proxy.arm(0);
    }
    expect(proxy.cuts().slice(before)).to.deep.equal(Array(5).fill('commit'));
    expect(lost.status, lost.text).to.equal(503);
    expect(lost.headers.get('retry-after')).to.match(/^\d+$/);
    const retried = await t.http('POST', `/api/v1/mcp/approvals/${second}/deny`, { token: t.adminKey, body: { reason: 'not this one' } });
    expect(retried.status, retried.text).to.equal(409);
    expect(retried.body.error.message).to.contain('already denied');
    // The trail says the decision may have been made, though its answer never came.
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const trail = (await t.http('GET', `/api/v1/mcp/approvals/${second}`, { token: t.adminKey })).body.data.audit as { action: string; outcome: string }[];
    expect(trail.filter((e) => e.action === 'approvals.deny').map((e) => e.outcome)).to.deep.equal(['unknown']);
  });

  for (const [verdict, state] of [
    ['approve', 'approved'],
    ['deny', 'denied'],
  ] as const) {
    it(`answers, audits and announces a decision to ${verdict} once when its commit lost its answer (the admin got 503, nothing was audited as made, and the webhook never announced it)`, async () => {
      const { received, url, close } = await webhookReceiver();
      try {
        expect((await t.http('PUT', '/api/v1/mcp/approval-webhook', { token: t.adminKey, body: { url } })).status).to.equal(200);
        const id = await held();
        const deadline = Date.now() + 5000;
        while (received.length < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        await t.engine.resolve<AuditSink>(AuditSink).flush();
        const before = proxy.cuts().length;
        // The decision commits, then the connection is cut before its answer arrives.
        proxy.arm(1);
        const decided = await t.http('POST', `/api/v1/mcp/approvals/${id}/${verdict}`, { token: t.adminKey, body: { reason: 'checked with the customer' } });
        expect(proxy.cuts().slice(before), 'cut commits').to.deep.equal(['commit']);
        expect(decided.status, decided.text).to.equal(200);
        expect(decided.body.data).to.include({ state, decisionReason: 'checked with the customer' });

        const settled = Date.now() + 5000;
        while (received.length < 2 && Date.now() < settled) await new Promise((resolve) => setTimeout(resolve, 20));
        await new Promise((resolve) => setTimeout(resolve, 300));
        const events = received.map((body) => JSON.parse(body) as Record<string, unknown>);
        expect(events.map((e) => `${e.type} ${e.id}`)).to.deep.equal([`approval.requested ${id}`, `approval.decided ${id}`]);
        expect(events[1]).to.include({ decision: verdict, state, reason: 'checked with the customer', approvals: verdict === 'approve' ? 1 : 0, approversRequired: 1 });
        expect(events[1]!.decisionId).to.be.a('string');

        // Audited once, as made; asking again is told it is decided.
        expect(await audited(id, `approvals.${verdict}`)).to.equal(1);
        await t.engine.resolve<AuditSink>(AuditSink).flush();
        const trail = (await t.http('GET', `/api/v1/mcp/approvals/${id}`, { token: t.adminKey })).body.data.audit as { action: string; outcome: string }[];
        expect(trail.filter((e) => e.action === `approvals.${verdict}`).map((e) => e.outcome)).to.deep.equal(['success']);
        const again = await t.http('POST', `/api/v1/mcp/approvals/${id}/${verdict}`, { token: t.adminKey, body: { reason: 'checked with the customer' } });
        expect(again.status, again.text).to.equal(409);
        expect(received).to.have.length(2);
      } finally {
        await t.http('DELETE', '/api/v1/mcp/approval-webhook', { token: t.adminKey });
        await close();
      }
    });
  }

  it("keeps a task's result when the failover comes while its approved call runs", async () => {
    const created = await deleter.request({ method: 'tools/call', params: { name: 'tickets.purge', arguments: { id: 'K-2' }, task: { ttl: 60_000 } } }, CreateTaskResultSchema);
    const taskId = created.task.taskId;
    expect((await t.http('POST', `/api/v1/mcp/approvals/${taskId}/approve`, { token: t.adminKey })).status).to.equal(200);
    await fillPool();
    // The call has run; the write that keeps its result for tasks/result meets a dead connection.
    ranPurge = () => proxy.staleAll();
    let timer: NodeJS.Timeout | undefined;
    try {
      const result = await Promise.race([
        deleter.experimental.tasks.getTaskResult(taskId, CallToolResultSchema),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the task never completed')), 15_000))),
      ]);
      expect(text(result)).to.equal('purged K-2');
    } finally {
      clearTimeout(timer);
      ranPurge = undefined;
    }
  });

  it('never decides a request past its deadline, even one no expiry has marked yet', async () => {
    const id = await held();
    await overdue(id);
    const store = t.engine.resolve(ApprovalStore);
    const expireDue = store.expireDue;
    // As if the deadline passed between the expiry and the decision.
    store.expireDue = async () => undefined;
    try {
      const response = await t.http('POST', `/api/v1/mcp/approvals/${id}/approve`, { token: t.adminKey });
      expect(response.status, response.text).to.equal(409);
      expect(response.body.error.message).to.contain('already expired');
    } finally {
      store.expireDue = expireDue;
    }
    expect((await admin('mcp_approvals').where({ id }).first('state')).state).to.equal('pending');
    expect((await t.http('GET', `/api/v1/mcp/approvals/${id}`, { token: t.adminKey })).body.data.state).to.equal('expired');
  });

  it('runs an approved call once, and answers it, when the commit that used its grant lost its answer (the call failed and the grant was gone)', async () => {
    const id = await held();
    const args = { id: `T-${ticket}` };
    expect((await t.http('POST', `/api/v1/mcp/approvals/${id}/approve`, { token: t.adminKey })).status).to.equal(200);
    const before = proxy.cuts().length;
    // The grant is marked executed, then the connection is cut before its answer arrives.
    proxy.arm(1, /^update "mcp_approvals" set "state" = \$1,.*"executed_at"/);
    const result = await deleter.callTool({ name: 'tickets.delete', arguments: args });
    expect(proxy.cuts().slice(before), 'cut statements').to.deep.equal(['statement']);
    expect(result.isError, text(result)).to.not.equal(true);
    expect(text(result)).to.equal(`deleted ${args.id}`);
    expect(deleted.filter((d) => d === args.id)).to.have.length(1);
    expect(await audited(id, 'tools/call', 'allowed')).to.equal(1);
    // The grant is used up: the same call again is held as a new request, and does not run.
    const again = await deleter.callTool({ name: 'tickets.delete', arguments: args });
    expect(requestIdOf(again)).to.not.equal(id);
    expect(deleted.filter((d) => d === args.id)).to.have.length(1);
    expect((await admin('mcp_approvals').where({ id }).first('state')).state).to.equal('executed');
  });

  it('runs concurrent identical calls once when the commit that used their grant lost its answer', async () => {
    const id = await held();
    const args = { id: `T-${ticket}` };
    expect((await t.http('POST', `/api/v1/mcp/approvals/${id}/approve`, { token: t.adminKey })).status).to.equal(200);
    const clients = await Promise.all([1, 2, 3].map(() => t.connect({ token: deleterKey })));
    const before = proxy.cuts().length;
    proxy.arm(1, /^update "mcp_approvals" set "state" = \$1,.*"executed_at"/);
    const results = await Promise.all(clients.map((c) => c.callTool({ name: 'tickets.delete', arguments: args })));
    expect(proxy.cuts().slice(before), 'cut statements').to.deep.equal(['statement']);
    expect(results.filter((r) => !r.isError).map(text)).to.deep.equal([`deleted ${args.id}`]);
    expect(deleted.filter((d) => d === args.id)).to.have.length(1);
    expect(await audited(id, 'tools/call', 'allowed')).to.equal(1);
  });

  /** The result of task `taskId`, or a failure after 15 s. */
  const taskResult = async (taskId: string): Promise<unknown> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        deleter.experimental.tasks.getTaskResult(taskId, CallToolResultSchema),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the task never completed')), 15_000))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  };

  for (const [what, statement] of [
    ['that used its grant lost its answer (the task never completed)', /^update "mcp_approvals" set "state" = \$1,.*"executed_at"/],
    ['that kept its result lost its answer', /^update "mcp_approvals" set "result"/],
  ] as const) {
    it(`runs an approved task once and yields its result when the commit ${what}`, async () => {
      const created = await deleter.request(
        { method: 'tools/call', params: { name: 'tickets.purge', arguments: { id: `K-${++ticket}` }, task: { ttl: 60_000 } } },
        CreateTaskResultSchema,
      );
      const taskId = created.task.taskId;
      expect((await t.http('POST', `/api/v1/mcp/approvals/${taskId}/approve`, { token: t.adminKey })).status).to.equal(200);
      let runs = 0;
      ranPurge = () => runs++;
      const before = proxy.cuts().length;
      proxy.arm(1, statement);
      try {
        expect(text(await taskResult(taskId))).to.equal(`purged K-${ticket}`);
      } finally {
        ranPurge = undefined;
      }
      expect(proxy.cuts().slice(before), 'cut statements').to.deep.equal(['statement']);
      expect(runs).to.equal(1);
      expect(await audited(taskId, 'tools/call', 'allowed')).to.equal(1);
    });
  }

  it('withdraws a task once, and says so, when the commit of the withdrawal lost its answer (tasks/cancel failed)', async () => {
    const created = await deleter.request(
      { method: 'tools/call', params: { name: 'tickets.delete', arguments: { id: `T-${++ticket}` }, task: { ttl: 60_000 } } },
      CreateTaskResultSchema,
    );
    const taskId = created.task.taskId;
    const before = proxy.cuts().length;
    proxy.arm(1, /^update "mcp_approvals" set "state" = \$1, "withdrawn"/);
    const cancelled = await deleter.experimental.tasks.cancelTask(taskId);
    expect(proxy.cuts().slice(before), 'cut statements').to.deep.equal(['statement']);
    expect(cancelled.status).to.equal('cancelled');
    expect(await audited(taskId, 'approvals.withdraw')).to.equal(1);
    const approval = await t.http('GET', `/api/v1/mcp/approvals/${taskId}`, { token: t.adminKey });
    expect(approval.body.data).to.include({ state: 'denied', withdrawn: true });
  });

  it('holds a call and tells approvers of it once when the commit of its request lost its answer (the call failed and the webhook never fired)', async () => {
    const { received, url, close } = await webhookReceiver();
    try {
      expect((await t.http('PUT', '/api/v1/mcp/approval-webhook', { token: t.adminKey, body: { url } })).status).to.equal(200);
      const args = { id: `T-${++ticket}` };
      const before = proxy.cuts().length;
      proxy.arm(1, /^insert into mcp_approvals /);
      const first = await deleter.callTool({ name: 'tickets.delete', arguments: args });
      expect(proxy.cuts().slice(before), 'cut statements').to.deep.equal(['statement']);
      expect(text(first)).to.match(/^Approval required, request /);
      const id = requestIdOf(first);
      // Asking again is the same request, and tells no one anew.
      expect(requestIdOf(await deleter.callTool({ name: 'tickets.delete', arguments: args }))).to.equal(id);
      const deadline = Date.now() + 5000;
      while (received.length < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(received.map((body) => (JSON.parse(body) as { type: string; id: string })).map((e) => `${e.type} ${e.id}`)).to.deep.equal([`approval.requested ${id}`]);
      expect(await admin('mcp_approvals').where({ tool: 'tickets.delete', state: 'pending' }).andWhere({ arguments: JSON.stringify(args) }).count('* as n')).to.deep.equal([{ n: '1' }]);
      expect(await audited(id, 'tools/call', 'needs-approval')).to.equal(2);
    } finally {
      await t.http('DELETE', '/api/v1/mcp/approval-webhook', { token: t.adminKey });
      await close();
    }
  });

  it('tells approvers of a new request when the read of the webhook settings lost its connection (no webhook was sent, and the failure went unhandled)', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const { received, url, close } = await webhookReceiver();
    try {
      expect((await t.http('PUT', '/api/v1/mcp/approval-webhook', { token: t.adminKey, body: { url } })).status).to.equal(200);
      const before = proxy.cuts().length;
      proxy.arm(1, /^select \* from "mcp_approval_webhooks"/);
      const held = await deleter.callTool({ name: 'tickets.delete', arguments: { id: `T-${++ticket}` } });
      const id = requestIdOf(held);
      const deadline = Date.now() + 5000;
      while (received.length < 1 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(proxy.cuts().slice(before), 'cut statements').to.deep.equal(['statement']);
      expect(received.map((body) => (JSON.parse(body) as { type: string; id: string })).map((e) => `${e.type} ${e.id}`)).to.deep.equal([`approval.requested ${id}`]);
      expect(unhandled).to.deep.equal([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await t.http('DELETE', '/api/v1/mcp/approval-webhook', { token: t.adminKey });
      await close();
    }
  });

  it("sets and removes the approval webhook once each, answering and auditing it, when the commit of the change lost its answer (the admin got 503, the secret stored was never shown, and nothing was audited)", async () => {
    /** Audit records of `action`, whatever it was about. */
    const changes = async (action: string): Promise<number> => {
      await t.engine.resolve<AuditSink>(AuditSink).flush();
      const [row] = (await admin('mcp_agent_audit').where({ action, outcome: 'success' }).count('* as n')) as { n: string }[];
      return Number(row!.n);
    };
    const [sets, removals] = [await changes('approvals.webhook.set'), await changes('approvals.webhook.delete')];
    const url = 'https://hooks.example.com/approvals';
    let before = proxy.cuts().length;
    proxy.arm(1, /^insert into "mcp_approval_webhooks"/);
    const set = await t.http('PUT', '/api/v1/mcp/approval-webhook', { token: t.adminKey, body: { url } });
    expect(proxy.cuts().slice(before), 'cut statements').to.deep.equal(['statement']);
    expect(set.status, set.text).to.equal(200);
    // The secret answered is the one deliveries are signed with.
    expect(await admin('mcp_approval_webhooks').select('url', 'secret')).to.deep.equal([{ url, secret: set.body.data.secret }]);
    expect(await changes('approvals.webhook.set')).to.equal(sets + 1);

    before = proxy.cuts().length;
    proxy.arm(1, /^delete from "mcp_approval_webhooks"/);
    const removed = await t.http('DELETE', '/api/v1/mcp/approval-webhook', { token: t.adminKey });
    expect(proxy.cuts().slice(before), 'cut statements').to.deep.equal(['statement']);
    expect(removed.status, removed.text).to.equal(200);
    expect(removed.body.data).to.deep.equal({ deleted: true });
    expect(await admin('mcp_approval_webhooks').count('* as n')).to.deep.equal([{ n: '0' }]);
    expect(await changes('approvals.webhook.delete')).to.equal(removals + 1);
  });
});
