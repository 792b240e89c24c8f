import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { communityEdition, apiRegistry } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { ConfigError } from '@gatehouse-mcp/engine';
import { generateOpenApi } from '../../scripts/generate-openapi.js';
import { governedEdition } from './support/governed-edition.js';
import { callTool, dataOf, textOf } from './support/helpers.js';

/** A small OpenAPI 3.1 document: type unions, $ref siblings, a header parameter. */
function notesDocument(): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: 'Notes', version: '1' },
    servers: [{ url: '/v1' }],
    paths: {
      '/notes': {
        get: { summary: 'List notes', tags: ['Notes'], responses: { '200': { description: 'OK' } } },
        post: {
          operationId: 'createNote',
          summary: 'Create a note',
          tags: ['Notes'],
          'x-gatehouse-permission': 'notes:author',
          requestBody: { required: true, content: { 'application/json': { schema: { $ref: '#/components/schemas/Note', description: 'The new note.' } } } },
          responses: { '201': { description: 'Created' } },
        },
      },
      '/notes/{noteId}': {
        parameters: [{ name: 'noteId', in: 'path', required: true, schema: { type: 'integer', minimum: 1 } }],
        delete: { operationId: 'deleteNote', summary: 'Delete a note', tags: ['Notes'], 'x-gatehouse-requires-approval': false, responses: { '204': { description: 'Deleted' } } },
      },
    },
    components: { schemas: { Note: { type: 'object', required: ['text'], properties: { text: { type: 'string' }, pinned: { type: ['boolean', 'null'] } }, additionalProperties: false } } },
  };
}

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

describe('API registry dispatch', () => {
  describe('to an HTTP upstream, with the document fetched from a URL', () => {
    const seen: Seen[] = [];
    let upstream: http.Server;
    let base: string;
    let t: TestEngine;

    before(async () => {
      upstream = http.createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          if (req.url === '/openapi.json') {
            res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(notesDocument()));
            return;
          }
          seen.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
          if (req.headers.authorization !== 'Bearer host-service-secret') {
            res.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"bad service credential"}');
            return;
          }
          res.writeHead(req.method === 'POST' ? 201 : 200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, url: req.url }));
        });
      });
      await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
      base = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
      t = await createTestEngine({
        plugins: [
          communityEdition(),
          apiRegistry({
            id: 'notes',
            documents: [{ source: `${base}/openapi.json` }],
            dispatch: { baseUrl: `${base}/v1`, serviceCredential: 'host-service-secret', principalHeader: 'x-acting-for' },
          }),
        ],
      });
    });
    after(async () => {
      await t?.close();
      upstream?.close();
    });

    it('sends the host credential and the asserted principal, never the caller token', async () => {
      const result = await callTool(t.client, 'notes.call', { operationId: 'createNote', body: { text: 'hello', pinned: null } });
      expect(dataOf(result)).to.deep.include({ status: 201, body: { ok: true, url: '/v1/notes' } });
      const request = seen.at(-1)!;
      expect(request.headers.authorization).to.equal('Bearer host-service-secret');
      expect(JSON.stringify(request.headers)).to.not.include(t.apiKey);
      const principal = JSON.parse(Buffer.from(request.headers['x-acting-for'] as string, 'base64url').toString('utf8'));
      expect(principal).to.deep.include({ tenant: t.tenant, kind: 'api-key' });
      expect(JSON.parse(request.body)).to.deep.equal({ text: 'hello', pinned: null });
    });

    it('derives ids and permissions, honours extensions, and coerces path parameters', async () => {
      const found = dataOf<{ results: { operationId: string; permission: string }[] }>(await callTool(t.client, 'notes.search', { query: 'show all notes' }));
      expect(found.results[0]).to.deep.include({ operationId: 'get_notes', permission: 'notes:read' });
      const described = dataOf<Record<string, any>>(await callTool(t.client, 'notes.describe', { operationId: 'createNote' }));
      expect(described.permission).to.equal('notes:author');
      expect(described.arguments.properties.body.description).to.equal('The new note.');

      const deleted = await callTool(t.client, 'notes.call', { operationId: 'deleteNote', path: { noteId: '42' } });
      expect(dataOf(deleted).status).to.equal(200);
      expect(seen.at(-1)).to.deep.include({ method: 'DELETE', url: '/v1/notes/42' });
      const invalid = await callTool(t.client, 'notes.call', { operationId: 'deleteNote', path: { noteId: 0 } });
      expect(textOf(invalid)).to.equal('Invalid arguments for deleteNote (DELETE /notes/{noteId}): path.noteId must be >= 1.');
      const badBody = await callTool(t.client, 'notes.call', { operationId: 'createNote', body: { text: 'x', pinned: 'yes' } });
      expect(textOf(badBody)).to.include('body.pinned must be boolean,null');
    });
  });

  describe('direct tools', () => {
    const received: string[] = [];
    const handler = async (request: Request): Promise<Response> => {
      received.push(`${request.method} ${new URL(request.url).pathname}`);
      return request.method === 'DELETE' ? new Response(null, { status: 204 }) : Response.json({ notes: [] });
    };

    it('adds one tool per operation with its own schema, filtered by the policy', async () => {
      const { plugin } = governedEdition((_p, request) => request.permission !== 'notes:delete');
      const t = await createTestEngine({ plugins: [plugin, apiRegistry({ id: 'notes', documents: [{ source: notesDocument() }], dispatch: { handler }, directTools: { max: 10 } })] });
      try {
        const { tools } = await t.client.listTools();
        expect(tools.map((tool) => tool.name).sort()).to.deep.equal(['notes.call', 'notes.createNote', 'notes.describe', 'notes.get_notes', 'notes.search']);
        const create = tools.find((tool) => tool.name === 'notes.createNote')!;
        expect(create.inputSchema).to.deep.include({ required: ['body'] });
        expect(create.annotations).to.deep.include({ readOnlyHint: false, destructiveHint: false });
        const listed = await callTool(t.client, 'notes.get_notes', {});
        expect(dataOf(listed)).to.deep.include({ status: 200, body: { notes: [] } });
        expect(received).to.deep.equal(['GET /v1/notes']);
        const refused = await callTool(t.client, 'notes.createNote', { body: { text: 7 } });
        expect(textOf(refused)).to.equal('Invalid arguments for createNote (POST /notes): body.text must be string.');
      } finally {
        await t.close();
      }
    });

    it('refuses direct tools for more operations than allowed', () => {
      expect(() => apiRegistry({ documents: [{ source: generateOpenApi() }], dispatch: { handler }, directTools: { max: 50 } })).to.throw(
        ConfigError,
        /operations exceed directTools.max \(50\)/,
      );
    });
  });
});
