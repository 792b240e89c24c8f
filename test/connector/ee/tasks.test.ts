import { expect } from 'chai';
import { CallToolResultSchema, CreateTaskResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { governanceEngine, type GovernanceTestEngine } from '../../ee/governance/support.js';
import { connectConnector, type ConnectedConnector } from '../support/connector-process.js';

const text = (result: unknown): string => ((result as { content: { text: string }[] }).content[0]?.text ?? '');

const approvalTools = definePlugin({
  id: 'connector-approval-tools',
  tools: [
    defineTool({
      name: 'tickets.delete',
      description: 'Delete a ticket.',
      permission: 'tickets:delete',
      approval: 'required',
      input: z.object({ id: z.string() }),
      handler: async ({ id }) => `deleted ${id}`,
    }),
  ],
});

describe('connector: task-augmented calls (EE approvals)', function () {
  this.timeout(60_000);
  let t: GovernanceTestEngine;
  let connector: ConnectedConnector;
  const approve = (id: string) => t.http('POST', `/api/v1/mcp/approvals/${id}/approve`, { token: t.adminKey });

  before(async () => {
    t = await governanceEngine({ plugins: [approvalTools], edition: { rbac: { tenantKeys: 'allow' } } });
    const role = await t.role('ticket admin', ['tickets:delete']);
    const { key } = await t.agent({ name: 'deleter', roleIds: [role] });
    connector = await connectConnector(['--url', t.engine.mcpUrl()], { GATEHOUSE_API_KEY: key });
  });
  after(async () => {
    await connector?.close();
    await t?.close();
  });

  it('advertises the server’s tasks capability to the stdio client', () => {
    expect(connector.client.getServerCapabilities()?.tasks?.requests?.tools?.call).to.not.equal(undefined);
  });

  it('a task-augmented call creates a task that works until approved, then yields the tool’s result', async () => {
    const stream = connector.client.experimental.tasks.callToolStream({ name: 'tickets.delete', arguments: { id: 'C-1' } }, CallToolResultSchema, { task: { ttl: 60_000 } });
    const seen: string[] = [];
    let result: unknown;
    for await (const message of stream) {
      if (message.type === 'taskCreated') {
        seen.push(`created ${message.task.status}`);
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
    expect(text(result)).to.equal('deleted C-1');
  });

  it('tasks/get, tasks/result and tasks/cancel reach the server', async () => {
    const created = await connector.client.request(
      { method: 'tools/call', params: { name: 'tickets.delete', arguments: { id: 'C-2' }, task: { ttl: 60_000 } } },
      CreateTaskResultSchema,
    );
    const taskId = created.task.taskId;
    expect((await connector.client.experimental.tasks.getTask(taskId)).status).to.equal('working');
    const waiting = connector.client.experimental.tasks.getTaskResult(taskId, CallToolResultSchema);
    expect((await approve(taskId)).status).to.equal(200);
    expect(text(await waiting)).to.equal('deleted C-2');
    expect((await connector.client.experimental.tasks.getTask(taskId)).status).to.equal('completed');

    const other = await connector.client.request(
      { method: 'tools/call', params: { name: 'tickets.delete', arguments: { id: 'C-3' }, task: { ttl: 60_000 } } },
      CreateTaskResultSchema,
    );
    await connector.client.experimental.tasks.cancelTask(other.task.taskId);
    expect((await connector.client.experimental.tasks.getTask(other.task.taskId)).status).to.equal('cancelled');
  });
});
