import { inject, injectable } from 'inversify';
import type { Knex } from 'knex';
import { ApiKeyStore, ApiKeyVerifier, BackgroundWork, Database, Logger, safeLog, isUuid, unstorableText, type ApiKeyRecord, type LifecycleContribution } from '../../../core/index.js';
import { AGENT_KEY_SCOPE } from '../contracts.js';
import { CredentialCache } from './credential-cache.js';
import { IdentityConflictError, IdentityInputError, affectedRows, isForeignKeyViolation, isUniqueViolation } from './identity-errors.js';

/** An agent of one tenant, optionally bound to an identity at one of its providers. */
export interface Agent {
  readonly id: string;
  readonly tenant: string;
  readonly name: string;
  readonly description: string;
  /** Who to ask about the agent (its owner or contact), free text; '' when not given. */
  readonly contact: string;
  /** The provider whose tokens authenticate it, with the issuer and the subject-claim value. */
  readonly idpId: string | null;
  readonly issuer: string | null;
  readonly subject: string | null;
  readonly active: boolean;
  readonly createdBy: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly lastSeenAt: Date | null;
  /** Facts the admin sets for policies to read (`principal.getTag("board")`): names to strings. */
  readonly attributes: Readonly<Record<string, string>>;
}

export interface CreateAgentInput {
  readonly name: string;
  readonly description?: string;
  readonly contact?: string;
  /** Bind to this provider of the tenant … */
  readonly idpId?: string | null;
  /** … and this value of its subject claim (e.g. the client id in `azp`). Both or neither. */
  readonly subject?: string | null;
  readonly attributes?: Readonly<Record<string, string>>;
  readonly createdBy?: string | null;
}

export type UpdateAgentInput = Partial<Omit<CreateAgentInput, 'createdBy'>>;

interface AgentRow {
  id: string;
  tenant: string;
  name: string;
  description: string;
  contact: string;
  idp_id: string | null;
  issuer: string | null;
  subject: string | null;
  active: boolean;
  created_by: string | null;
  created_at: Date | string;
  updated_at: Date | string;
  last_seen_at: Date | string | null;
  attributes?: unknown;
}

const SEEN_INTERVAL_MS = 10_000;

function toAgent(row: AgentRow): Agent {
  return {
    id: row.id,
    tenant: row.tenant,
    name: row.name,
    description: row.description,
    contact: row.contact ?? '',
    idpId: row.idp_id,
    issuer: row.issuer,
    subject: row.subject,
    active: row.active,
    createdBy: row.created_by,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    lastSeenAt: row.last_seen_at === null ? null : new Date(row.last_seen_at),
    attributes: attributesOf(row.attributes),
  };
}

/** Most attributes an agent may carry, the form of their names, the longest value. */
export const MAX_AGENT_ATTRIBUTES = 50;
export const ATTRIBUTE_NAME = /^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/;
export const MAX_ATTRIBUTE_LENGTH = 1000;

/** The stored attributes as a string map (anything else is ignored). */
export function attributesOf(value: unknown): Record<string, string> {
  const parsed = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
  return Object.fromEntries(Object.entries(parsed).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}

function checkAttributes(value: unknown): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new IdentityInputError('attributes', 'attributes must be an object of names to text values, e.g. { "board": "support" }.');
  const entries = Object.entries(value);
  if (entries.length > MAX_AGENT_ATTRIBUTES) throw new IdentityInputError('attributes', `An agent may have at most ${MAX_AGENT_ATTRIBUTES} attributes.`);
  for (const [name, item] of entries) {
    if (!ATTRIBUTE_NAME.test(name)) throw new IdentityInputError('attributes', `Attribute name "${name}" is not valid: start with a letter or _, then letters, digits, _ . : - (at most 64).`);
    if (typeof item !== 'string') throw new IdentityInputError('attributes', `Attribute "${name}" must be text (a string).`);
    if (item.length > MAX_ATTRIBUTE_LENGTH) throw new IdentityInputError('attributes', `Attribute "${name}" is too long: at most ${MAX_ATTRIBUTE_LENGTH} characters.`);
  }
  return Object.fromEntries(entries) as Record<string, string>;
}

function checkName(value: unknown): string {
  if (typeof value !== 'string' || value.trim().length === 0 || value.trim().length > 200) throw new IdentityInputError('name', 'Enter a name of 1 to 200 characters.');
  return value.trim();
}

function checkDescription(value: unknown): string {
  if (typeof value !== 'string' || value.length > 2000) throw new IdentityInputError('description', 'description must be a string of at most 2000 characters.');
  return value;
}

function checkContact(value: unknown): string {
  if (typeof value !== 'string' || value.length > 200) throw new IdentityInputError('contact', 'The owner / contact is too long: at most 200 characters.');
  return value.trim();
}

const BINDING_CONFLICT = 'Another active agent of this tenant is already bound to this identity (same issuer and subject).';

/** The clash of a binding, naming the agent that holds it when it can be found. */
function bindingConflict(holder: Agent | undefined): IdentityConflictError {
  if (!holder) return new IdentityConflictError(BINDING_CONFLICT, 'subject');
  return new IdentityConflictError(`The agent "${holder.name}" is already bound to this identity (same identity provider and identifier): deactivate it first, or enter another identifier.`, 'subject');
}

/** The identity provider to bind is not (or no longer) the tenant's: refused on the field, as when it was never there. */
function idpGone(): IdentityInputError {
  return new IdentityInputError('idpId', 'This identity provider no longer exists: choose another one.');
}

/**
 * The tenant's agents (`agents`) and their API keys. Changes made here take effect at once on this
 * instance (cached credentials of the tenant are dropped); on other instances within the
 * credential cache lifetime.
 */
/** The background job that writes the batched `last_seen_at` of agents. */
export const AGENT_SEEN_JOB = 'ee.agents.last-seen';

@injectable()
export class AgentStore implements LifecycleContribution {
  private readonly seen = new Map<string, Date>();
  private seenTimer: NodeJS.Timeout | undefined;
  /** The times being written by a flush in progress (still the freshest this instance knows). */
  private flushing: Map<string, Date> | undefined;

  constructor(
    @inject(Database) private readonly db: Database,
    @inject(ApiKeyStore) private readonly keys: ApiKeyStore,
    @inject(ApiKeyVerifier) private readonly verifier: ApiKeyVerifier,
    @inject(CredentialCache) private readonly cache: CredentialCache,
    @inject(Logger) private readonly logger: Logger,
    @inject(BackgroundWork) private readonly work: BackgroundWork,
  ) {}

  /** Resolve and check a binding: the provider must be the tenant's; issuer comes from it. */
  private async binding(
    tenant: string,
    idpId: string | null | undefined,
    subject: string | null | undefined,
    trx?: Knex.Transaction,
  ): Promise<{ idp_id: string | null; issuer: string | null; subject: string | null }> {
    const hasIdp = idpId !== undefined && idpId !== null && idpId !== '';
    const hasSubject = subject !== undefined && subject !== null && subject !== '';
    if (!hasIdp && !hasSubject) return { idp_id: null, issuer: null, subject: null };
    if (!hasIdp) throw new IdentityInputError('idpId', 'Choose the identity provider this identifier belongs to.');
    if (!hasSubject) throw new IdentityInputError('subject', 'Enter the agent\'s identifier at this identity provider (the value of its subject claim, usually the client id).');
    if (typeof subject !== 'string' || subject.length > 500) throw new IdentityInputError('subject', 'The agent identifier is too long: at most 500 characters.');
    const idp = isUuid(idpId) ? await this.db.forTenant(tenant, trx).table('agent_idp_providers').where({ id: idpId }).first('id', 'issuer') : undefined;
    if (!idp) throw idpGone();
    return { idp_id: idpId, issuer: (idp as { issuer: string }).issuer, subject };
  }

  async create(tenant: string, input: CreateAgentInput): Promise<Agent> {
    const row = {
      name: checkName(input.name),
      description: input.description === undefined ? '' : checkDescription(input.description),
      contact: input.contact === undefined ? '' : checkContact(input.contact),
      attributes: JSON.stringify(input.attributes === undefined ? {} : checkAttributes(input.attributes)),
      ...(await this.binding(tenant, input.idpId, input.subject)),
      created_by: input.createdBy ?? null,
    };
    try {
      const [created] = await this.db.forTenant(tenant).insert<AgentRow>('agents', row);
      return toAgent(created!);
    } catch (error) {
      if (isUniqueViolation(error)) throw bindingConflict(row.issuer && row.subject ? await this.findActiveByBinding(tenant, row.issuer, row.subject) : undefined);
      // The provider was deleted between the check above and the insert.
      if (isForeignKeyViolation(error) && row.idp_id) throw idpGone();
      throw error;
    }
  }

  async list(tenant: string, filter: { active?: boolean; idpId?: string } = {}): Promise<Agent[]> {
    const rows = await this.db.read(() => {
      const query = this.db.forTenant(tenant).table<AgentRow>('agents').orderBy('created_at').orderBy('id');
      if (filter.active !== undefined) query.where('active', filter.active);
      if (filter.idpId !== undefined) query.where('idp_id', filter.idpId);
      return query;
    });
    return (rows as AgentRow[]).map(toAgent);
  }

  async get(tenant: string, id: string): Promise<Agent | undefined> {
    if (!isUuid(id)) return undefined;
    const row = (await this.db.read(() => this.db.forTenant(tenant).table<AgentRow>('agents').where({ id }).first())) as AgentRow | undefined;
    return row ? toAgent(row) : undefined;
  }

  /** The active agent bound to (tenant, issuer, subject), if any; read in `trx` when given. */
  async findActiveByBinding(tenant: string, issuer: string, subject: string, trx?: Knex.Transaction): Promise<Agent | undefined> {
    // No agent is bound to text PostgreSQL cannot hold (the admin API refuses it), so none can match.
    if (unstorableText(issuer) !== undefined || unstorableText(subject) !== undefined) return undefined;
    const query = () => this.db.forTenant(tenant, trx).table<AgentRow>('agents').where({ issuer, subject, active: true }).first();
    const row = (await (trx ? query() : this.db.read(query))) as AgentRow | undefined;
    return row ? toAgent(row) : undefined;
  }

  /**
   * Change an agent; `undefined` when the tenant has no such agent. In `trx` (with the agent's row
   * locked), so that a caller can change more in the same transaction: the caches are then cleared
   * once it has ended.
   */
  async update(tenant: string, id: string, patch: UpdateAgentInput, trx?: Knex.Transaction): Promise<Agent | undefined> {
    if (!isUuid(id)) return undefined;
    const current = trx ? await this.locked(tenant, id, trx) : await this.get(tenant, id);
    if (!current) return undefined;
    const changes: Record<string, unknown> = { updated_at: new Date() };
    if (patch.name !== undefined) changes.name = checkName(patch.name);
    if (patch.description !== undefined) changes.description = checkDescription(patch.description);
    if (patch.contact !== undefined) changes.contact = checkContact(patch.contact);
    if (patch.attributes !== undefined) changes.attributes = JSON.stringify(checkAttributes(patch.attributes));
    if (patch.idpId !== undefined || patch.subject !== undefined) {
      Object.assign(changes, await this.binding(tenant, patch.idpId === undefined ? current.idpId : patch.idpId, patch.subject === undefined ? current.subject : patch.subject, trx));
    }
    return this.write(tenant, id, changes, trx);
  }

  private async locked(tenant: string, id: string, trx: Knex.Transaction): Promise<Agent | undefined> {
    const row = (await this.db.forTenant(tenant, trx).table<AgentRow>('agents').where({ id }).forUpdate().first()) as AgentRow | undefined;
    return row ? toAgent(row) : undefined;
  }

  /** Deactivate: the agent's tokens and keys stop working (at once here, elsewhere within the cache lifetime). */
  deactivate(tenant: string, id: string): Promise<Agent | undefined> {
    return this.setActive(tenant, id, false);
  }

  /** Reactivate; refused if another active agent has taken the same binding meanwhile. */
  activate(tenant: string, id: string): Promise<Agent | undefined> {
    return this.setActive(tenant, id, true);
  }

  async setActive(tenant: string, id: string, active: boolean): Promise<Agent | undefined> {
    if (!isUuid(id)) return undefined;
    return this.write(tenant, id, { active, updated_at: new Date() });
  }

  private async write(tenant: string, id: string, changes: Record<string, unknown>, trx?: Knex.Transaction): Promise<Agent | undefined> {
    const update = async (t?: Knex.Transaction) => (await this.db.forTenant(tenant, t).table<AgentRow>('agents').where({ id }).update(changes).returning('*')) as AgentRow[];
    try {
      // In a savepoint of `trx`: a conflict leaves the transaction usable for the lookups below.
      const [row] = trx ? await trx.transaction((savepoint) => update(savepoint)) : await update();
      if (trx) trx.executionPromise.then(() => this.forget(tenant), () => this.forget(tenant));
      else this.forget(tenant);
      return row ? toAgent(row) : undefined;
    } catch (error) {
      // The provider being bound was deleted between its check and the write.
      if (isForeignKeyViolation(error) && changes.idp_id) throw idpGone();
      if (!isUniqueViolation(error)) throw error;
      const mine = trx ? await this.locked(tenant, id, trx) : await this.get(tenant, id);
      const issuer = (changes.issuer as string | null | undefined) ?? mine?.issuer;
      const subject = (changes.subject as string | null | undefined) ?? mine?.subject;
      throw bindingConflict(issuer && subject ? await this.findActiveByBinding(tenant, issuer, subject, trx) : undefined);
    }
  }

  /** Delete the agent with its keys and role assignments. Its audit rows stay. */
  async delete(tenant: string, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    const count = affectedRows(await this.db.forTenant(tenant).table('agents').where({ id }).delete());
    this.forget(tenant);
    return count > 0;
  }

  /** Issue an API key that authenticates as the agent. The secret is returned once. */
  async issueKey(tenant: string, agentId: string, input: { name: string; expiresAt?: Date | null; createdBy?: string | null }): Promise<{ key: ApiKeyRecord; secret: string } | undefined> {
    if (!(await this.get(tenant, agentId))) return undefined;
    try {
      return await this.keys.create({ tenant, name: input.name, scopes: [AGENT_KEY_SCOPE], expiresAt: input.expiresAt ?? null, createdBy: input.createdBy ?? null, extra: { agent_id: agentId } });
    } catch (error) {
      // The agent was deleted between the check above and the insert: no key was stored.
      if (isForeignKeyViolation(error)) return undefined;
      throw error;
    }
  }

  async listKeys(tenant: string, agentId: string): Promise<ApiKeyRecord[]> {
    if (!isUuid(agentId)) return [];
    return this.keys.list(tenant, { agent_id: agentId });
  }

  /** Revoke one of the agent's keys. Returns false when the agent has no such key. */
  async revokeKey(tenant: string, agentId: string, keyId: string): Promise<boolean> {
    const key = await this.keys.get(tenant, keyId);
    if (!key || key.extra.agent_id !== agentId) return false;
    await this.keys.revoke(tenant, keyId);
    this.forget(tenant);
    return true;
  }

  private forget(tenant: string): void {
    this.cache.invalidateTenant(tenant);
    this.verifier.invalidate();
  }

  /**
   * When the agent was last seen: the later of the stored time and a call noted on this instance
   * but not yet written (the write is batched), so an agent's first call shows within seconds.
   */
  lastSeen(agent: Agent): Date | null {
    const noted = this.seen.get(agent.id) ?? this.flushing?.get(agent.id);
    if (!noted) return agent.lastSeenAt;
    return !agent.lastSeenAt || noted > agent.lastSeenAt ? noted : agent.lastSeenAt;
  }

  /** Note that the agent was seen; written in batches off the request path. */
  markSeen(agentId: string): void {
    this.seen.set(agentId, new Date());
    this.seenTimer ??= setTimeout(() => void this.flushSeen(), SEEN_INTERVAL_MS).unref();
  }

  async flushSeen(): Promise<void> {
    if (this.seenTimer) clearTimeout(this.seenTimer);
    this.seenTimer = undefined;
    if (this.seen.size === 0) return;
    const at = new Date(Math.max(...[...this.seen.values()].map((date) => date.getTime())));
    const ids = [...this.seen.keys()];
    this.flushing = new Map(this.seen);
    this.seen.clear();
    try {
      // Under the fleet's advisory lock for this job (waiting for it): never two instances at once.
      await this.work.runSerialized(AGENT_SEEN_JOB, async (trx) => {
        await trx('agents').whereRaw('id = any(?::uuid[])', [ids]).update({ last_seen_at: trx.raw('greatest(last_seen_at, ?)', [at]) });
      });
    } catch (error) {
      safeLog(this.logger, 'warn', { err: error }, 'could not record agent activity');
    } finally {
      this.flushing = undefined;
    }
  }

  async stop(): Promise<void> {
    await this.flushSeen();
  }
}
