import { Model } from 'objection';

export const TICKET_STATUSES = ['open', 'in_progress', 'resolved', 'closed'] as const;
export const TICKET_PRIORITIES = ['low', 'normal', 'high', 'urgent'] as const;

export class Ticket extends Model {
  static override tableName = 'tickets';
  id!: string;
  tenant!: string;
  client_id!: string | null;
  title!: string;
  description!: string;
  status!: (typeof TICKET_STATUSES)[number];
  priority!: (typeof TICKET_PRIORITIES)[number];
  assignee!: string | null;
  created_by!: string | null;
  created_at!: Date;
  updated_at!: Date;
}

/** The shape tools return: camelCase, ISO dates, no tenant column. */
export function ticketView(row: Ticket | Record<string, unknown>) {
  const t = row as Ticket;
  return {
    id: t.id,
    title: t.title,
    description: t.description,
    status: t.status,
    priority: t.priority,
    assignee: t.assignee,
    clientId: t.client_id,
    createdBy: t.created_by,
    createdAt: new Date(t.created_at).toISOString(),
    updatedAt: new Date(t.updated_at).toISOString(),
  };
}
