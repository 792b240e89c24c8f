import { expect } from 'chai';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { ticketsPlugin } from '../../examples/tickets-plugin/index.js';
import { ticketsApiRegistry, ticketsRestApi } from '../../examples/tickets-plugin/rest-api.js';
import { callTool, dataOf, textOf } from './support/helpers.js';

describe('example tickets REST API through the registry', () => {
  let t: TestEngine;

  before(async () => {
    const holder: { engine?: TestEngine } = {};
    t = holder.engine = await createTestEngine({ plugins: [communityEdition(), ticketsPlugin(), ticketsApiRegistry(() => holder.engine!.engine.database)] });
  });
  after(() => t?.close());

  it('serves the same tickets as the hand-written tools, scoped to the caller tenant', async () => {
    const { client } = dataOf<{ client: { id: string } }>(await callTool(t.client, 'clients.create', { name: 'Acme' }));
    const found = dataOf<{ results: { operationId: string }[] }>(await callTool(t.client, 'tickets-api.search', { query: 'open a new ticket' }));
    expect(found.results[0]?.operationId).to.equal('createTicket');

    const created = dataOf<{ status: number; headers: Record<string, string>; body: { ticket: { id: string; status: string; createdBy: string } } }>(
      await callTool(t.client, 'tickets-api.call', { operationId: 'createTicket', body: { title: 'Printer offline', priority: 'high', clientId: client.id } }),
    );
    expect(created.status).to.equal(201);
    expect(created.headers.location).to.equal(`/tickets-api/v1/tickets/${created.body.ticket.id}`);
    expect(created.body.ticket).to.include({ status: 'open', createdBy: 'test key' });
    const id = created.body.ticket.id;

    // The hand-written tool sees the ticket the REST API created.
    const viaTool = dataOf<{ ticket: { title: string } }>(await callTool(t.client, 'tickets.get', { id }));
    expect(viaTool.ticket.title).to.equal('Printer offline');

    const updated = dataOf<{ body: { ticket: { status: string; assignee: string } } }>(
      await callTool(t.client, 'tickets-api.call', { operationId: 'updateTicket', path: { ticketId: id }, body: { status: 'in_progress', assignee: 'sam' } }),
    );
    expect(updated.body.ticket).to.include({ status: 'in_progress', assignee: 'sam' });
    const listed = dataOf<{ body: { tickets: { id: string }[] } }>(await callTool(t.client, 'tickets-api.call', { operationId: 'listTickets', query: { status: 'in_progress' } }));
    expect(listed.body.tickets.map((x) => x.id)).to.deep.equal([id]);
    const clients = dataOf<{ body: { clients: { name: string }[] } }>(await callTool(t.client, 'tickets-api.call', { operationId: 'listClients', query: { search: 'acm' } }));
    expect(clients.body.clients.map((c) => c.name)).to.deep.equal(['Acme']);

    const other = await t.connect({ token: (await t.createKey({ tenant: uniqueTenant() })).secret });
    const hidden = await callTool(other, 'tickets-api.call', { operationId: 'getTicket', path: { ticketId: id } });
    expect(hidden.isError).to.equal(true);
    expect(textOf(hidden)).to.equal(`getTicket (GET /tickets/{ticketId}) failed with HTTP 404: {"error":{"code":"not_found","message":"No ticket with id ${id}."}}`);
  });

  it('refuses requests that the engine did not build', async () => {
    const handler = ticketsRestApi(() => t.engine.database);
    const response = await handler(new Request('http://localhost/tickets-api/v1/tickets'));
    expect(response.status).to.equal(401);
  });
});
