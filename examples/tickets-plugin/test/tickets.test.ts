import { expect } from 'chai';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { ticketsPlugin } from '../index.js';

type Structured = Record<string, any>;

async function call(client: Client, name: string, args: Record<string, unknown>): Promise<Structured> {
  const result = await client.callTool({ name, arguments: args });
  if (result.isError) throw new Error(`${name} failed: ${JSON.stringify(result.content)}`);
  return result.structuredContent as Structured;
}

async function callError(client: Client, name: string, args: Record<string, unknown>): Promise<string> {
  const result = await client.callTool({ name, arguments: args });
  expect(result.isError, `${name} should fail`).to.equal(true);
  return (result.content as { text: string }[])[0]!.text;
}

describe('example tickets plugin', () => {
  let t: TestEngine;
  before(async () => {
    t = await createTestEngine({ plugins: [communityEdition(), ticketsPlugin()] });
  });
  after(() => t.close());

  it('lists its tools with permissions and annotations', async () => {
    const { tools } = await t.client.listTools();
    const names = tools.map((tool) => tool.name);
    expect(names).to.include.members(['tickets.list', 'tickets.get', 'tickets.create', 'tickets.update', 'tickets.comment', 'clients.list', 'clients.create']);
    const list = tools.find((tool) => tool.name === 'tickets.list')!;
    expect(list.annotations?.readOnlyHint).to.equal(true);
    expect(list.inputSchema.properties).to.have.keys('status', 'priority', 'clientId', 'search', 'limit', 'cursor');
  });

  it('creates a client and a ticket for it, comments on it and reads it back', async () => {
    const { client } = await call(t.client, 'clients.create', { name: 'Acme Corp', email: 'it@acme.example' });
    const { ticket } = await call(t.client, 'tickets.create', { title: 'Printer on fire', priority: 'urgent', clientId: client.id });
    expect(ticket).to.include({ title: 'Printer on fire', priority: 'urgent', status: 'open', clientId: client.id, createdBy: 'test key' });
    await call(t.client, 'tickets.comment', { id: ticket.id, body: 'Extinguisher on its way.' });
    const updated = await call(t.client, 'tickets.update', { id: ticket.id, status: 'in_progress', assignee: 'sam' });
    expect(updated.ticket).to.include({ status: 'in_progress', assignee: 'sam' });
    const got = await call(t.client, 'tickets.get', { id: ticket.id });
    expect(got.ticket.status).to.equal('in_progress');
    expect(got.comments.map((c: Structured) => c.body)).to.deep.equal(['Extinguisher on its way.']);
  });

  it('filters and paginates tickets without skipping or repeating any', async () => {
    for (let i = 0; i < 7; i++) await call(t.client, 'tickets.create', { title: `Batch ticket ${i}`, priority: i % 2 ? 'low' : 'high' });
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await call(t.client, 'tickets.list', { search: 'Batch ticket', limit: 3, ...(cursor ? { cursor } : {}) });
      seen.push(...page.tickets.map((x: Structured) => x.title));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).to.have.length(7);
    expect(new Set(seen).size).to.equal(7);
    const high = await call(t.client, 'tickets.list', { search: 'Batch ticket', priority: 'high' });
    expect(high.tickets).to.have.length(4);
  });

  it('answers bad arguments with a tool error that names the field', async () => {
    expect(await callError(t.client, 'tickets.create', { title: '' })).to.match(/title/);
    expect(await callError(t.client, 'tickets.get', { id: 'not-a-uuid' })).to.match(/id/);
    expect(await callError(t.client, 'tickets.update', { id: '00000000-0000-4000-8000-000000000000', status: 'open' })).to.match(/No ticket/);
    expect(await callError(t.client, 'tickets.list', { cursor: 'garbage' })).to.match(/cursor/);
  });

  it("keeps each tenant's tickets and clients invisible to the other", async () => {
    const { ticket } = await call(t.client, 'tickets.create', { title: 'Tenant A secret' });
    const { client: clientA } = await call(t.client, 'clients.create', { name: 'Client of A' });
    const keyB = await t.createKey({ tenant: `${t.tenant}-b` });
    const b = await t.connect({ token: keyB.secret });
    expect(await callError(b, 'tickets.get', { id: ticket.id })).to.match(/No ticket/);
    expect(await callError(b, 'tickets.update', { id: ticket.id, status: 'closed' })).to.match(/No ticket/);
    expect(await callError(b, 'tickets.comment', { id: ticket.id, body: 'hi' })).to.match(/No ticket/);
    expect(await callError(b, 'tickets.create', { title: 'x', clientId: clientA.id })).to.match(/No client/);
    const listed = await call(b, 'tickets.list', {});
    expect(listed.tickets).to.deep.equal([]);
    expect((await call(b, 'clients.list', {})).clients).to.deep.equal([]);
    const stillOpen = await call(t.client, 'tickets.get', { id: ticket.id });
    expect(stillOpen.ticket.status).to.equal('open');
    expect(stillOpen.comments).to.deep.equal([]);
  });
});
