import { ToolError, defineTool, z, type TenantDb } from '@gatehouse-mcp/engine';
import { Ticket, TICKET_PRIORITIES, TICKET_STATUSES, ticketView } from './models.js';

const status = z.enum(TICKET_STATUSES);
const priority = z.enum(TICKET_PRIORITIES);

function encodeCursor(row: { created_at: Date | string; id: string }): string {
  return Buffer.from(JSON.stringify([new Date(row.created_at).toISOString(), row.id])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(value) && value.length === 2 && value.every((part) => typeof part === 'string') && !Number.isNaN(Date.parse(value[0]))) {
      return value as [string, string];
    }
  } catch {
    // reported below
  }
  throw new ToolError('The cursor is not valid; start again without one.');
}

async function requireClient(db: TenantDb, clientId: string): Promise<void> {
  const found = await db.table('clients').where({ id: clientId }).first('id');
  if (!found) throw new ToolError(`No client with id ${clientId}.`);
}

async function requireTicket(db: TenantDb, id: string): Promise<Ticket> {
  const ticket = await db.query(Ticket).findById(id);
  if (!ticket) throw new ToolError(`No ticket with id ${id}.`);
  return ticket;
}

export const listTickets = defineTool({
  name: 'tickets.list',
  title: 'List tickets',
  description: 'Lists tickets, newest first, optionally filtered by status, priority, client or a text search. Paginated: pass nextCursor back as cursor.',
  permission: 'tickets:read',
  annotations: { readOnlyHint: true, openWorldHint: false },
  input: z.object({
    status: status.optional(),
    priority: priority.optional(),
    clientId: z.uuid().optional(),
    search: z.string().min(1).max(200).optional().describe('Text to find in the title or description.'),
    limit: z.number().int().min(1).max(100).default(20),
    cursor: z.string().max(200).optional(),
  }),
  async handler({ status, priority, clientId, search, limit, cursor }, { db }) {
    const after = cursor ? decodeCursor(cursor) : undefined;
    // A read: run again on a fresh connection if the first one turns out dead (after a failover).
    const rows = await db.read((db) => {
      const query = db.query(Ticket).orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(limit + 1);
      if (status) query.where({ status });
      if (priority) query.where({ priority });
      if (clientId) query.where({ client_id: clientId });
      if (search) {
        const pattern = `%${search.replace(/[\\%_]/g, '\\$&')}%`;
        query.where((q) => q.whereILike('title', pattern).orWhereILike('description', pattern));
      }
      if (after) query.whereRaw('(created_at, id) < (?, ?)', after);
      return query;
    });
    const page = rows.slice(0, limit);
    return {
      tickets: page.map(ticketView),
      nextCursor: rows.length > limit ? encodeCursor(page[page.length - 1]!) : null,
    };
  },
});

export const getTicket = defineTool({
  name: 'tickets.get',
  title: 'Get ticket',
  description: 'Returns one ticket by id, with its comments.',
  permission: 'tickets:read',
  annotations: { readOnlyHint: true, openWorldHint: false },
  input: z.object({ id: z.uuid() }),
  async handler({ id }, { db }) {
    return db.read(async (db) => {
      const ticket = await requireTicket(db, id);
      const comments = (await db.table('ticket_comments').where({ ticket_id: id }).orderBy('created_at')) as { id: string; author: string; body: string; created_at: Date }[];
      return {
        ticket: ticketView(ticket),
        comments: comments.map((c) => ({ id: c.id, author: c.author, body: c.body, createdAt: new Date(c.created_at).toISOString() })),
      };
    });
  },
});

export const createTicket = defineTool({
  name: 'tickets.create',
  title: 'Create ticket',
  description: 'Opens a new ticket, optionally for a client.',
  permission: 'tickets:write',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  input: z.object({
    title: z.string().trim().min(1).max(200),
    description: z.string().max(10_000).default(''),
    priority: priority.default('normal'),
    clientId: z.uuid().optional(),
  }),
  async handler({ title, description, priority, clientId }, { db, principal }) {
    if (clientId) await requireClient(db, clientId);
    const [row] = await db.insert<Ticket>('tickets', { title, description, priority, client_id: clientId ?? null, created_by: principal.label });
    return { ticket: ticketView(row!) };
  },
});

export const updateTicket = defineTool({
  name: 'tickets.update',
  title: 'Update ticket',
  description: 'Changes the status, priority, assignee or title of a ticket. Fields left out stay as they are.',
  permission: 'tickets:write',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: true, openWorldHint: false },
  input: z.object({
    id: z.uuid(),
    title: z.string().trim().min(1).max(200).optional(),
    status: status.optional(),
    priority: priority.optional(),
    assignee: z.string().max(200).nullable().optional(),
  }),
  async handler({ id, ...changes }, { db }) {
    const patch = Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined));
    if (Object.keys(patch).length === 0) throw new ToolError('Nothing to change: give at least one of title, status, priority, assignee.');
    const [row] = await db.table('tickets').where({ id }).update({ ...patch, updated_at: new Date() }).returning('*');
    if (!row) throw new ToolError(`No ticket with id ${id}.`);
    return { ticket: ticketView(row as Record<string, unknown>) };
  },
});

export const commentOnTicket = defineTool({
  name: 'tickets.comment',
  title: 'Comment on ticket',
  description: 'Adds a comment to a ticket.',
  permission: 'tickets:write',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  input: z.object({ id: z.uuid(), body: z.string().trim().min(1).max(10_000) }),
  async handler({ id, body }, { db, principal }) {
    return db.transaction(async (tx) => {
      await requireTicket(tx, id);
      const [comment] = await tx.insert<{ id: string; created_at: Date }>('ticket_comments', { ticket_id: id, author: principal.label, body });
      await tx.table('tickets').where({ id }).update({ updated_at: new Date() });
      return { comment: { id: comment!.id, ticketId: id, author: principal.label, body, createdAt: new Date(comment!.created_at).toISOString() } };
    });
  },
});

export const listClients = defineTool({
  name: 'clients.list',
  title: 'List clients',
  description: 'Lists clients by name, optionally filtered by a name search.',
  permission: 'clients:read',
  annotations: { readOnlyHint: true, openWorldHint: false },
  input: z.object({ search: z.string().min(1).max(200).optional(), limit: z.number().int().min(1).max(100).default(50) }),
  async handler({ search, limit }, { db }) {
    const rows = (await db.read((db) => {
      const query = db.table('clients').orderBy('name').limit(limit);
      if (search) query.whereILike('name', `%${search.replace(/[\\%_]/g, '\\$&')}%`);
      return query;
    })) as { id: string; name: string; email: string | null }[];
    return { clients: rows.map((c) => ({ id: c.id, name: c.name, email: c.email })) };
  },
});

export const createClient = defineTool({
  name: 'clients.create',
  title: 'Create client',
  description: 'Adds a client that tickets can be opened for.',
  permission: 'clients:write',
  annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
  input: z.object({ name: z.string().trim().min(1).max(200), email: z.email().optional() }),
  async handler({ name, email }, { db }) {
    const [row] = await db.insert<{ id: string; name: string; email: string | null }>('clients', { name, email: email ?? null });
    return { client: { id: row!.id, name: row!.name, email: row!.email } };
  },
});
