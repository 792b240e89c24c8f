import type { AuditEntry } from './api.js';

/** Names of the tenant's objects by id, to name what an audit row is about. */
export interface AuditNames {
  readonly agents: ReadonlyMap<string, string>;
  readonly roles: ReadonlyMap<string, string>;
  readonly idps: ReadonlyMap<string, string>;
}

/** The page an object of an admin change lives on, and its id. */
export interface AuditObject {
  readonly page: 'agents' | 'roles' | 'idps';
  readonly id: string;
  readonly name: string;
}

type Details = Record<string, unknown>;
type Change = { from?: unknown; to?: unknown };

const KINDS: Readonly<Record<string, { noun: string; page: AuditObject['page'] }>> = {
  agents: { noun: 'agent', page: 'agents' },
  roles: { noun: 'role', page: 'roles' },
  'idp-providers': { noun: 'identity provider', page: 'idps' },
};

const VERBS: Readonly<Record<string, string>> = {
  create: 'created',
  update: 'changed',
  delete: 'deleted',
  deactivate: 'deactivated',
  reactivate: 'reactivated',
  activate: 'activated',
};

const FIELD_NAMES: Readonly<Record<string, string>> = {
  name: 'name',
  description: 'description',
  contact: 'owner',
  idpId: 'identity provider',
  issuer: 'issuer',
  subject: 'identifier',
  audience: 'audience',
  discoveryUrl: 'discovery URL',
  jwksUri: 'JWKS URL',
  subjectClaim: 'identifier claim',
  allowedAlgorithms: 'algorithms',
  clockSkewSeconds: 'clock skew',
  tokenType: 'token type',
  active: 'active',
};

const details = (entry: AuditEntry): Details => (entry.details && typeof entry.details === 'object' ? (entry.details as Details) : {});
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.map(String) : []);

/** `+added −removed` between two lists, named through `name`. */
function listChange(change: Change, name: (value: string) => string = (value) => value): string {
  const from = strings(change.from);
  const to = strings(change.to);
  const added = to.filter((value) => !from.includes(value)).map((value) => `+${name(value)}`);
  const removed = from.filter((value) => !to.includes(value)).map((value) => `−${name(value)}`);
  return [...added, ...removed].join(' ');
}

const shown = (value: unknown): string => (value === null || value === undefined || value === '' ? 'none' : Array.isArray(value) ? value.join(', ') : String(value));

/** What an update changed, in short: `+tickets:write`, `roles +Ticket triage`, `name Old → New`. */
function changes(kind: string, changed: Details, names: AuditNames): string {
  const parts: string[] = [];
  for (const [field, raw] of Object.entries(changed)) {
    const change = (raw ?? {}) as Change;
    if (field === 'permissions') parts.push(listChange(change));
    else if (field === 'roleIds') parts.push(`roles ${listChange(change, (id) => names.roles.get(id) ?? 'a deleted role')}`);
    else if (field === 'active') continue;
    else if (field === 'idpId') parts.push(`identity provider ${names.idps.get(String(change.from)) ?? shown(change.from)} → ${names.idps.get(String(change.to)) ?? shown(change.to)}`);
    else if (field === 'description' || (kind === 'idp-providers' && field === 'issuer')) parts.push(`${FIELD_NAMES[field] ?? field} changed`);
    else parts.push(`${FIELD_NAMES[field] ?? field} ${shown(change.from)} → ${shown(change.to)}`);
  }
  return parts.filter(Boolean).join('; ');
}

/** The object an admin change is about (with a link target), when the row names one. */
export function auditObject(entry: AuditEntry, names: AuditNames): AuditObject | undefined {
  const [kind] = entry.action.split('.');
  const spec = KINDS[kind ?? ''];
  if (!spec || entry.decision !== 'admin') {
    if (entry.agentId) return { page: 'agents', id: entry.agentId, name: names.agents.get(entry.agentId) ?? entry.principal.label ?? 'agent' };
    return undefined;
  }
  const data = details(entry);
  const id = entry.action.startsWith('agents.keys.') ? String(data.agentId ?? '') : (entry.target ?? '');
  if (!id) return undefined;
  const lookup = spec.page === 'agents' ? names.agents : spec.page === 'roles' ? names.roles : names.idps;
  return { page: spec.page, id, name: lookup.get(id) ?? (typeof data.name === 'string' && !entry.action.startsWith('agents.keys.') ? data.name : 'a deleted object') };
}

/** Someone's name in a sentence. */
function who(entry: AuditEntry, names: AuditNames): string {
  if (entry.agentId && names.agents.has(entry.agentId)) return names.agents.get(entry.agentId)!;
  return entry.principal.label ?? entry.principal.id ?? 'Someone';
}

/** A governed call's outcome after its dash: "allowed", "denied: missing tickets:write". */
function verdict(entry: AuditEntry): string {
  const reason = entry.reason?.replace(/^missing permission /, 'missing ');
  if (entry.decision === 'denied') return `denied${reason ? `: ${reason}` : ''}`;
  if (entry.decision === 'needs-approval') return `waiting for approval${reason ? `: ${reason}` : ''}`;
  if (entry.outcome === 'error') return 'allowed, but it failed';
  return entry.decision;
}

const CALLS: Readonly<Record<string, string>> = {
  'tools/call': 'called',
  'resources/read': 'read resource',
  'resources/subscribe': 'subscribed to resource',
  'prompts/get': 'got prompt',
  'completion/complete': 'asked for completions of',
};

/** One audit row as a sentence an auditor reads. */
export function auditSentence(entry: AuditEntry, names: AuditNames): string {
  const data = details(entry);
  const actor = who(entry, names);
  if (entry.action === 'admin-ui.sign-in') return `${actor} signed in to the admin UI`;
  if (entry.action === 'admin-ui.sign-out') return `${actor} signed out of the admin UI`;
  if (entry.action === 'audit.export') {
    const count = typeof data.entries === 'number' ? `${data.entries} ${data.entries === 1 ? 'entry' : 'entries'}` : 'entries';
    const format = typeof data.format === 'string' ? ` as ${data.format.toUpperCase()}` : '';
    if (entry.outcome === 'success') return `${actor} exported the audit trail${format} (${count})`;
    return `${actor} exported the audit trail${format}, incomplete: ${entry.outcome === 'failed' ? 'it failed' : 'the download stopped'} after ${count}`;
  }
  if (entry.decision === 'auth-failed') {
    const count = typeof data.count === 'number' && data.count > 1 ? ` (${data.count} times)` : '';
    return `A request to ${entry.target ?? 'the server'} was refused${count}: ${entry.reason ?? 'no valid credential'}`;
  }
  const call = CALLS[entry.action];
  if (call) return `${actor} ${call} ${entry.target ?? ''} — ${verdict(entry)}`;
  const parts = entry.action.split('.');
  const spec = KINDS[parts[0] ?? ''];
  if (spec && entry.decision === 'admin') {
    const object = auditObject(entry, names);
    const name = object?.name ?? 'an object';
    if (parts[1] === 'keys') {
      const key = typeof data.name === 'string' ? ` ${data.name}` : '';
      return parts[2] === 'create' ? `${actor} issued key${key} to agent ${name}` : `${actor} revoked a key of agent ${name}`;
    }
    const verb = VERBS[parts[1] ?? ''] ?? parts[1] ?? 'changed';
    let what = '';
    if (parts[1] === 'update' && data.changed && typeof data.changed === 'object') what = changes(parts[0]!, data.changed as Details, names);
    else if (parts[1] === 'create' && parts[0] === 'roles') what = listChange({ from: [], to: data.permissions });
    else if (parts[1] === 'create' && parts[0] === 'agents' && strings(data.roleIds).length) what = `roles ${listChange({ from: [], to: data.roleIds }, (id) => names.roles.get(id) ?? 'a deleted role')}`;
    return `${actor} ${verb} ${spec.noun} ${name}${what ? `: ${what}` : ''}`;
  }
  // Anything else (newer actions): who, what, on what, and the decision.
  return `${actor}: ${entry.action}${entry.target ? ` ${entry.target}` : ''} — ${entry.decision}`;
}
