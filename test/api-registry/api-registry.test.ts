import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { expect } from 'chai';
import { communityEdition, apiRegistry } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { generateOpenApi, countOperations } from '../../scripts/generate-openapi.js';
import { echoApi, MISSING_ID, BROKEN_ID, type EchoApi } from './support/echo-api.js';
import { callTool, dataOf, textOf } from './support/helpers.js';

interface SearchResult {
  count: number;
  results: { operationId: string; method: string; path: string; permission: string; score: number }[];
  hint?: string;
}

interface Echo {
  method: string;
  path: string;
  query: Record<string, string[]>;
  headers: Record<string, string>;
  body: unknown;
  principal: { tenant: string; kind: string; id: string } | null;
}

const TICKET = '2b9f6f0e-3f51-4d7e-9a59-0f1c7f1d2a11';
const CLIENT = '7d0c1d53-8f0b-4a53-9a4e-5f8f0a7b6c21';

describe('API registry over a generated 200+-operation document', () => {
  const document = generateOpenApi();
  let api: EchoApi;
  let t: TestEngine;

  before(async () => {
    api = echoApi();
    t = await createTestEngine({
      plugins: [
        communityEdition(),
        apiRegistry({
          documents: [{ source: document, overrides: { operations: { voidInvoice: { requiresApproval: true, playbooks: [{ title: 'Void a wrong invoice', steps: ['Find the invoice', 'Void it with a reason', 'Create the corrected invoice'] }] } } } }],
          dispatch: { handler: api.handler },
          maxResponseBytes: 64 * 1024,
        }),
      ],
    });
  });
  after(() => t?.close());
  beforeEach(() => api.received.splice(0));

  it('exposes three meta-tools, not one tool per operation', async () => {
    expect(countOperations(document)).to.be.at.least(200);
    const { tools } = await t.client.listTools();
    expect(tools.map((tool) => tool.name).sort()).to.deep.equal(['api.call', 'api.describe', 'api.search']);
  });

  describe('search', () => {
    const search = async (query: string, limit?: number): Promise<SearchResult> =>
      dataOf<SearchResult>(await callTool(t.client, 'api.search', { query, ...(limit ? { limit } : {}) }));

    for (const [query, expected] of [
      ['create a ticket', 'createTicket'],
      ['list open invoices', 'listInvoices'],
      ['delete a contact', 'deleteContact'],
      ['add a comment to a ticket', 'addTicketComment'],
      ['reboot a server', 'rebootAsset'],
      ['remove a role from a user', 'removeUserRole'],
    ] as const) {
      it(`finds ${expected} first for "${query}"`, async () => {
        const found = await search(query);
        expect(found.results[0]?.operationId, JSON.stringify(found.results.slice(0, 3))).to.equal(expected);
      });
    }

    it('returns nothing for nonsense, with a hint', async () => {
      for (const query of ['purple elephant quantum', 'how is the weather today', 'list flamingos']) {
        const found = await search(query);
        expect(found.count, query).to.equal(0);
        expect(found.hint).to.match(/No operation matches/);
      }
    });

    it('narrows results to a tag', async () => {
      const found = dataOf<{ results: { operationId: string; tags: string[] }[] }>(await callTool(t.client, 'api.search', { query: 'approve', tag: 'time entries' }));
      expect(found.results.map((r) => r.operationId)).to.deep.equal(['approveTimeEntry']);
    });

    it('ranks deterministically and respects the limit', async () => {
      const first = await search('update a client', 5);
      const second = await search('update a client', 5);
      expect(first.results).to.have.length(5);
      expect(second).to.deep.equal(first);
      const scores = first.results.map((r) => r.score);
      expect(scores).to.deep.equal([...scores].sort((a, b) => b - a));
      expect(first.results[0]).to.include({ operationId: 'updateClient', method: 'PATCH', path: '/clients/{clientId}', permission: 'clients:write' });
    });
  });

  describe('describe', () => {
    it('returns the arguments schema, responses, examples and playbooks', async () => {
      const described = dataOf<Record<string, any>>(await callTool(t.client, 'api.describe', { operationId: 'voidInvoice' }));
      expect(described).to.include({ operationId: 'voidInvoice', method: 'POST', path: '/invoices/{invoiceId}/void', permission: 'invoices:write', requiresApproval: true });
      expect(described.arguments.properties.path.required).to.deep.equal(['invoiceId']);
      expect(described.playbooks[0].steps).to.have.length(3);
      const created = dataOf<Record<string, any>>(await callTool(t.client, 'api.describe', { operationId: 'createTicket' }));
      expect(created.arguments.properties.body.required).to.have.members(['subject', 'client_id']);
      expect(created.arguments.properties.body.properties.priority.enum).to.deep.equal(['low', 'normal', 'high', 'urgent']);
      expect(created.arguments.required).to.deep.equal(['body']);
      expect(created.responses.map((r: { status: string }) => r.status)).to.deep.equal(['201', '400', '401']);
    });

    it('inlines references, keeping recursive schemas finite through $defs', async () => {
      const described = dataOf<Record<string, any>>(await callTool(t.client, 'api.describe', { operationId: 'getCategoryTree' }));
      const schema = described.responses[0].schema;
      expect(schema.properties.children.items).to.deep.equal({ $ref: '#/$defs/CategoryTree' });
      expect(schema.$defs.CategoryTree.properties.name.type).to.equal('string');
      // OpenAPI 3.0 `nullable` becomes a JSON Schema type union.
      const ticket = dataOf<Record<string, any>>(await callTool(t.client, 'api.describe', { operationId: 'createTicket' }));
      expect(ticket.arguments.properties.body.properties.due_at.type).to.deep.equal(['string', 'null']);
    });

    it('says an unknown operation is unknown', async () => {
      const result = await callTool(t.client, 'api.describe', { operationId: 'launchRocket' });
      expect(result.isError).to.equal(true);
      expect(textOf(result)).to.equal('Unknown operation "launchRocket". Use api.search to find operations.');
    });
  });

  describe('registry endpoint', () => {
    const get = (encoding: string | undefined): Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }> =>
      new Promise((resolve, reject) => {
        const headers: Record<string, string> = { authorization: `Bearer ${t.apiKey}` };
        if (encoding) headers['accept-encoding'] = encoding;
        http
          .get(`${t.url}/api/v1/meta/mcp-registry`, { headers }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (chunk: Buffer) => chunks.push(chunk));
            res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
          })
          .on('error', reject);
      });

    it('lists every operation with the meta-tools, gzip-compressed when the client accepts it', async () => {
      const zipped = await get('gzip, deflate, br');
      expect(zipped.headers['content-encoding']).to.equal('gzip');
      const listing = JSON.parse(gunzipSync(zipped.body).toString('utf8')) as { data: { edition: string; count: number; entries: { kind: string; name: string }[] } };
      expect(listing.data.edition).to.equal('community');
      expect(listing.data.count).to.equal(countOperations(document) + 3);
      expect(listing.data.entries.filter((e) => e.kind === 'operation')).to.have.length(countOperations(document));

      const plain = await get(undefined);
      expect(plain.headers['content-encoding']).to.equal(undefined);
      expect(JSON.parse(plain.body.toString('utf8'))).to.deep.equal(listing);
      expect(zipped.body.length).to.be.below(plain.body.length / 5);
      expect((await get('gzip;q=0, identity')).headers['content-encoding']).to.equal(undefined);
    });
  });

  describe('call', () => {
    it('places path, query, header and body arguments, with the principal attached in-process', async () => {
      const result = await callTool(t.client, 'api.call', {
        operationId: 'updateTicket',
        path: { ticketId: TICKET },
        body: { priority: 'high', assignee_id: null },
      });
      const { status, headers, body } = dataOf<{ status: number; headers: Record<string, string>; body: Echo }>(result);
      expect(status).to.equal(200);
      expect(headers.etag).to.equal('"v1"');
      expect(body).to.include({ method: 'PATCH', path: `/api/v2/tickets/${TICKET}` });
      expect(body.body).to.deep.equal({ priority: 'high', assignee_id: null });
      expect(body.headers['content-type']).to.equal('application/json');
      expect(body.principal).to.deep.include({ tenant: t.tenant, kind: 'api-key' });
      // The caller's credential never reaches the API.
      expect(body.headers).to.not.have.property('authorization');
      expect(JSON.stringify(body)).to.not.include(t.apiKey);

      const listed = dataOf<{ body: Echo }>(
        await callTool(t.client, 'api.call', { operationId: 'listInvoices', query: { status: 'open', limit: '5', client_id: CLIENT } }),
      ).body;
      expect(listed.method).to.equal('GET');
      expect(listed.path).to.equal('/api/v2/invoices');
      expect(listed.query).to.deep.equal({ status: ['open'], limit: ['5'], client_id: [CLIENT] });

      const paid = dataOf<{ status: number; body: Echo }>(
        await callTool(t.client, 'api.call', {
          operationId: 'createPayment',
          headers: { 'idempotency-key': 'retry-safe-0001' },
          body: { invoice_id: TICKET, amount: { amount: '99.50', currency: 'EUR' }, method: 'card' },
        }),
      );
      expect(paid.status).to.equal(201);
      expect(paid.body.headers['idempotency-key']).to.equal('retry-safe-0001');
      expect(paid.body.body).to.deep.include({ method: 'card' });
    });

    it('refuses a missing required path parameter before anything is sent', async () => {
      const omitted = await callTool(t.client, 'api.call', { operationId: 'getTicket' });
      expect(omitted.isError).to.equal(true);
      expect(textOf(omitted)).to.equal('Invalid arguments for getTicket (GET /tickets/{ticketId}): missing required path.');
      const empty = await callTool(t.client, 'api.call', { operationId: 'getTicket', path: {} });
      expect(textOf(empty)).to.include('missing required path.ticketId');
      const blank = await callTool(t.client, 'api.call', { operationId: 'getTicket', path: { ticketId: '' } });
      expect(blank.isError).to.equal(true);
      expect(api.received).to.have.length(0);
    });

    it('refuses arguments that violate the schema, naming each problem', async () => {
      const result = await callTool(t.client, 'api.call', {
        operationId: 'createTicket',
        body: { subject: 'Printer on fire', client_id: 'not-a-uuid', priority: 'whenever', colour: 'red' },
      });
      expect(result.isError).to.equal(true);
      const text = textOf(result);
      expect(text).to.match(/^Invalid arguments for createTicket \(POST \/tickets\): /);
      expect(text).to.include('body.client_id must match format "uuid"');
      expect(text).to.include('body.priority must be equal to one of the allowed values: "low", "normal", "high", "urgent"');
      expect(text).to.include('body has no property "colour"');
      const wrongQuery = await callTool(t.client, 'api.call', { operationId: 'listTickets', query: { limit: 1000, color: 'red' } });
      expect(textOf(wrongQuery)).to.include('query.limit must be <= 100');
      expect(textOf(wrongQuery)).to.include('query has no property "color"');
      expect(api.received).to.have.length(0);
    });

    it('reports upstream 4xx and 5xx as tool errors with the status and a body excerpt', async () => {
      const missing = await callTool(t.client, 'api.call', { operationId: 'getTicket', path: { ticketId: MISSING_ID } });
      expect(missing.isError).to.equal(true);
      expect(textOf(missing)).to.equal(`getTicket (GET /tickets/{ticketId}) failed with HTTP 404 Not Found: {"error":{"code":"not_found","message":"No ticket ${MISSING_ID}."}}`);
      expect(missing.structuredContent).to.deep.include({ status: 404 });
      const broken = await callTool(t.client, 'api.call', { operationId: 'getTicket', path: { ticketId: BROKEN_ID } });
      expect(broken.isError).to.equal(true);
      expect(textOf(broken)).to.equal('getTicket (GET /tickets/{ticketId}) failed with HTTP 500 Internal Server Error: upstream database unavailable');
    });

    it('refuses a response larger than maxResponseBytes', async () => {
      const result = await callTool(t.client, 'api.call', { operationId: 'getRevenueReport', query: { from: '2025-01-01', to: '2025-12-31' } });
      expect(result.isError).to.equal(true);
      expect(textOf(result)).to.equal(
        'getRevenueReport (GET /reports/revenue) answered HTTP 200 with a response larger than the 65536-byte limit; narrow the request (filters, paging) and try again.',
      );
    });

    it('refuses an operation that requires approval, without executing it', async () => {
      const result = await callTool(t.client, 'api.call', { operationId: 'voidInvoice', path: { invoiceId: TICKET }, body: { reason: 'typo' } });
      expect(result.isError).to.equal(true);
      expect(textOf(result)).to.equal(
        'Permission denied: voidInvoice (via api.call) requires approval before it runs, and this engine has no approvals (the Enterprise edition provides them); it was not executed',
      );
      expect(api.received).to.have.length(0);
    });

    it('rejects an unknown operation and arguments outside the call shape', async () => {
      const unknown = await callTool(t.client, 'api.call', { operationId: 'launchRocket' });
      expect(textOf(unknown)).to.equal('Unknown operation "launchRocket". Use api.search to find operations.');
      const stray = await callTool(t.client, 'api.call', { operationId: 'listTickets', ticketId: TICKET });
      expect(stray.isError).to.equal(true);
      expect(textOf(stray)).to.match(/^Invalid arguments for api\.call/);
    });
  });
});
