import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { AuditSink, defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { governanceEngine, type GovernanceTestEngine } from './support.js';

const text = (result: unknown): string => ((result as { content: { text: string }[] }).content[0]?.text ?? '');
const requestIdOf = (result: unknown): string => {
  const match = /request ([0-9a-f-]{36})/.exec(text(result));
  if (!match) throw new Error(`no approval request in: ${text(result)}`);
  return match[1]!;
};

const executed: { tool: string; args: unknown }[] = [];
const runs = (tool: string): number => executed.filter((e) => e.tool === tool).length;

const approvalTools = definePlugin({
  id: 'approval-tools',
  tools: [
    defineTool({
      name: 'tickets.delete',
      description: 'Delete a ticket.',
      permission: 'tickets:delete',
      approval: 'required',
      input: z.object({ id: z.string() }),
      handler: async (args) => {
        executed.push({ tool: 'tickets.delete', args });
        return `deleted ${args.id}`;
      },
    }),
    defineTool({
      name: 'tickets.close',
      description: 'Close a ticket.',
      permission: 'tickets:close',
      input: z.object({ id: z.string() }),
      handler: async (args) => {
        executed.push({ tool: 'tickets.close', args });
        return `closed ${args.id}`;
      },
    }),
    defineTool({
      name: 'payments.refund',
      description: 'Refund a payment.',
      permission: 'payments:refund',
      approval: 'required',
      approvers: 2,
      input: z.object({ payment: z.string(), cents: z.number().int() }),
      handler: async (args) => {
        executed.push({ tool: 'payments.refund', args });
        return `refunded ${args.cents}`;
      },
    }),
  ],
});

describe('EE approvals', function () {
  // Boots an engine (and a second one for the cross-instance case): slow on a loaded machine.
  this.timeout(60_000);
  let t: GovernanceTestEngine;
  let deleter: Client;
  let deleterKey: string;
  let secondAdmin: string;

  const approve = (id: string, token = t.adminKey, reason?: string) =>
    t.http('POST', `/api/v1/mcp/approvals/${id}/approve`, { token, ...(reason ? { body: { reason } } : {}) });
  const pendingIds = async (): Promise<string[]> =>
    ((await t.http('GET', '/api/v1/mcp/approvals?state=pending', { token: t.adminKey })).body.data as { id: string }[]).map((a) => a.id);

  before(async () => {
    t = await governanceEngine({ plugins: [approvalTools], edition: { rbac: { tenantKeys: 'allow' }, approvals: { webhookRetryDelayMs: 50, uiUrl: 'https://admin.example.com/admin' } } });
    const role = await t.role('ticket admin', ['tickets:delete', 'payments:refund']);
    deleterKey = (await t.agent({ name: 'deleter', roleIds: [role] })).key;
    deleter = await t.connect({ token: deleterKey });
    secondAdmin = (await t.createKey({ scopes: ['admin'], name: 'second admin' })).secret;
  });
  after(async () => {
    await t?.close();
  });

  it('holds the call, and runs the identical retry once after approval; a reused grant is refused', async () => {
    const first = await deleter.callTool({ name: 'tickets.delete', arguments: { id: 'T-1' } });
    expect(first.isError).to.equal(true);
    expect(text(first)).to.match(/^Approval required, request [0-9a-f-]{36}: tickets.delete needs a person's approval before it runs\. Ask an administrator to approve it; call again with the same arguments once approved/);
    const id = requestIdOf(first);
    expect(runs('tickets.delete')).to.equal(0);

    const listed = await t.http('GET', '/api/v1/mcp/approvals', { token: t.adminKey });
    expect(listed.status).to.equal(200);
    const pending = (listed.body.data as Record<string, any>[]).find((a) => a.id === id)!;
    expect(pending).to.include({ tool: 'tickets.delete', state: 'pending', approversRequired: 1 });
    expect(pending.arguments).to.deep.equal({ id: 'T-1' });
    expect(pending.principal.label).to.equal('deleter');

    // Asking again before the decision is the same request, not a new one.
    expect(requestIdOf(await deleter.callTool({ name: 'tickets.delete', arguments: { id: 'T-1' } }))).to.equal(id);

    const approved = await approve(id, t.adminKey, 'checked with the customer');
    expect(approved.status).to.equal(200);
    expect(approved.body.data).to.include({ state: 'approved', decisionReason: 'checked with the customer' });

    const retry = await deleter.callTool({ name: 'tickets.delete', arguments: { id: 'T-1' } });
    expect(retry.isError).to.not.equal(true);
    expect(text(retry)).to.equal('deleted T-1');
    expect(runs('tickets.delete')).to.equal(1);

    const again = await deleter.callTool({ name: 'tickets.delete', arguments: { id: 'T-1' } });
    expect(again.isError).to.equal(true);
    expect(requestIdOf(again)).to.not.equal(id);
    expect(runs('tickets.delete')).to.equal(1);

    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const detail = await t.http('GET', `/api/v1/mcp/approvals/${id}`, { token: t.adminKey });
    expect(detail.body.data.state).to.equal('executed');
    const trail = (detail.body.data.audit as { action: string; decision: string; reason: string }[]).map((e) => `${e.action} ${e.decision}`);
    expect(trail).to.deep.equal(['tools/call needs-approval', 'tools/call needs-approval', 'approvals.approve admin', 'tools/call allowed']);
    expect((detail.body.data.audit as { reason: string }[])[3]!.reason).to.equal(`allowed with approval ${id}`);
  });

  it('holds a call whose arguments contain NUL or a lone surrogate (the jsonb insert failed): the approver sees them exactly, and the identical retry runs', async () => {
    const hostile = 'T-\u0000-\ud800-\udc00';
    const first = await deleter.callTool({ name: 'tickets.delete', arguments: { id: hostile } });
    expect(text(first)).to.match(/^Approval required, request/);
    const id = requestIdOf(first);
    const detail = await t.http('GET', `/api/v1/mcp/approvals/${id}`, { token: t.adminKey });
    expect(detail.status).to.equal(200);
    expect(detail.body.data.arguments).to.deep.equal({ id: hostile });
    expect((await approve(id)).status).to.equal(200);
    const retry = await deleter.callTool({ name: 'tickets.delete', arguments: { id: hostile } });
    expect(retry.isError).to.not.equal(true);
    expect(executed.filter((e) => e.tool === 'tickets.delete' && (e.args as { id: string }).id === hostile)).to.have.length(1);
  });

  it('refuses a call whose arguments differ from the approved one, and runs nothing', async () => {
    const id = requestIdOf(await deleter.callTool({ name: 'tickets.delete', arguments: { id: 'T-2' } }));
    expect((await approve(id)).status).to.equal(200);
    const changed = await deleter.callTool({ name: 'tickets.delete', arguments: { id: 'T-3' } });
    expect(changed.isError).to.equal(true);
    expect(requestIdOf(changed)).to.not.equal(id);
    expect(executed.filter((e) => e.tool === 'tickets.delete' && ['T-2', 'T-3'].includes((e.args as { id: string }).id))).to.deep.equal([]);

    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const detail = await t.http('GET', `/api/v1/mcp/approvals/${id}`, { token: t.adminKey });
    const mismatch = (detail.body.data.audit as { action: string; reason: string }[]).find((e) => e.action === 'approvals.mismatch');
    expect(mismatch?.reason).to.equal(`approval ${id} not used: the arguments differ from the approved call`);
    // Key order does not matter: the same arguments still match.
    expect(text(await deleter.callTool({ name: 'tickets.delete', arguments: { id: 'T-2' } }))).to.equal('deleted T-2');
  });

  it('refuses an approval once the role behind the request changed', async () => {
    const role = await t.role('closer', ['tickets:close+approval']);
    const agent = await t.agent({ name: 'closer', roleIds: [role] });
    const closer = await t.connect({ token: agent.key });
    const first = await closer.callTool({ name: 'tickets.close', arguments: { id: 'C-1' } });
    const id = requestIdOf(first);
    expect((await approve(id)).status).to.equal(200);

    const patched = await t.http('PATCH', `/api/v1/mcp/roles/${role}`, { token: t.adminKey, body: { permissions: ['tickets:*+approval'] } });
    expect(patched.status).to.equal(200);
    const retry = await closer.callTool({ name: 'tickets.close', arguments: { id: 'C-1' } });
    expect(retry.isError).to.equal(true);
    expect(requestIdOf(retry)).to.not.equal(id);
    expect(runs('tickets.close')).to.equal(0);
  });

  it('shows a role grant that needs approval as "allowed with approval" in the access check', async () => {
    const role = await t.role('approval closer', ['tickets:close+approval']);
    const agent = await t.agent({ name: 'checked', roleIds: [role] });
    const check = await t.http('GET', `/api/v1/mcp/access-check?agent=${agent.id}`, { token: t.adminKey });
    const close = (check.body.data.tools as Record<string, unknown>[]).find((tool) => tool.name === 'tickets.close')!;
    expect(close).to.include({ allowed: true, approvalRequired: true });
    expect(close.reason).to.equal('allowed with approval: the role grant tickets:close+approval requires approval (granted tickets:close)');
    const client = await t.connect({ token: agent.key });
    expect((await client.listTools()).tools.map((tool) => tool.name)).to.deep.equal(['tickets.close']);
    const registry = await t.http('GET', '/api/v1/meta/mcp-registry', { token: agent.key });
    expect((registry.body.data.entries as { name: string }[]).map((entry) => entry.name)).to.deep.equal(['tickets.close']);
  });

  it('refuses an expired approval', async () => {
    const id = requestIdOf(await deleter.callTool({ name: 'tickets.delete', arguments: { id: 'T-4' } }));
    expect((await approve(id)).status).to.equal(200);
    await t.knex('mcp_approvals').where({ id }).update({ expires_at: new Date(Date.now() - 1000) });
    const retry = await deleter.callTool({ name: 'tickets.delete', arguments: { id: 'T-4' } });
    expect(retry.isError).to.equal(true);
    expect(requestIdOf(retry)).to.not.equal(id);
    expect(executed.some((e) => (e.args as { id: string }).id === 'T-4')).to.equal(false);
    expect((await t.http('GET', `/api/v1/mcp/approvals/${id}`, { token: t.adminKey })).body.data.state).to.equal('expired');
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const trail = (await t.http('GET', `/api/v1/mcp/approvals/${id}`, { token: t.adminKey })).body.data.audit as { action: string; reason: string }[];
    expect(trail.find((e) => e.action === 'approvals.expire')?.reason).to.equal('expired before it was used');
    expect((await approve(requestIdOf(retry))).status).to.equal(200);
  });

  it('runs concurrent identical calls once', async () => {
    // Five connections of the same agent, as five replicas of it would call.
    const clients = await Promise.all([1, 2, 3, 4, 5].map(() => t.connect({ token: deleterKey })));
    const asked = await Promise.all(clients.map((c) => c.callTool({ name: 'tickets.delete', arguments: { id: 'T-5' } })));
    expect(new Set(asked.map(requestIdOf)).size).to.equal(1);
    expect((await approve(requestIdOf(asked[0]))).status).to.equal(200);
    const results = await Promise.all(clients.map((c) => c.callTool({ name: 'tickets.delete', arguments: { id: 'T-5' } })));
    expect(results.filter((r) => !r.isError).map(text)).to.deep.equal(['deleted T-5']);
    expect(executed.filter((e) => (e.args as { id: string }).id === 'T-5')).to.have.length(1);
  });

  it('tells the caller why a request was denied', async () => {
    const id = requestIdOf(await deleter.callTool({ name: 'tickets.delete', arguments: { id: 'T-6' } }));
    const noReason = await t.http('POST', `/api/v1/mcp/approvals/${id}/deny`, { token: t.adminKey, body: {} });
    expect(noReason.status).to.equal(400);
    expect(noReason.body.error.message).to.contain('reason is required');
    const denied = await t.http('POST', `/api/v1/mcp/approvals/${id}/deny`, { token: t.adminKey, body: { reason: 'change freeze until Monday' } });
    expect(denied.status).to.equal(200);
    expect(denied.body.data.state).to.equal('denied');
    const retry = await deleter.callTool({ name: 'tickets.delete', arguments: { id: 'T-6' } });
    expect(retry.isError).to.equal(true);
    expect(text(retry)).to.equal(`Permission denied: approval request ${id} was denied: change freeze until Monday (denied by admin)`);
    expect((await approve(id)).status).to.equal(409);
    expect(executed.some((e) => (e.args as { id: string }).id === 'T-6')).to.equal(false);
  });

  it('never lets an approver approve a call made with their own credentials', async () => {
    const both = (await t.createKey({ scopes: ['mcp', 'admin'], name: 'ops key' })).secret;
    const client = await t.connect({ token: both });
    const id = requestIdOf(await client.callTool({ name: 'tickets.delete', arguments: { id: 'T-7' } }));
    const self = await approve(id, both);
    expect(self.status).to.equal(403);
    expect(self.body.error.message).to.equal('You cannot approve a call made with your own credentials: another administrator must.');
    expect((await approve(id, secondAdmin)).status).to.equal(200);
    expect(text(await client.callTool({ name: 'tickets.delete', arguments: { id: 'T-7' } }))).to.equal('deleted T-7');
  });

  it('needs two different approvers for a tool marked approvers: 2', async () => {
    const args = { payment: 'P-1', cents: 1200 };
    const id = requestIdOf(await deleter.callTool({ name: 'payments.refund', arguments: args }));
    const one = await approve(id);
    expect(one.status).to.equal(200);
    expect(one.body.data).to.include({ state: 'pending', approversRequired: 2 });
    expect(requestIdOf(await deleter.callTool({ name: 'payments.refund', arguments: args }))).to.equal(id);
    const twice = await approve(id);
    expect(twice.status).to.equal(409);
    expect(twice.body.error.message).to.equal('You have already approved this request; it needs a second, different approver.');
    expect(runs('payments.refund')).to.equal(0);
    const two = await approve(id, secondAdmin);
    expect(two.body.data.state).to.equal('approved');
    expect(two.body.data.approvals.map((a: { label: string }) => a.label)).to.deep.equal(['admin', 'second admin']);
    expect(text(await deleter.callTool({ name: 'payments.refund', arguments: { cents: 1200, payment: 'P-1' } }))).to.equal('refunded 1200');
    expect(runs('payments.refund')).to.equal(1);
  });

  it("keeps approval requests to their tenant", async () => {
    const id = (await pendingIds())[0] ?? requestIdOf(await deleter.callTool({ name: 'tickets.delete', arguments: { id: 'T-8' } }));
    const other = await t.adminOf('approvals-other');
    const tenantUrl = `/t/approvals-other/api/v1/mcp/approvals/${id}`;
    expect((await t.http('GET', tenantUrl, { token: other })).status).to.equal(404);
    expect((await t.http('POST', `${tenantUrl}/approve`, { token: other })).status).to.equal(404);
    expect((await t.http('GET', `/api/v1/mcp/approvals/not-a-uuid`, { token: t.adminKey })).status).to.equal(404);
  });

  it('posts each new request to the tenant webhook, signed, retried after a failure, with a link to the page', async () => {
    const received: { headers: IncomingHttpHeaders; body: string }[] = [];
    let failures = 1;
    const server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.statusCode = failures-- > 0 ? 503 : 204;
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/approvals`;
      const bad = await t.http('PUT', '/api/v1/mcp/approval-webhook', { token: t.adminKey, body: { url: 'ftp://example.com' } });
      expect(bad.status).to.equal(400);
      expect(bad.body.error.message).to.contain('url must be an http or https URL');
      const set = await t.http('PUT', '/api/v1/mcp/approval-webhook', { token: t.adminKey, body: { url } });
      expect(set.status).to.equal(200);
      const secret = set.body.data.secret as string;
      expect(secret).to.match(/^whsec_/);
      expect((await t.http('GET', '/api/v1/mcp/approval-webhook', { token: t.adminKey })).body.data).to.deep.include({ url, active: true });

      // The test button: one delivery, answered with what happened (here the receiver's 503).
      const tested = await t.http('POST', '/api/v1/mcp/approval-webhook/test', { token: t.adminKey });
      expect(tested.body.data).to.deep.equal({ delivered: false, status: 503, error: 'HTTP 503' });
      expect(JSON.parse(received[0]!.body).type).to.equal('approval.test');

      // The first delivery of the request fails (503); the retry gets through.
      failures = 1;
      const id = requestIdOf(await deleter.callTool({ name: 'tickets.delete', arguments: { id: 'W-1' } }));
      const deadline = Date.now() + 5000;
      while (received.length < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(received).to.have.length(3);
      expect(received[1]!.body).to.equal(received[2]!.body);
      expect(received[1]!.headers['gatehouse-delivery']).to.not.equal(received[2]!.headers['gatehouse-delivery']);
      const delivery = received[2];
      const event = JSON.parse(delivery!.body);
      expect(event).to.deep.include({ type: 'approval.requested', id, tool: 'tickets.delete', url: `https://admin.example.com/admin#/approvals?tenant=${t.tenant}` });
      expect(event.arguments).to.deep.equal({ id: 'W-1' });
      expect(event.requestedBy.label).to.equal('deleter');

      // What docs/approvals.md tells a receiver to do.
      const header = String(delivery!.headers['gatehouse-signature']);
      const [, timestamp, signature] = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header)!;
      const expected = createHmac('sha256', secret).update(`${timestamp}.${delivery!.body}`).digest('hex');
      expect(timingSafeEqual(Buffer.from(signature!, 'hex'), Buffer.from(expected, 'hex'))).to.equal(true);
      expect(Math.abs(Date.now() / 1000 - Number(timestamp))).to.be.below(60);
      expect(delivery!.headers['gatehouse-event']).to.equal('approval.requested');

      expect((await t.http('DELETE', '/api/v1/mcp/approval-webhook', { token: t.adminKey })).status).to.equal(200);
      expect((await t.http('POST', '/api/v1/mcp/approval-webhook/test', { token: t.adminKey })).status).to.equal(404);
    } finally {
      server.close();
    }
  });

  it('is held on one instance, approved through a second and run through the second; a task on the first finishes', async () => {
    const other = await governanceEngine({ plugins: [approvalTools], tenant: t.tenant, edition: { rbac: { tenantKeys: 'allow' } } });
    try {
      const role = await t.role('cross instance', ['tickets:delete']);
      const key = (await t.agent({ name: 'roaming', roleIds: [role] })).key;
      const here = await t.connect({ token: key });
      const there = await other.connect({ token: key });
      const id = requestIdOf(await here.callTool({ name: 'tickets.delete', arguments: { id: 'X-1' } }));
      expect((await other.http('POST', `/api/v1/mcp/approvals/${id}/approve`, { token: other.adminKey })).status).to.equal(200);
      expect(text(await there.callTool({ name: 'tickets.delete', arguments: { id: 'X-1' } }))).to.equal('deleted X-1');
      expect((await here.callTool({ name: 'tickets.delete', arguments: { id: 'X-1' } })).isError).to.equal(true);

      const stream = here.experimental.tasks.callToolStream({ name: 'tickets.delete', arguments: { id: 'X-2' } }, CallToolResultSchema, { task: { ttl: 60_000 } });
      let result: unknown;
      for await (const message of stream) {
        if (message.type === 'taskCreated') expect((await other.http('POST', `/api/v1/mcp/approvals/${message.task.taskId}/approve`, { token: other.adminKey })).status).to.equal(200);
        if (message.type === 'result') result = message.result;
        if (message.type === 'error') throw message.error;
      }
      expect(text(result)).to.equal('deleted X-2');
      expect(executed.filter((e) => ['X-1', 'X-2'].includes((e.args as { id: string }).id))).to.have.length(2);
    } finally {
      await other.close();
    }
  });

  describe('over MCP tasks', () => {
    it('keeps a task working until approved through the admin API, then yields the result', async () => {
      const stream = deleter.experimental.tasks.callToolStream({ name: 'tickets.delete', arguments: { id: 'K-1' } }, CallToolResultSchema, { task: { ttl: 60_000 } });
      const seen: string[] = [];
      let result: unknown;
      for await (const message of stream) {
        if (message.type === 'taskCreated') {
          seen.push(`created ${message.task.status}`);
          expect(message.task.statusMessage).to.contain(`Waiting for approval request ${message.task.taskId}`);
          expect((await approve(message.task.taskId)).status).to.equal(200);
        } else if (message.type === 'taskStatus') {
          if (seen.at(-1) !== message.task.status) seen.push(message.task.status);
        } else if (message.type === 'result') {
          result = message.result;
        } else {
          throw message.error;
        }
      }
      expect(seen[0]).to.equal('created working');
      expect(seen.at(-1)).to.equal('completed');
      expect(text(result)).to.equal('deleted K-1');
      expect(executed.filter((e) => (e.args as { id: string }).id === 'K-1')).to.have.length(1);
    });

    it('yields a result holding NUL or a lone surrogate exactly, and keeps it on the request (the jsonb update failed)', async () => {
      const hostile = 'K-\u0000-\ud800';
      const stream = deleter.experimental.tasks.callToolStream({ name: 'tickets.delete', arguments: { id: hostile } }, CallToolResultSchema, { task: { ttl: 60_000 } });
      let result: unknown;
      let taskId = '';
      for await (const message of stream) {
        if (message.type === 'taskCreated') {
          taskId = message.task.taskId;
          expect((await approve(taskId)).status).to.equal(200);
        } else if (message.type === 'result') result = message.result;
        else if (message.type === 'error') throw message.error;
      }
      expect(text(result)).to.equal(`deleted ${hostile}`);
      // What tasks/result answers from once the run is over, on any instance.
      const row = (await t.knex('mcp_approvals').where({ id: taskId }).first('result')) as { result: string | null };
      expect(text(JSON.parse(row.result!))).to.equal(`deleted ${hostile}`);
    });

    it('yields the denial reason from tasks/result', async () => {
      const stream = deleter.experimental.tasks.callToolStream({ name: 'tickets.delete', arguments: { id: 'K-2' } }, CallToolResultSchema, { task: { ttl: 60_000 } });
      let taskId = '';
      for await (const message of stream) {
        if (message.type === 'taskCreated') {
          taskId = message.task.taskId;
          await t.http('POST', `/api/v1/mcp/approvals/${taskId}/deny`, { token: t.adminKey, body: { reason: 'wrong ticket' } });
        }
        if (message.type === 'taskStatus' && message.task.status === 'failed') expect(message.task.statusMessage).to.equal(`Approval request ${taskId} was denied: wrong ticket`);
      }
      const result = await deleter.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
      expect(result.isError).to.equal(true);
      expect(text(result)).to.equal(`Approval request ${taskId} was denied: wrong ticket`);
      expect(executed.some((e) => (e.args as { id: string }).id === 'K-2')).to.equal(false);
    });

    it('answers a tasks/result that was waiting as soon as the request is approved', async () => {
      const created = await deleter.request(
        { method: 'tools/call', params: { name: 'tickets.delete', arguments: { id: 'K-4' }, task: { ttl: 60_000 } } },
        CreateTaskResultSchema,
      );
      const taskId = created.task.taskId;
      const waiting = deleter.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(executed.some((e) => (e.args as { id: string }).id === 'K-4')).to.equal(false);
      const approvedAt = Date.now();
      expect((await approve(taskId)).status).to.equal(200);
      expect(text(await waiting)).to.equal('deleted K-4');
      expect(Date.now() - approvedAt).to.be.below(1900);
      expect((await deleter.experimental.tasks.getTask(taskId)).status).to.equal('completed');
    });

    it('withdraws the request on tasks/cancel', async () => {
      const stream = deleter.experimental.tasks.callToolStream({ name: 'tickets.delete', arguments: { id: 'K-3' } }, CallToolResultSchema, { task: { ttl: 60_000 } });
      const first = await stream.next();
      const task = (first.value as { type: string; task: { taskId: string } }).task;
      await stream.return(undefined);
      const cancelled = await deleter.experimental.tasks.cancelTask(task.taskId);
      expect(cancelled.status).to.equal('cancelled');
      const approval = await t.http('GET', `/api/v1/mcp/approvals/${task.taskId}`, { token: t.adminKey });
      expect(approval.body.data).to.include({ state: 'denied', withdrawn: true });
      expect((await approve(task.taskId)).status).to.equal(409);
    });
  });
});

describe('EE approvals of API registry operations', function () {
  this.timeout(60_000);
  it('holds an operation marked x-approval-required and sends it once after approval', async () => {
    const { apiRegistry } = await import('@gatehouse-mcp/engine/oss');
    const sent: string[] = [];
    const handler = async (request: Request): Promise<Response> => {
      sent.push(`${request.method} ${new URL(request.url).pathname}`);
      return Response.json({ ok: true });
    };
    const document = {
      openapi: '3.0.3',
      info: { title: 'Things', version: '1' },
      servers: [{ url: 'https://things.example.com' }],
      paths: {
        '/things/{thingId}/void': {
          post: {
            operationId: 'voidThing',
            'x-approval-required': true,
            parameters: [{ name: 'thingId', in: 'path', required: true, schema: { type: 'string' } }],
            responses: { '200': { description: 'OK' } },
          },
        },
      },
    };
    const t = await governanceEngine({ plugins: [apiRegistry({ documents: [{ source: document }], dispatch: { handler } })] });
    try {
      const role = await t.role('everything', ['*']);
      const client = await t.connect({ token: (await t.agent({ roleIds: [role] })).key });
      const args = { operationId: 'voidThing', path: { thingId: 'X-1' } };
      const held = await client.callTool({ name: 'api.call', arguments: args });
      expect(text(held)).to.match(/^Approval required, request [0-9a-f-]{36}: voidThing \(via api\.call\) needs a person's approval/);
      expect(sent).to.deep.equal([]);
      const id = requestIdOf(held);
      const listed = await t.http('GET', `/api/v1/mcp/approvals/${id}`, { token: t.adminKey });
      expect(listed.body.data).to.include({ tool: 'api.call' });
      expect(listed.body.data.target).to.deep.equal({ kind: 'operation', name: 'voidThing' });
      expect((await t.http('POST', `/api/v1/mcp/approvals/${id}/approve`, { token: t.adminKey })).status).to.equal(200);
      const ran = await client.callTool({ name: 'api.call', arguments: args });
      expect(ran.isError).to.not.equal(true);
      expect(sent).to.deep.equal(['POST /things/X-1/void']);
      expect((await client.callTool({ name: 'api.call', arguments: args })).isError).to.equal(true);
      expect(sent).to.have.length(1);
    } finally {
      await t.close();
    }
  });
  it('an approval of a body matched the same body with a "__proto__" key added (digest and audit dropped the key, the operation sent it): it is a different call', async () => {
    const { apiRegistry } = await import('@gatehouse-mcp/engine/oss');
    const bodies: unknown[] = [];
    const handler = async (request: Request): Promise<Response> => {
      bodies.push(JSON.parse(await request.text()));
      return Response.json({ ok: true });
    };
    const document = {
      openapi: '3.0.3',
      info: { title: 'Payments', version: '1' },
      servers: [{ url: 'https://payments.example.com' }],
      paths: {
        '/refunds': {
          post: {
            operationId: 'refund',
            'x-approval-required': true,
            requestBody: { required: true, content: { 'application/json': { schema: { type: 'object', properties: { cents: { type: 'integer' } } } } } },
            responses: { '200': { description: 'OK' } },
          },
        },
      },
    };
    const t = await governanceEngine({ plugins: [apiRegistry({ documents: [{ source: document }], dispatch: { handler } })] });
    try {
      const role = await t.role('everything', ['*']);
      const client = await t.connect({ token: (await t.agent({ roleIds: [role] })).key });
      const approved = { operationId: 'refund', body: { cents: 10 } };
      const id = requestIdOf(await client.callTool({ name: 'api.call', arguments: approved }));
      expect((await t.http('POST', `/api/v1/mcp/approvals/${id}/approve`, { token: t.adminKey })).status).to.equal(200);

      // JSON.parse makes "__proto__" an own key, as a client's JSON does (a literal would set the prototype).
      const smuggled = JSON.parse('{"operationId":"refund","body":{"cents":10,"__proto__":{"cents":500000}}}') as Record<string, unknown>;
      const held = await client.callTool({ name: 'api.call', arguments: smuggled });
      expect(text(held)).to.match(/^Approval required, request [0-9a-f-]{36}/);
      expect(requestIdOf(held)).to.not.equal(id);
      expect(bodies).to.deep.equal([]);
      // The approver sees the key, and so does the audit.
      const detail = await t.http('GET', `/api/v1/mcp/approvals/${requestIdOf(held)}`, { token: t.adminKey });
      expect(JSON.stringify(detail.body.data.arguments)).to.contain('"__proto__":{"cents":500000}');
      await t.engine.resolve<AuditSink>(AuditSink).flush();
      const audit = await t.http('GET', '/api/v1/mcp/audit?tool=api.call&limit=1', { token: t.adminKey });
      expect(JSON.stringify(audit.body.data[0].arguments)).to.contain('"__proto__":{"cents":500000}');

      // The approved call itself still runs once.
      expect((await client.callTool({ name: 'api.call', arguments: approved })).isError).to.not.equal(true);
      expect(bodies).to.deep.equal([{ cents: 10 }]);
    } finally {
      await t.close();
    }
  });
});
