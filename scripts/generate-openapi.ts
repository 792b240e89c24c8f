/**
 * Generates a realistic OpenAPI 3.0 document of a professional-services / service-desk API with
 * well over 200 operations: CRUD on two dozen resources, sub-collections, workflow actions and
 * reports, with shared components, `$ref`s (including recursive schemas) and nullable fields.
 * Deterministic: the same document every run. Used by the API registry tests and benchmark.
 *
 *   node --import tsx scripts/generate-openapi.ts [out.yaml|out.json]   (default: YAML to stdout)
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';

type Schema = Record<string, unknown>;

interface Field {
  readonly name: string;
  readonly schema: Schema;
  readonly required?: boolean;
  /** Set by the server only. */
  readonly readOnly?: boolean;
}

interface Action {
  readonly verb: string;
  readonly method: 'POST' | 'GET' | 'PUT' | 'DELETE';
  readonly summary: string;
  readonly description: string;
  readonly body?: Schema;
  readonly itemLevel?: boolean;
}

interface Child {
  /** Plural path segment under the parent item, e.g. `comments`. */
  readonly segment: string;
  readonly singular: string;
  readonly schemaRef: string;
  readonly ops: readonly ('list' | 'create' | 'delete')[];
}

interface Resource {
  readonly plural: string;
  readonly singular: string;
  readonly tag: string;
  readonly noun: string;
  readonly description: string;
  readonly fields: readonly Field[];
  readonly statuses?: readonly string[];
  readonly filters?: readonly Field[];
  readonly actions?: readonly Action[];
  readonly children?: readonly Child[];
  /** Creation takes an `Idempotency-Key` header. */
  readonly idempotent?: boolean;
}

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const str = (description: string, extra: Schema = {}): Schema => ({ type: 'string', description, ...extra });
const uuid = (description: string): Schema => ({ type: 'string', format: 'uuid', description });
const int = (description: string, extra: Schema = {}): Schema => ({ type: 'integer', format: 'int32', description, ...extra });
const bool = (description: string): Schema => ({ type: 'boolean', description });
const date = (description: string, nullable = false): Schema => ({ type: 'string', format: 'date-time', description, ...(nullable ? { nullable: true } : {}) });
const money = (description: string): Schema => ({ ...ref('Money'), description });
const reason = { type: 'object', properties: { reason: str('Why, for the record.', { maxLength: 500 }) } };

const pascal = (text: string): string => text.replace(/(^|[-_ ])([a-z])/g, (_m, _s, c: string) => c.toUpperCase());
const camel = (text: string): string => pascal(text).replace(/^./, (c) => c.toLowerCase());

const RESOURCES: readonly Resource[] = [
  {
    plural: 'tickets', singular: 'ticket', tag: 'Tickets', noun: 'ticket',
    description: 'A support ticket raised by a client contact.',
    statuses: ['new', 'open', 'pending', 'resolved', 'closed'],
    fields: [
      { name: 'subject', schema: str('One-line summary of the problem.', { minLength: 1, maxLength: 200 }), required: true },
      { name: 'description', schema: str('Full description of the problem.') },
      { name: 'priority', schema: str('How urgent the ticket is.', { enum: ['low', 'normal', 'high', 'urgent'], default: 'normal' }) },
      { name: 'client_id', schema: uuid('The client the ticket belongs to.'), required: true },
      { name: 'contact_id', schema: uuid('The contact who raised the ticket.') },
      { name: 'assignee_id', schema: { ...uuid('The technician working on it.'), nullable: true } },
      { name: 'due_at', schema: date('When the ticket must be resolved (SLA).', true) },
    ],
    filters: [
      { name: 'priority', schema: str('Only tickets of this priority.', { enum: ['low', 'normal', 'high', 'urgent'] }) },
      { name: 'client_id', schema: uuid('Only tickets of this client.') },
      { name: 'assignee_id', schema: uuid('Only tickets assigned to this technician.') },
    ],
    actions: [
      { verb: 'close', method: 'POST', summary: 'Close a ticket', description: 'Marks the ticket as closed with a resolution note.', body: { type: 'object', required: ['resolution'], properties: { resolution: str('How the problem was solved.', { minLength: 1 }) } } },
      { verb: 'reopen', method: 'POST', summary: 'Reopen a ticket', description: 'Reopens a resolved or closed ticket.', body: reason },
      { verb: 'assign', method: 'POST', summary: 'Assign a ticket to a technician', description: 'Sets the technician responsible for the ticket.', body: { type: 'object', required: ['assignee_id'], properties: { assignee_id: uuid('The technician.') } } },
      { verb: 'merge', method: 'POST', summary: 'Merge duplicate tickets', description: 'Merges another ticket into this one; the other ticket is closed as a duplicate.', body: { type: 'object', required: ['duplicate_id'], properties: { duplicate_id: uuid('The duplicate ticket.') } } },
      { verb: 'escalate', method: 'POST', summary: 'Escalate a ticket', description: 'Raises the priority and notifies the escalation team.', body: reason },
      { verb: 'history', method: 'GET', summary: 'Get the change history of a ticket', description: 'Every change made to the ticket, oldest first.' },
    ],
    children: [
      { segment: 'comments', singular: 'comment', schemaRef: 'Comment', ops: ['list', 'create', 'delete'] },
      { segment: 'attachments', singular: 'attachment', schemaRef: 'Attachment', ops: ['list', 'create', 'delete'] },
      { segment: 'time-entries', singular: 'time entry', schemaRef: 'TimeEntry', ops: ['list', 'create'] },
    ],
  },
  {
    plural: 'clients', singular: 'client', tag: 'Clients', noun: 'client',
    description: 'A customer organisation served under contract.',
    statuses: ['prospect', 'active', 'inactive'],
    fields: [
      { name: 'name', schema: str('The organisation name.', { minLength: 1 }), required: true },
      { name: 'domain', schema: str('Primary e-mail domain.', { format: 'hostname' }) },
      { name: 'phone', schema: str('Main phone number.') },
      { name: 'address', schema: ref('Address') },
      { name: 'account_manager_id', schema: uuid('The account manager.') },
    ],
    actions: [
      { verb: 'summary', method: 'GET', summary: 'Get a client summary', description: 'Open tickets, unpaid invoices, contracts and assets of one client at a glance.' },
      { verb: 'archive', method: 'POST', summary: 'Archive a client', description: 'Hides a former client from lists without deleting its history.' },
    ],
    children: [
      { segment: 'notes', singular: 'note', schemaRef: 'Note', ops: ['list', 'create', 'delete'] },
    ],
  },
  {
    plural: 'contacts', singular: 'contact', tag: 'Contacts', noun: 'contact',
    description: 'A person at a client organisation.',
    fields: [
      { name: 'first_name', schema: str('Given name.', { minLength: 1 }), required: true },
      { name: 'last_name', schema: str('Family name.', { minLength: 1 }), required: true },
      { name: 'email', schema: str('E-mail address.', { format: 'email' }), required: true },
      { name: 'phone', schema: str('Phone number.') },
      { name: 'client_id', schema: uuid('The organisation the contact works for.'), required: true },
      { name: 'is_primary', schema: bool('Whether this is the main contact of the client.') },
    ],
    filters: [{ name: 'client_id', schema: uuid('Only contacts of this client.') }],
    actions: [
      { verb: 'invite', method: 'POST', summary: 'Invite a contact to the client portal', description: 'Sends the contact an e-mail invitation to the self-service portal.' },
      { verb: 'merge', method: 'POST', summary: 'Merge duplicate contacts', description: 'Merges another contact record into this one.', body: { type: 'object', required: ['duplicate_id'], properties: { duplicate_id: uuid('The duplicate contact.') } } },
    ],
  },
  {
    plural: 'sites', singular: 'site', tag: 'Sites', noun: 'site',
    description: 'A physical location of a client.',
    fields: [
      { name: 'name', schema: str('Site name.'), required: true },
      { name: 'client_id', schema: uuid('The client.'), required: true },
      { name: 'address', schema: ref('Address') },
      { name: 'timezone', schema: str('IANA time zone.', { example: 'Europe/Berlin' }) },
    ],
  },
  {
    plural: 'assets', singular: 'asset', tag: 'Assets', noun: 'device',
    description: 'A managed device (workstation, server, network appliance).',
    statuses: ['online', 'offline', 'retired'],
    fields: [
      { name: 'hostname', schema: str('Network host name.'), required: true },
      { name: 'kind', schema: str('Device kind.', { enum: ['workstation', 'server', 'laptop', 'router', 'switch', 'printer'] }), required: true },
      { name: 'client_id', schema: uuid('Owner client.'), required: true },
      { name: 'site_id', schema: uuid('Where the device is.') },
      { name: 'serial_number', schema: str('Manufacturer serial number.') },
      { name: 'warranty_expires_at', schema: date('Warranty end.', true) },
    ],
    filters: [
      { name: 'client_id', schema: uuid('Only devices of this client.') },
      { name: 'kind', schema: str('Only devices of this kind.', { enum: ['workstation', 'server', 'laptop', 'router', 'switch', 'printer'] }) },
    ],
    actions: [
      { verb: 'reboot', method: 'POST', summary: 'Reboot a device', description: 'Schedules a remote restart of the device through the monitoring agent.' },
      { verb: 'run-script', method: 'POST', summary: 'Run a script on a device', description: 'Runs an automation script on the device and returns the job.', body: { type: 'object', required: ['script_id'], properties: { script_id: uuid('The script.'), arguments: { type: 'array', items: { type: 'string' } } } } },
      { verb: 'health', method: 'GET', summary: 'Get device health', description: 'CPU, memory, disk and patch status of a device.' },
      { verb: 'software', method: 'GET', summary: 'List installed software on a device', description: 'Software inventory reported by the agent.' },
    ],
    children: [
      { segment: 'patches', singular: 'patch', schemaRef: 'Patch', ops: ['list'] },
      { segment: 'alerts', singular: 'alert', schemaRef: 'Alert', ops: ['list'] },
    ],
  },
  {
    plural: 'contracts', singular: 'contract', tag: 'Contracts', noun: 'contract',
    description: 'A service agreement with a client.',
    statuses: ['draft', 'active', 'expired', 'terminated'],
    fields: [
      { name: 'name', schema: str('Contract name.'), required: true },
      { name: 'client_id', schema: uuid('The client.'), required: true },
      { name: 'starts_on', schema: str('First day.', { format: 'date' }), required: true },
      { name: 'ends_on', schema: { ...str('Last day; empty for open-ended.', { format: 'date' }), nullable: true } },
      { name: 'monthly_fee', schema: money('Recurring fee.') },
    ],
    actions: [
      { verb: 'renew', method: 'POST', summary: 'Renew a contract', description: 'Extends the contract by another term.', body: { type: 'object', properties: { months: int('Length of the new term.', { minimum: 1, maximum: 60 }) } } },
      { verb: 'terminate', method: 'POST', summary: 'Terminate a contract', description: 'Ends the contract early.', body: reason },
    ],
    children: [{ segment: 'services', singular: 'service', schemaRef: 'ContractService', ops: ['list', 'create', 'delete'] }],
  },
  {
    plural: 'invoices', singular: 'invoice', tag: 'Invoices', noun: 'invoice',
    description: 'A bill sent to a client.',
    idempotent: true,
    statuses: ['draft', 'open', 'paid', 'void', 'overdue'],
    fields: [
      { name: 'client_id', schema: uuid('The billed client.'), required: true },
      { name: 'number', schema: str('Invoice number.'), readOnly: true },
      { name: 'issued_on', schema: str('Issue date.', { format: 'date' }) },
      { name: 'due_on', schema: str('Payment due date.', { format: 'date' }) },
      { name: 'total', schema: money('Total including tax.'), readOnly: true },
      { name: 'currency', schema: str('ISO 4217 currency.', { pattern: '^[A-Z]{3}$', default: 'EUR' }) },
    ],
    filters: [
      { name: 'client_id', schema: uuid('Only invoices of this client.') },
      { name: 'due_before', schema: str('Only invoices due before this date.', { format: 'date' }) },
    ],
    actions: [
      { verb: 'send', method: 'POST', summary: 'Send an invoice', description: 'E-mails the invoice to the client billing contact and marks it open.' },
      { verb: 'void', method: 'POST', summary: 'Void an invoice', description: 'Cancels an issued invoice; it stays on record as void.', body: reason },
      { verb: 'pdf', method: 'GET', summary: 'Download an invoice as PDF', description: 'The printable invoice document.' },
      { verb: 'remind', method: 'POST', summary: 'Send a payment reminder', description: 'Reminds the client of an unpaid or overdue invoice.' },
    ],
    children: [
      { segment: 'line-items', singular: 'line item', schemaRef: 'LineItem', ops: ['list', 'create', 'delete'] },
      { segment: 'payments', singular: 'payment', schemaRef: 'Payment', ops: ['list', 'create'] },
    ],
  },
  {
    plural: 'payments', singular: 'payment', tag: 'Payments', noun: 'payment',
    description: 'Money received from a client.',
    idempotent: true,
    fields: [
      { name: 'invoice_id', schema: uuid('The invoice paid.'), required: true },
      { name: 'amount', schema: money('Amount received.'), required: true },
      { name: 'method', schema: str('How it was paid.', { enum: ['card', 'transfer', 'cash', 'cheque'] }) },
      { name: 'received_on', schema: str('Date received.', { format: 'date' }) },
    ],
    actions: [{ verb: 'refund', method: 'POST', summary: 'Refund a payment', description: 'Returns a payment (fully or partly) to the client.', body: { type: 'object', properties: { amount: money('Amount to refund; default all.') } } }],
  },
  {
    plural: 'quotes', singular: 'quote', tag: 'Quotes', noun: 'quote',
    description: 'A price offer to a client.',
    statuses: ['draft', 'sent', 'accepted', 'declined', 'expired'],
    fields: [
      { name: 'client_id', schema: uuid('The client.'), required: true },
      { name: 'title', schema: str('What is offered.'), required: true },
      { name: 'valid_until', schema: str('Offer expiry.', { format: 'date' }) },
      { name: 'total', schema: money('Offer total.'), readOnly: true },
    ],
    actions: [
      { verb: 'send', method: 'POST', summary: 'Send a quote', description: 'E-mails the quote to the client.' },
      { verb: 'accept', method: 'POST', summary: 'Accept a quote', description: 'Records the client acceptance of the quote.' },
      { verb: 'decline', method: 'POST', summary: 'Decline a quote', description: 'Records that the client declined the quote.', body: reason },
      { verb: 'convert', method: 'POST', summary: 'Convert a quote to an invoice', description: 'Creates a draft invoice from an accepted quote.' },
    ],
  },
  {
    plural: 'products', singular: 'product', tag: 'Products', noun: 'product',
    description: 'Something sold: hardware, licences or services.',
    fields: [
      { name: 'name', schema: str('Product name.'), required: true },
      { name: 'sku', schema: str('Stock keeping unit.') },
      { name: 'price', schema: money('Unit price.'), required: true },
      { name: 'taxable', schema: bool('Whether tax applies.') },
    ],
  },
  {
    plural: 'projects', singular: 'project', tag: 'Projects', noun: 'project',
    description: 'A piece of planned work for a client.',
    statuses: ['planned', 'active', 'on_hold', 'completed'],
    fields: [
      { name: 'name', schema: str('Project name.'), required: true },
      { name: 'client_id', schema: uuid('The client.'), required: true },
      { name: 'budget_hours', schema: int('Budgeted hours.', { minimum: 0 }) },
      { name: 'due_on', schema: str('Deadline.', { format: 'date' }) },
    ],
    actions: [{ verb: 'complete', method: 'POST', summary: 'Complete a project', description: 'Marks the project completed.' }],
    children: [
      { segment: 'tasks', singular: 'task', schemaRef: 'Task', ops: ['list', 'create'] },
      { segment: 'members', singular: 'member', schemaRef: 'Membership', ops: ['list', 'create', 'delete'] },
    ],
  },
  {
    plural: 'tasks', singular: 'task', tag: 'Tasks', noun: 'task',
    description: 'A to-do item, optionally part of a project.',
    statuses: ['todo', 'in_progress', 'done'],
    fields: [
      { name: 'title', schema: str('What to do.'), required: true },
      { name: 'project_id', schema: { ...uuid('The project.'), nullable: true } },
      { name: 'assignee_id', schema: uuid('Who does it.') },
      { name: 'due_on', schema: str('Deadline.', { format: 'date' }) },
    ],
    actions: [
      { verb: 'complete', method: 'POST', summary: 'Complete a task', description: 'Marks the task done.' },
      { verb: 'reopen', method: 'POST', summary: 'Reopen a task', description: 'Marks a done task as to-do again.' },
    ],
  },
  {
    plural: 'time-entries', singular: 'time entry', tag: 'Time Entries', noun: 'time entry',
    description: 'Time a technician worked, billable or not.',
    statuses: ['draft', 'submitted', 'approved', 'rejected'],
    fields: [
      { name: 'user_id', schema: uuid('Who worked.'), required: true },
      { name: 'ticket_id', schema: { ...uuid('The ticket worked on.'), nullable: true } },
      { name: 'minutes', schema: int('Duration in minutes.', { minimum: 1, maximum: 1440 }), required: true },
      { name: 'billable', schema: bool('Whether the client is billed.') },
      { name: 'notes', schema: str('What was done.') },
    ],
    actions: [
      { verb: 'approve', method: 'POST', summary: 'Approve a time entry', description: 'Approves submitted time for billing and payroll.' },
      { verb: 'reject', method: 'POST', summary: 'Reject a time entry', description: 'Sends submitted time back to its author.', body: reason },
    ],
  },
  {
    plural: 'users', singular: 'user', tag: 'Users', noun: 'user',
    description: 'A member of staff (technician, dispatcher, manager).',
    statuses: ['active', 'deactivated'],
    fields: [
      { name: 'name', schema: str('Full name.'), required: true },
      { name: 'email', schema: str('Login e-mail.', { format: 'email' }), required: true },
      { name: 'title', schema: str('Job title.') },
    ],
    actions: [
      { verb: 'deactivate', method: 'POST', summary: 'Deactivate a user', description: 'Blocks sign-in and unassigns open work.' },
      { verb: 'reset-password', method: 'POST', summary: 'Reset a user password', description: 'Sends the user a password reset link.' },
    ],
    children: [{ segment: 'roles', singular: 'role', schemaRef: 'RoleAssignment', ops: ['list', 'create', 'delete'] }],
  },
  {
    plural: 'teams', singular: 'team', tag: 'Teams', noun: 'team',
    description: 'A group of users that share a queue.',
    fields: [
      { name: 'name', schema: str('Team name.'), required: true },
      { name: 'lead_id', schema: uuid('Team lead.') },
    ],
    children: [{ segment: 'members', singular: 'member', schemaRef: 'Membership', ops: ['list', 'create', 'delete'] }],
  },
  {
    plural: 'articles', singular: 'article', tag: 'Knowledge Base', noun: 'knowledge base article',
    description: 'A how-to or troubleshooting article.',
    statuses: ['draft', 'published', 'archived'],
    fields: [
      { name: 'title', schema: str('Article title.'), required: true },
      { name: 'body', schema: str('Markdown body.'), required: true },
      { name: 'category_id', schema: uuid('Category.') },
    ],
    actions: [
      { verb: 'publish', method: 'POST', summary: 'Publish an article', description: 'Makes the article visible in the portal.' },
      { verb: 'unpublish', method: 'POST', summary: 'Unpublish an article', description: 'Hides the article from the portal.' },
    ],
    children: [{ segment: 'versions', singular: 'version', schemaRef: 'ArticleVersion', ops: ['list'] }],
  },
  {
    plural: 'categories', singular: 'category', tag: 'Knowledge Base', noun: 'knowledge base category',
    description: 'A category of articles; categories nest.',
    fields: [
      { name: 'name', schema: str('Category name.'), required: true },
      { name: 'parent_id', schema: { ...uuid('Parent category.'), nullable: true } },
    ],
    actions: [{ verb: 'tree', method: 'GET', summary: 'Get a category tree', description: 'The category with all nested sub-categories.' }],
  },
  {
    plural: 'alerts', singular: 'alert', tag: 'Alerts', noun: 'monitoring alert',
    description: 'A problem detected by device monitoring.',
    statuses: ['open', 'acknowledged', 'resolved'],
    fields: [
      { name: 'asset_id', schema: uuid('The device.'), required: true },
      { name: 'severity', schema: str('Severity.', { enum: ['info', 'warning', 'critical'] }), required: true },
      { name: 'message', schema: str('What was detected.'), required: true },
    ],
    actions: [
      { verb: 'acknowledge', method: 'POST', summary: 'Acknowledge an alert', description: 'Tells the team someone is looking at it.' },
      { verb: 'resolve', method: 'POST', summary: 'Resolve an alert', description: 'Marks the alert resolved.' },
      { verb: 'snooze', method: 'POST', summary: 'Snooze an alert', description: 'Silences the alert for a while.', body: { type: 'object', required: ['minutes'], properties: { minutes: int('How long.', { minimum: 5, maximum: 10080 }) } } },
      { verb: 'create-ticket', method: 'POST', summary: 'Create a ticket from an alert', description: 'Opens a ticket pre-filled from the alert.' },
    ],
  },
  {
    plural: 'scripts', singular: 'script', tag: 'Automation', noun: 'automation script',
    description: 'A script that can run on managed devices.',
    fields: [
      { name: 'name', schema: str('Script name.'), required: true },
      { name: 'language', schema: str('Interpreter.', { enum: ['powershell', 'bash', 'python'] }), required: true },
      { name: 'source', schema: str('Source code.'), required: true },
    ],
    children: [{ segment: 'runs', singular: 'run', schemaRef: 'ScriptRun', ops: ['list'] }],
  },
  {
    plural: 'vendors', singular: 'vendor', tag: 'Vendors', noun: 'vendor',
    description: 'A supplier the business buys from.',
    fields: [
      { name: 'name', schema: str('Vendor name.'), required: true },
      { name: 'email', schema: str('Orders e-mail.', { format: 'email' }) },
    ],
  },
  {
    plural: 'purchase-orders', singular: 'purchase order', tag: 'Purchasing', noun: 'purchase order',
    description: 'An order placed with a vendor.',
    statuses: ['draft', 'approved', 'ordered', 'received', 'cancelled'],
    fields: [
      { name: 'vendor_id', schema: uuid('The vendor.'), required: true },
      { name: 'client_id', schema: uuid('The client the goods are for.') },
      { name: 'total', schema: money('Order total.'), readOnly: true },
    ],
    actions: [
      { verb: 'approve', method: 'POST', summary: 'Approve a purchase order', description: 'Approves spending for the order.' },
      { verb: 'receive', method: 'POST', summary: 'Receive a purchase order', description: 'Records delivery of the ordered goods.' },
    ],
  },
  {
    plural: 'expenses', singular: 'expense', tag: 'Expenses', noun: 'expense',
    description: 'A cost incurred by staff, optionally billed to a client.',
    statuses: ['submitted', 'approved', 'reimbursed'],
    fields: [
      { name: 'user_id', schema: uuid('Who spent it.'), required: true },
      { name: 'amount', schema: money('Amount.'), required: true },
      { name: 'description', schema: str('What for.'), required: true },
    ],
    actions: [{ verb: 'approve', method: 'POST', summary: 'Approve an expense', description: 'Approves an expense for reimbursement.' }],
  },
  {
    plural: 'appointments', singular: 'appointment', tag: 'Calendar', noun: 'appointment',
    description: 'A scheduled visit or call.',
    fields: [
      { name: 'title', schema: str('Title.'), required: true },
      { name: 'starts_at', schema: date('Start.'), required: true },
      { name: 'ends_at', schema: date('End.'), required: true },
      { name: 'user_id', schema: uuid('Who attends.') },
      { name: 'ticket_id', schema: { ...uuid('Related ticket.'), nullable: true } },
    ],
    actions: [{ verb: 'reschedule', method: 'POST', summary: 'Reschedule an appointment', description: 'Moves the appointment to a new time.', body: { type: 'object', required: ['starts_at', 'ends_at'], properties: { starts_at: date('New start.'), ends_at: date('New end.') } } }],
  },
  {
    plural: 'webhooks', singular: 'webhook', tag: 'Webhooks', noun: 'webhook subscription',
    description: 'An outgoing event subscription.',
    fields: [
      { name: 'url', schema: str('Where events are posted.', { format: 'uri' }), required: true },
      { name: 'events', schema: { type: 'array', items: str('Event name.'), minItems: 1, description: 'Subscribed events.' }, required: true },
      { name: 'active', schema: bool('Whether deliveries are sent.') },
    ],
    actions: [{ verb: 'test', method: 'POST', summary: 'Send a test event', description: 'Posts a sample event to the webhook URL.' }],
    children: [{ segment: 'deliveries', singular: 'delivery', schemaRef: 'WebhookDelivery', ops: ['list'] }],
  },
  {
    plural: 'service-level-agreements', singular: 'service level agreement', tag: 'SLAs', noun: 'SLA policy',
    description: 'Response and resolution targets.',
    fields: [
      { name: 'name', schema: str('Policy name.'), required: true },
      { name: 'response_minutes', schema: int('First response target.', { minimum: 1 }), required: true },
      { name: 'resolution_minutes', schema: int('Resolution target.', { minimum: 1 }), required: true },
    ],
  },
];

const REPORTS: readonly [string, string, string][] = [
  ['revenue', 'Revenue report', 'Invoiced and collected revenue per month.'],
  ['ticket-volume', 'Ticket volume report', 'Tickets opened and closed per day.'],
  ['sla-compliance', 'SLA compliance report', 'Share of tickets answered and resolved within target.'],
  ['utilization', 'Technician utilization report', 'Billable hours as a share of worked hours, per technician.'],
  ['aging', 'Accounts receivable aging report', 'Unpaid invoice totals by age bucket.'],
  ['profitability', 'Client profitability report', 'Revenue against cost per client.'],
];

const CHILD_SCHEMAS: Record<string, Schema> = {
  Comment: {
    type: 'object',
    required: ['body'],
    properties: {
      id: { ...uuid('Comment id.'), readOnly: true },
      body: str('Comment text.', { minLength: 1 }),
      internal: bool('Visible to staff only.'),
      author_id: { ...uuid('Author.'), readOnly: true },
      replies: { type: 'array', items: ref('Comment'), readOnly: true, description: 'Threaded replies.' },
    },
  },
  Attachment: { type: 'object', required: ['filename', 'content_base64'], properties: { id: { ...uuid('Attachment id.'), readOnly: true }, filename: str('File name.'), content_base64: str('File content.', { format: 'byte' }) } },
  TimeEntry: { type: 'object', required: ['minutes'], properties: { id: { ...uuid('Id.'), readOnly: true }, minutes: int('Duration in minutes.', { minimum: 1 }), notes: str('What was done.') } },
  Note: { type: 'object', required: ['body'], properties: { id: { ...uuid('Id.'), readOnly: true }, body: str('Note text.') } },
  Patch: { type: 'object', properties: { id: uuid('Id.'), title: str('Patch title.'), severity: str('Severity.'), installed: bool('Installed.') } },
  Alert: { type: 'object', properties: { id: uuid('Id.'), severity: str('Severity.'), message: str('Message.') } },
  ContractService: { type: 'object', required: ['product_id'], properties: { id: { ...uuid('Id.'), readOnly: true }, product_id: uuid('The product.'), quantity: int('Quantity.', { minimum: 1 }) } },
  LineItem: { type: 'object', required: ['description', 'quantity', 'unit_price'], properties: { id: { ...uuid('Id.'), readOnly: true }, description: str('What is billed.'), quantity: { type: 'number', minimum: 0 }, unit_price: ref('Money') } },
  Payment: { type: 'object', required: ['amount'], properties: { id: { ...uuid('Id.'), readOnly: true }, amount: ref('Money'), method: str('How it was paid.', { enum: ['card', 'transfer', 'cash', 'cheque'] }) } },
  Task: { type: 'object', required: ['title'], properties: { id: { ...uuid('Id.'), readOnly: true }, title: str('What to do.') } },
  Membership: { type: 'object', required: ['user_id'], properties: { user_id: uuid('The user.'), role: str('Role in the group.') } },
  RoleAssignment: { type: 'object', required: ['role'], properties: { role: str('Role name.', { enum: ['technician', 'dispatcher', 'manager', 'admin', 'billing'] }) } },
  ArticleVersion: { type: 'object', properties: { version: int('Version number.'), edited_at: date('Edited.'), editor_id: uuid('Editor.') } },
  ScriptRun: { type: 'object', properties: { id: uuid('Run id.'), asset_id: uuid('Device.'), exit_code: { ...int('Exit code.'), nullable: true }, output: str('Output.') } },
  WebhookDelivery: { type: 'object', properties: { id: uuid('Delivery id.'), event: str('Event.'), status_code: int('HTTP status answered.'), delivered_at: date('When.') } },
  CategoryTree: {
    type: 'object',
    properties: { id: uuid('Category id.'), name: str('Name.'), children: { type: 'array', items: ref('CategoryTree') } },
  },
};

function entitySchemas(resource: Resource): Record<string, Schema> {
  const name = pascal(resource.singular.replace(/ /g, '-'));
  const properties: Record<string, Schema> = { id: { ...uuid(`The ${resource.noun} id.`), readOnly: true } };
  const writable: Record<string, Schema> = {};
  for (const field of resource.fields) {
    const schema = field.readOnly ? { ...field.schema, readOnly: true } : field.schema;
    properties[field.name] = schema;
    if (!field.readOnly) writable[field.name] = field.schema;
  }
  if (resource.statuses) properties.status = str(`Lifecycle state of the ${resource.noun}.`, { enum: [...resource.statuses], readOnly: true });
  properties.created_at = { ...date('Created.'), readOnly: true };
  properties.updated_at = { ...date('Last changed.'), readOnly: true };
  const required = resource.fields.filter((f) => f.required && !f.readOnly).map((f) => f.name);
  return {
    [name]: { type: 'object', description: resource.description, properties },
    [`${name}Input`]: { type: 'object', description: `A new ${resource.noun}.`, required, properties: writable, additionalProperties: false },
    [`${name}Patch`]: { type: 'object', description: `Changes to a ${resource.noun}; only the fields given change.`, properties: writable, additionalProperties: false, minProperties: 1 },
    [`${name}Page`]: { type: 'object', properties: { data: { type: 'array', items: ref(name) }, meta: ref('PageMeta') } },
  };
}

const ok = (schema: Schema, description = 'OK'): Schema => ({ description, content: { 'application/json': { schema } } });
const errors = { '400': { $ref: '#/components/responses/BadRequest' }, '401': { $ref: '#/components/responses/Unauthorized' } };
const notFound = { '404': { $ref: '#/components/responses/NotFound' } };
const idParam = (name: string): Schema => ({ name, in: 'path', required: true, description: 'The id.', schema: { type: 'string', format: 'uuid' } });
const jsonBody = (schema: Schema, required = true): Schema => ({ required, content: { 'application/json': { schema } } });

/** Builds the document. */
export function generateOpenApi(): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  const schemas: Record<string, Schema> = {
    Money: { type: 'object', required: ['amount', 'currency'], properties: { amount: { type: 'string', pattern: '^-?\\d+(\\.\\d{1,2})?$', description: 'Decimal amount.' }, currency: str('ISO 4217 code.', { pattern: '^[A-Z]{3}$' }) } },
    Address: { type: 'object', properties: { line1: str('Street.'), line2: { ...str('More.'), nullable: true }, city: str('City.'), postcode: str('Post code.'), country: str('ISO country code.', { minLength: 2, maxLength: 2 }) } },
    PageMeta: { type: 'object', properties: { page: int('Page number.'), limit: int('Page size.'), total: int('Matching items.') } },
    Error: { type: 'object', required: ['error'], properties: { error: { type: 'object', properties: { code: str('Stable code.'), message: str('What went wrong.') } } } },
    Job: { type: 'object', properties: { id: uuid('Job id.'), state: str('Job state.', { enum: ['queued', 'running', 'done', 'failed'] }) } },
    Report: { type: 'object', properties: { name: str('Report.'), rows: { type: 'array', items: { type: 'object', additionalProperties: true } } } },
    ...CHILD_SCHEMAS,
  };
  const add = (path: string, method: string, operation: Record<string, unknown>): void => {
    (paths[path] ??= {})[method.toLowerCase()] = operation;
  };

  for (const resource of RESOURCES) {
    const entity = pascal(resource.singular.replace(/ /g, '-'));
    const entityPlural = pascal(resource.plural);
    Object.assign(schemas, entitySchemas(resource));
    const collection = `/${resource.plural}`;
    const item = `${collection}/{${camel(resource.singular.replace(/ /g, '-'))}Id}`;
    const itemParam = camel(resource.singular.replace(/ /g, '-')) + 'Id';
    const tags = [resource.tag];
    const filters: Schema[] = [
      { $ref: '#/components/parameters/Page' },
      { $ref: '#/components/parameters/Limit' },
      { $ref: '#/components/parameters/Search' },
      ...(resource.statuses ? [{ name: 'status', in: 'query', description: `Only ${resource.plural.replace(/-/g, ' ')} in this state (e.g. ${resource.statuses[1] ?? resource.statuses[0]}).`, schema: { type: 'string', enum: [...resource.statuses] } }] : []),
      ...(resource.filters ?? []).map((f) => ({ name: f.name, in: 'query', description: (f.schema as { description?: string }).description, schema: f.schema })),
    ];
    add(collection, 'GET', {
      operationId: `list${entityPlural}`, tags, summary: `List ${resource.noun.endsWith('y') ? resource.noun.slice(0, -1) + 'ies' : resource.noun + 's'}`,
      description: `Returns a page of ${resource.plural.replace(/-/g, ' ')}, newest first. ${resource.description}`,
      parameters: filters, responses: { '200': ok(ref(`${entity}Page`)), ...errors },
    });
    add(collection, 'POST', {
      operationId: `create${entity}`, tags, summary: `Create a ${resource.noun}`, description: `Creates a ${resource.noun}. ${resource.description}`,
      ...(resource.idempotent ? { parameters: [{ $ref: '#/components/parameters/IdempotencyKey' }] } : {}),
      requestBody: jsonBody(ref(`${entity}Input`)), responses: { '201': ok(ref(entity), 'Created'), ...errors },
    });
    add(item, 'GET', {
      operationId: `get${entity}`, tags, summary: `Get a ${resource.noun}`, description: `Returns one ${resource.noun} by id.`,
      parameters: [idParam(itemParam)], responses: { '200': ok(ref(entity)), ...errors, ...notFound },
    });
    add(item, 'PATCH', {
      operationId: `update${entity}`, tags, summary: `Update a ${resource.noun}`, description: `Changes some fields of a ${resource.noun}.`,
      parameters: [idParam(itemParam)], requestBody: jsonBody(ref(`${entity}Patch`)), responses: { '200': ok(ref(entity)), ...errors, ...notFound },
    });
    add(item, 'DELETE', {
      operationId: `delete${entity}`, tags, summary: `Delete a ${resource.noun}`, description: `Permanently deletes a ${resource.noun}.`,
      parameters: [idParam(itemParam)], responses: { '204': { description: 'Deleted' }, ...errors, ...notFound },
    });
    for (const action of resource.actions ?? []) {
      const path = `${item}/${action.verb}`;
      const operation: Record<string, unknown> = {
        operationId: action.method === 'GET' ? `get${entity}${pascal(action.verb)}` : `${camel(action.verb)}${entity}`, tags, summary: action.summary, description: action.description,
        parameters: [idParam(itemParam)],
        responses: action.verb === 'pdf'
          ? { '200': { description: 'The PDF', content: { 'application/pdf': { schema: { type: 'string', format: 'binary' } } } }, ...errors, ...notFound }
          : { '200': ok(action.verb === 'tree' ? ref('CategoryTree') : action.method === 'GET' ? { type: 'object', additionalProperties: true } : ref(entity)), ...errors, ...notFound },
      };
      if (action.body) operation.requestBody = jsonBody(action.body, Array.isArray(action.body.required));
      add(path, action.method, operation);
    }
    for (const child of resource.children ?? []) {
      const childEntity = pascal(child.singular.replace(/ /g, '-'));
      const childPath = `${item}/${child.segment}`;
      const childPlural = pascal(child.segment);
      for (const op of child.ops) {
        if (op === 'list') {
          add(childPath, 'GET', {
            operationId: `list${entity}${childPlural}`, tags, summary: `List the ${child.segment.replace(/-/g, ' ')} of a ${resource.noun}`,
            description: `Returns the ${child.segment.replace(/-/g, ' ')} of one ${resource.noun}.`,
            parameters: [idParam(itemParam), { $ref: '#/components/parameters/Page' }, { $ref: '#/components/parameters/Limit' }],
            responses: { '200': ok({ type: 'object', properties: { data: { type: 'array', items: ref(child.schemaRef) }, meta: ref('PageMeta') } }), ...errors, ...notFound },
          });
        } else if (op === 'create') {
          add(childPath, 'POST', {
            operationId: `add${entity}${childEntity}`, tags, summary: `Add a ${child.singular} to a ${resource.noun}`,
            description: `Adds a ${child.singular} to one ${resource.noun}.`,
            parameters: [idParam(itemParam)], requestBody: jsonBody(ref(child.schemaRef)), responses: { '201': ok(ref(child.schemaRef), 'Created'), ...errors, ...notFound },
          });
        } else {
          add(`${childPath}/{${camel(child.singular.replace(/ /g, '-'))}Id}`, 'DELETE', {
            operationId: `remove${entity}${childEntity}`, tags, summary: `Remove a ${child.singular} from a ${resource.noun}`,
            description: `Removes one ${child.singular} of a ${resource.noun}.`,
            parameters: [idParam(itemParam), idParam(`${camel(child.singular.replace(/ /g, '-'))}Id`)], responses: { '204': { description: 'Removed' }, ...errors, ...notFound },
          });
        }
      }
    }
  }
  for (const [name, summary, description] of REPORTS) {
    add(`/reports/${name}`, 'GET', {
      operationId: `get${pascal(name)}Report`, tags: ['Reports'], summary, description,
      parameters: [
        { name: 'from', in: 'query', required: true, description: 'First day.', schema: { type: 'string', format: 'date' } },
        { name: 'to', in: 'query', required: true, description: 'Last day.', schema: { type: 'string', format: 'date' } },
        { name: 'client_id', in: 'query', description: 'Only this client.', schema: { type: 'string', format: 'uuid' } },
      ],
      responses: { '200': ok(ref('Report')), ...errors },
    });
  }
  add('/search', 'GET', {
    operationId: 'globalSearch', tags: ['Search'], summary: 'Search everything', description: 'Full-text search across tickets, clients, contacts, assets and articles.',
    parameters: [{ name: 'q', in: 'query', required: true, schema: { type: 'string', minLength: 2 } }, { $ref: '#/components/parameters/Limit' }],
    responses: { '200': ok({ type: 'object', properties: { results: { type: 'array', items: { type: 'object', properties: { kind: { type: 'string' }, id: { type: 'string' }, title: { type: 'string' } } } } } }), ...errors },
  });
  add('/jobs/{jobId}', 'GET', {
    operationId: 'getJob', tags: ['Automation'], summary: 'Get a background job', description: 'State of an asynchronous job (a script run, a bulk change).',
    parameters: [idParam('jobId')], responses: { '200': ok(ref('Job')), ...errors, ...notFound },
  });
  add('/me', 'GET', {
    operationId: 'getCurrentUser', tags: ['Users'], summary: 'Get the signed-in user', description: 'The user the request acts for.',
    responses: { '200': ok(ref('User')), ...errors },
  });
  add('/settings', 'GET', { operationId: 'getSettings', tags: ['Settings'], summary: 'Get account settings', description: 'Business name, time zone, currency and defaults.', responses: { '200': ok({ type: 'object', additionalProperties: true }), ...errors } });
  add('/settings', 'PATCH', {
    operationId: 'updateSettings', tags: ['Settings'], summary: 'Update account settings', description: 'Changes business settings.',
    requestBody: jsonBody({ type: 'object', minProperties: 1, properties: { business_name: { type: 'string' }, timezone: { type: 'string' }, currency: { type: 'string', pattern: '^[A-Z]{3}$' } }, additionalProperties: false }),
    responses: { '200': ok({ type: 'object', additionalProperties: true }), ...errors },
  });

  return {
    openapi: '3.0.3',
    info: { title: 'Service Desk API', version: '2.4.0', description: 'Tickets, clients, billing, devices and projects of a managed-services business.' },
    servers: [{ url: 'https://desk.example.com/api/{version}', variables: { version: { default: 'v2' } } }],
    tags: [...new Set(RESOURCES.map((r) => r.tag)), 'Reports', 'Search', 'Settings'].map((name) => ({ name })),
    paths,
    components: {
      schemas,
      parameters: {
        Page: { name: 'page', in: 'query', description: 'Page number, from 1.', schema: { type: 'integer', minimum: 1, default: 1 } },
        Limit: { name: 'limit', in: 'query', description: 'Items per page.', schema: { type: 'integer', minimum: 1, maximum: 100, default: 25 } },
        Search: { name: 'q', in: 'query', description: 'Free-text filter.', schema: { type: 'string' } },
        IdempotencyKey: { name: 'Idempotency-Key', in: 'header', description: 'Makes retries safe: a repeated key returns the first result.', schema: { type: 'string', minLength: 8, maxLength: 64 } },
      },
      responses: {
        BadRequest: { description: 'The request is invalid.', content: { 'application/json': { schema: ref('Error') } } },
        Unauthorized: { description: 'Not signed in.', content: { 'application/json': { schema: ref('Error') } } },
        NotFound: { description: 'No such item.', content: { 'application/json': { schema: ref('Error') } } },
      },
    },
  };
}

/** Number of operations in a document. */
export function countOperations(document: Record<string, unknown>): number {
  const methods = new Set(['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace']);
  return Object.values(document.paths as Record<string, Record<string, unknown>>).reduce((n, item) => n + Object.keys(item).filter((k) => methods.has(k)).length, 0);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const document = generateOpenApi();
  const out = process.argv[2];
  const text = out?.endsWith('.json') ? JSON.stringify(document, null, 2) + '\n' : stringify(document, { lineWidth: 0 });
  if (out) {
    writeFileSync(out, text);
    process.stderr.write(`${countOperations(document)} operations written to ${out}\n`);
  } else {
    process.stdout.write(text);
  }
}
