import { isUuid, type Database, type PluginDefinition, type TenantDb } from '@gatehouse-mcp/engine';
import { apiRegistry, principalOf } from '@gatehouse-mcp/engine/oss';
import { Ticket, TICKET_PRIORITIES, TICKET_STATUSES, ticketView } from './models.js';

/** The OpenAPI document of {@link ticketsRestApi}. */
export const TICKETS_OPENAPI = new URL('./openapi.yaml', import.meta.url);

/** Where the API is mounted (the document's `servers` entry). */
const BASE = '/tickets-api/v1';

function error(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status });
}

async function readJson(request: Request): Promise<Record<string, unknown> | Response> {
  try {
    const body = (await request.json()) as unknown;
    if (typeof body === 'object' && body !== null && !Array.isArray(body)) return body as Record<string, unknown>;
  } catch {
    // reported below
  }
  return error(400, 'invalid_body', 'The body must be a JSON object.');
}

const pick = <T extends string>(allowed: readonly T[], value: unknown): T | undefined => (allowed.includes(value as T) ? (value as T) : undefined);

async function listTickets(db: TenantDb, query: URLSearchParams): Promise<Response> {
  const limit = Math.min(100, Math.max(1, Number(query.get('limit') ?? 20) || 20));
  const status = pick(TICKET_STATUSES, query.get('status'));
  const priority = pick(TICKET_PRIORITIES, query.get('priority'));
  const clientId = query.get('clientId');
  if (clientId && !isUuid(clientId)) return Response.json({ tickets: [] });
  const tickets = await db.read((db) => {
    const q = db.query(Ticket).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit);
    if (status) q.where({ status });
    if (priority) q.where({ priority });
    if (clientId) q.where({ client_id: clientId });
    return q;
  });
  return Response.json({ tickets: tickets.map(ticketView) });
}

async function getTicket(db: TenantDb, id: string): Promise<Response> {
  const ticket = await db.read((db) => db.query(Ticket).findById(id));
  if (!ticket) return error(404, 'not_found', `No ticket with id ${id}.`);
  const comments = (await db.read((db) => db.table('ticket_comments').where({ ticket_id: id }).orderBy('created_at'))) as { id: string; author: string; body: string; created_at: Date }[];
  return Response.json({
    ticket: ticketView(ticket),
    comments: comments.map((c) => ({ id: c.id, author: c.author, body: c.body, createdAt: new Date(c.created_at).toISOString() })),
  });
}

async function createTicket(db: TenantDb, body: Record<string, unknown>, author: string): Promise<Response> {
  const title = typeof body.title === 'string' ? body.title.trim() : '';
  if (!title) return error(400, 'invalid_body', 'A ticket needs a title.');
  const clientId = typeof body.clientId === 'string' ? body.clientId : null;
  if (clientId && (!isUuid(clientId) || !(await db.table('clients').where({ id: clientId }).first('id')))) {
    return error(404, 'not_found', `No client with id ${clientId}.`);
  }
  const [row] = await db.insert<Ticket>('tickets', {
    title,
    description: typeof body.description === 'string' ? body.description : '',
    priority: pick(TICKET_PRIORITIES, body.priority) ?? 'normal',
    client_id: clientId,
    created_by: author,
  });
  return Response.json({ ticket: ticketView(row!) }, { status: 201, headers: { location: `${BASE}/tickets/${row!.id}` } });
}

async function updateTicket(db: TenantDb, id: string, body: Record<string, unknown>): Promise<Response> {
  const patch: Record<string, unknown> = {};
  if (typeof body.title === 'string' && body.title.trim()) patch.title = body.title.trim();
  if (pick(TICKET_STATUSES, body.status)) patch.status = body.status;
  if (pick(TICKET_PRIORITIES, body.priority)) patch.priority = body.priority;
  if (body.assignee === null || typeof body.assignee === 'string') patch.assignee = body.assignee;
  if (Object.keys(patch).length === 0) return error(400, 'invalid_body', 'Nothing to change: give at least one of title, status, priority, assignee.');
  const [row] = await db.table('tickets').where({ id }).update({ ...patch, updated_at: new Date() }).returning('*');
  if (!row) return error(404, 'not_found', `No ticket with id ${id}.`);
  return Response.json({ ticket: ticketView(row as Record<string, unknown>) });
}

async function listClients(db: TenantDb, query: URLSearchParams): Promise<Response> {
  const search = query.get('search');
  const rows = (await db.read((db) => {
    const q = db.table('clients').orderBy('name').limit(100);
    if (search) q.whereILike('name', `%${search.replace(/[\\%_]/g, '\\$&')}%`);
    return q;
  })) as { id: string; name: string; email: string | null }[];
  return Response.json({ clients: rows.map((c) => ({ id: c.id, name: c.name, email: c.email })) });
}

/**
 * The tickets data as a small REST API (`openapi.yaml`): a Web-standard `Request → Response`
 * handler meant to be mounted through the API registry. It serves only requests the engine built
 * for an authenticated principal (`principalOf`), and only that principal's tenant's rows.
 */
export function ticketsRestApi(database: Database | (() => Database)): (request: Request) => Promise<Response> {
  const databaseOf = typeof database === 'function' ? database : () => database;
  return async (request) => {
    const principal = principalOf(request);
    if (!principal) return error(401, 'unauthenticated', 'This API is served through the engine only.');
    const db = databaseOf().forTenant(principal.tenant);
    const url = new URL(request.url);
    const path = url.pathname.startsWith(BASE) ? url.pathname.slice(BASE.length) : url.pathname;
    const item = /^\/tickets\/([^/]+)$/.exec(path);
    if (path === '/tickets' && request.method === 'GET') return listTickets(db, url.searchParams);
    if (path === '/tickets' && request.method === 'POST') {
      const body = await readJson(request);
      return body instanceof Response ? body : createTicket(db, body, principal.label);
    }
    if (item && (request.method === 'GET' || request.method === 'PATCH')) {
      const id = decodeURIComponent(item[1]!);
      if (!isUuid(id)) return error(404, 'not_found', `No ticket with id ${id}.`);
      if (request.method === 'GET') return getTicket(db, id);
      const body = await readJson(request);
      return body instanceof Response ? body : updateTicket(db, id, body);
    }
    if (path === '/clients' && request.method === 'GET') return listClients(db, url.searchParams);
    return error(404, 'not_found', `No route ${request.method} ${url.pathname}.`);
  };
}

/**
 * The tickets REST API mounted through the API registry (tools `tickets-api.search`,
 * `tickets-api.describe`, `tickets-api.call`). Pass the engine's database lazily:
 *
 * ```ts
 * const engine: Engine = await createEngine({
 *   plugins: [communityEdition(), ticketsPlugin(), ticketsApiRegistry(() => engine.database)],
 * });
 * ```
 */
export function ticketsApiRegistry(database: Database | (() => Database)): PluginDefinition {
  return apiRegistry({ id: 'tickets-api', documents: [{ source: TICKETS_OPENAPI }], dispatch: { handler: ticketsRestApi(database) } });
}
