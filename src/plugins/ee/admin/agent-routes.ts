import { ArrayMaxSize, IsArray, IsObject, IsOptional, IsString, IsUUID, Length, MaxLength } from 'class-validator';
import { inject, injectable } from 'inversify';
import {
  Database,
  json,
  type ApiKeyRecord,
  type HttpResponse,
  type Principal,
  type RouteContribution,
  type RouteDefinition,
  type RouteRequest,
} from '../../../core/index.js';
import { AgentStore, type Agent } from '../identity/agent-store.js';
import { IdpProviderStore, type IdpProvider } from '../identity/idp-provider-store.js';
import { RoleStore, type Role } from '../rbac/role-store.js';
import { AdminGuard } from './admin-guard.js';
import { storeFailure } from './store-failure.js';
import { invalid, IsDateTime, notFound, Nullable, pathId, representableDate, validated } from './validation.js';

class AgentFieldsDto {
  @IsOptional() @IsString() @MaxLength(2000) description?: string;
  @IsOptional() @IsString() @MaxLength(200) contact?: string;
  /** `null` unbinds the agent from its identity provider (with `subject`). */
  @IsOptional() @Nullable() @IsUUID('all', { message: 'idpId must be an identity provider id (a UUID)' }) idpId?: string | null;
  @IsOptional() @Nullable() @IsString() @Length(1, 500) subject?: string | null;
  @IsOptional() @IsArray() @ArrayMaxSize(100) @IsUUID('all', { each: true, message: 'each of roleIds must be a role id (a UUID)' }) roleIds?: string[];
  /** Facts policies can read (`principal.getTag("board")`); checked by the store. */
  @IsOptional() @IsObject({ message: 'attributes must be an object of names to text values' }) attributes?: Record<string, string>;
}

export class CreateAgentDto extends AgentFieldsDto {
  @IsString() @Length(1, 200) name!: string;
}

export class UpdateAgentDto extends AgentFieldsDto {
  @IsOptional() @IsString() @Length(1, 200) name?: string;
}

export class CreateAgentKeyDto {
  @IsString() @Length(1, 200) name!: string;
  @IsOptional() @IsDateTime('expiresAt must be an ISO 8601 date-time') expiresAt?: string;
}

/** Keys that expire within this many days are called out. */
const EXPIRY_WARNING_DAYS = 14;
const DAY_MS = 86_400_000;

/**
 * Whether the agent can work, as one state with the reasons: `ready`, `attention` (it works, but
 * something needs doing soon or it can call nothing) or `blocked` (its credentials are refused).
 */
export interface AgentHealth {
  readonly state: 'ready' | 'attention' | 'blocked';
  readonly notes: readonly string[];
}

const plural = (count: number, one: string): string => `${count} ${one}${count === 1 ? '' : 's'}`;

export function agentHealth(agent: Agent, idp: IdpProvider | undefined, keys: readonly ApiKeyRecord[], roles: readonly Role[], now = Date.now()): AgentHealth {
  const blocked: string[] = [];
  const attention: string[] = [];
  if (!agent.active) blocked.push('Deactivated: its tokens and keys are refused.');
  if (agent.idpId && !idp) blocked.push('Its identity provider no longer exists: its tokens are refused.');
  else if (idp && !idp.active) blocked.push(`Its identity provider ${idp.name} is deactivated: its tokens are refused.`);
  const live = keys.filter((key) => !key.revokedAt && !(key.expiresAt && key.expiresAt.getTime() <= now));
  const expired = keys.filter((key) => !key.revokedAt && key.expiresAt && key.expiresAt.getTime() <= now);
  for (const key of expired) attention.push(`Key ${key.name} expired on ${key.expiresAt!.toISOString().slice(0, 10)}.`);
  for (const key of live) {
    if (!key.expiresAt || key.expiresAt.getTime() - now > EXPIRY_WARNING_DAYS * DAY_MS) continue;
    attention.push(`Key ${key.name} expires in ${plural(Math.max(1, Math.ceil((key.expiresAt.getTime() - now) / DAY_MS)), 'day')}.`);
  }
  if (!agent.idpId && live.length === 0) blocked.push(expired.length ? 'All its API keys have expired: issue a new key.' : 'No way to sign in: bind it to an identity provider or issue an API key.');
  const permissions = roles.flatMap((role) => role.permissions);
  if (roles.length === 0) attention.push('Has no roles: it can call nothing.');
  else if (permissions.length === 0) attention.push('Its roles grant no permission: it can call nothing.');
  if (blocked.length) return { state: 'blocked', notes: [...blocked, ...attention] };
  return { state: attention.length ? 'attention' : 'ready', notes: attention };
}

function agentJson(agent: Agent, roles: readonly Role[], story: { lastSeenAt: Date | null; health?: AgentHealth }): Record<string, unknown> {
  return {
    id: agent.id,
    name: agent.name,
    description: agent.description,
    contact: agent.contact,
    idpId: agent.idpId,
    issuer: agent.issuer,
    subject: agent.subject,
    active: agent.active,
    status: agent.active ? 'active' : 'inactive',
    roles: roles.map((role) => ({ id: role.id, name: role.name })),
    createdBy: agent.createdBy,
    createdAt: agent.createdAt.toISOString(),
    updatedAt: agent.updatedAt.toISOString(),
    lastSeenAt: story.lastSeenAt?.toISOString() ?? null,
    attributes: agent.attributes,
    ...(story.health ? { health: story.health } : {}),
  };
}

function keyJson(key: ApiKeyRecord): Record<string, unknown> {
  const now = Date.now();
  const status = key.revokedAt ? 'revoked' : key.expiresAt && key.expiresAt.getTime() <= now ? 'expired' : 'active';
  return {
    id: key.id,
    name: key.name,
    prefix: key.prefix,
    status,
    createdBy: key.createdBy,
    createdAt: key.createdAt.toISOString(),
    expiresAt: key.expiresAt?.toISOString() ?? null,
    revokedAt: key.revokedAt?.toISOString() ?? null,
    lastUsedAt: key.lastUsedAt?.toISOString() ?? null,
  };
}

const ids = (roles: readonly Role[]): string[] => roles.map((role) => role.id);

/** `/api/v1/mcp/agents`: the tenant's agents, their roles and their API keys. */
@injectable()
export class AgentRoutes implements RouteContribution {
  constructor(
    @inject(AdminGuard) private readonly guard: AdminGuard,
    @inject(AgentStore) private readonly agents: AgentStore,
    @inject(RoleStore) private readonly roles: RoleStore,
    @inject(IdpProviderStore) private readonly idps: IdpProviderStore,
    @inject(Database) private readonly database: Database,
  ) {}

  /** Each agent as the admin sees it: its roles, when it was last seen, and its health. */
  private async stories(admin: Principal, agents: readonly Agent[], rolesOf?: ReadonlyMap<string, Role[]>): Promise<Record<string, unknown>[]> {
    const roles = rolesOf ?? (await this.roles.rolesOfAgents(admin.tenant, agents.map((agent) => agent.id)));
    const idps = new Map((await this.idps.list(admin.tenant)).map((idp) => [idp.id, idp]));
    const keys = await Promise.all(agents.map((agent) => this.agents.listKeys(admin.tenant, agent.id)));
    return agents.map((agent, index) => {
      const own = roles.get(agent.id) ?? [];
      const health = agentHealth(agent, agent.idpId ? idps.get(agent.idpId) : undefined, keys[index]!, own);
      return agentJson(agent, own, { lastSeenAt: this.agents.lastSeen(agent), health });
    });
  }

  private async story(admin: Principal, agent: Agent, roles?: Role[]): Promise<Record<string, unknown>> {
    const [one] = await this.stories(admin, [agent], roles ? new Map([[agent.id, roles]]) : undefined);
    return one!;
  }

  routes(): RouteDefinition[] {
    const base = '/api/v1/mcp/agents';
    return [
      { method: 'GET', path: base, handler: (req) => this.list(req) },
      { method: 'POST', path: base, handler: (req) => this.create(req) },
      {
        method: 'GET',
        path: `${base}/:id`,
        handler: async (req) => {
          const admin = await this.guard.admit(req);
          const agent = await this.existing(admin, req.params.id);
          return json(200, { data: await this.story(admin, agent) });
        },
      },
      { method: 'PATCH', path: `${base}/:id`, handler: (req) => this.update(req) },
      { method: 'POST', path: `${base}/:id/deactivate`, handler: (req) => this.setActive(req, false) },
      { method: 'POST', path: `${base}/:id/reactivate`, handler: (req) => this.setActive(req, true) },
      {
        method: 'DELETE',
        path: `${base}/:id`,
        handler: async (req) => {
          const admin = await this.guard.admitChange(req);
          const agent = await this.existing(admin, req.params.id);
          const roles = await this.rolesOf(admin, agent.id);
          // Of concurrent deletes, only the one that deleted the agent answers 200 and is audited.
          if (!(await this.agents.delete(admin.tenant, agent.id))) throw notFound('agent');
          this.guard.recordChange(req, admin, 'agents.delete', agent.id, { name: agent.name, issuer: agent.issuer, subject: agent.subject, roleIds: ids(roles) });
          return json(200, { data: { id: agent.id, deleted: true } });
        },
      },
      {
        method: 'POST',
        path: `${base}/:id/keys`,
        handler: async (req) => {
          const admin = await this.guard.admitChange(req);
          const agent = await this.existing(admin, req.params.id);
          const input = await validated(CreateAgentKeyDto, await req.json());
          const expiresAt = input.expiresAt ? representableDate(input.expiresAt, 'expiresAt') : null;
          if (expiresAt && expiresAt.getTime() <= Date.now()) throw invalid([{ field: 'expiresAt', message: 'expiresAt must be in the future' }]);
          const issued = await this.agents.issueKey(admin.tenant, agent.id, { name: input.name, expiresAt, createdBy: admin.label });
          if (!issued) throw notFound('agent');
          this.guard.recordChange(req, admin, 'agents.keys.create', issued.key.id, { agentId: agent.id, name: issued.key.name, prefix: issued.key.prefix, expiresAt: issued.key.expiresAt?.toISOString() ?? null });
          return json(201, { data: { ...keyJson(issued.key), secret: issued.secret } }, { 'cache-control': 'no-store' });
        },
      },
      {
        method: 'GET',
        path: `${base}/:id/keys`,
        handler: async (req) => {
          const admin = await this.guard.admit(req);
          const agent = await this.existing(admin, req.params.id);
          return json(200, { data: (await this.agents.listKeys(admin.tenant, agent.id)).map(keyJson) });
        },
      },
      {
        method: 'DELETE',
        path: `${base}/:id/keys/:keyId`,
        handler: async (req) => {
          const admin = await this.guard.admitChange(req);
          const agent = await this.existing(admin, req.params.id);
          const keyId = pathId(req.params.keyId, 'key');
          if (!(await this.agents.revokeKey(admin.tenant, agent.id, keyId))) throw notFound('key');
          this.guard.recordChange(req, admin, 'agents.keys.revoke', keyId, { agentId: agent.id });
          return json(200, { data: { id: keyId, revoked: true } });
        },
      },
    ];
  }

  private async existing(admin: Principal, id: string | undefined): Promise<Agent> {
    const agent = await this.agents.get(admin.tenant, pathId(id, 'agent'));
    if (!agent) throw notFound('agent');
    return agent;
  }

  private async rolesOf(admin: Principal, agentId: string): Promise<Role[]> {
    return (await this.roles.rolesOfAgents(admin.tenant, [agentId])).get(agentId) ?? [];
  }

  /** Every id must be a role of the tenant (400 naming the unknown ones otherwise). */
  private async checkRoles(admin: Principal, roleIds: readonly string[] | undefined): Promise<void> {
    if (!roleIds?.length) return;
    const known = new Set((await this.roles.list(admin.tenant)).map((role) => role.id));
    const unknown = roleIds.filter((id) => !known.has(id));
    if (unknown.length) throw invalid([{ field: 'roleIds', message: `Unknown role id(s): ${unknown.join(', ')}.` }]);
  }

  private async list(req: RouteRequest): Promise<HttpResponse> {
    const admin = await this.guard.admit(req, ['status']);
    const status = req.query.get('status');
    if (status !== null && status !== 'active' && status !== 'inactive') throw invalid([{ field: 'status', message: 'status must be active or inactive' }]);
    const agents = await this.agents.list(admin.tenant, status === null ? {} : { active: status === 'active' });
    return json(200, { data: await this.stories(admin, agents) });
  }

  private async create(req: RouteRequest): Promise<HttpResponse> {
    const admin = await this.guard.admitChange(req);
    const input = await validated(CreateAgentDto, await req.json());
    await this.checkRoles(admin, input.roleIds);
    const agent = await this.agents
      .create(admin.tenant, {
        name: input.name,
        description: input.description,
        contact: input.contact,
        idpId: input.idpId,
        subject: input.subject,
        ...(input.attributes === undefined ? {} : { attributes: input.attributes }),
        createdBy: admin.label,
      })
      .catch(storeFailure);
    let roles: Role[] = [];
    try {
      if (input.roleIds?.length) roles = await this.roles.assign(admin.tenant, agent.id, input.roleIds);
    } catch (error) {
      await this.agents.delete(admin.tenant, agent.id);
      storeFailure(error);
    }
    this.guard.recordChange(req, admin, 'agents.create', agent.id, {
      name: agent.name,
      idpId: agent.idpId,
      issuer: agent.issuer,
      subject: agent.subject,
      roleIds: ids(roles),
      attributes: agent.attributes,
    });
    return json(201, { data: await this.story(admin, agent, roles) });
  }

  private async update(req: RouteRequest): Promise<HttpResponse> {
    const admin = await this.guard.admitChange(req);
    const before = await this.existing(admin, req.params.id);
    const patch = await validated(UpdateAgentDto, await req.json());
    await this.checkRoles(admin, patch.roleIds);
    const rolesBefore = await this.rolesOf(admin, before.id);
    const { roleIds, ...fields } = patch;
    const changesFields = Object.keys(fields).length > 0;
    let agent: Agent | undefined = before;
    let roles = rolesBefore;
    if (changesFields && roleIds) {
      // Both or neither: a role refused (deleted meanwhile) must not leave the fields changed.
      [agent, roles] = await this.database.knex
        .transaction(async (trx): Promise<[Agent | undefined, Role[]]> => {
          const updated = await this.agents.update(admin.tenant, before.id, fields, trx);
          return updated ? [updated, await this.roles.assign(admin.tenant, before.id, roleIds, trx)] : [undefined, rolesBefore];
        })
        .catch(storeFailure);
    } else if (changesFields) agent = await this.agents.update(admin.tenant, before.id, fields).catch(storeFailure);
    else if (roleIds) roles = await this.roles.assign(admin.tenant, before.id, roleIds).catch(storeFailure);
    if (!agent) throw notFound('agent');
    const changed: Record<string, unknown> = {};
    for (const field of ['name', 'description', 'contact', 'idpId', 'issuer', 'subject'] as const) {
      if (before[field] !== agent[field]) changed[field] = { from: before[field], to: agent[field] };
    }
    if (JSON.stringify(before.attributes) !== JSON.stringify(agent.attributes)) changed.attributes = { from: before.attributes, to: agent.attributes };
    if (roleIds && JSON.stringify(ids(rolesBefore).sort()) !== JSON.stringify(ids(roles).sort())) {
      changed.roleIds = { from: ids(rolesBefore), to: ids(roles) };
    }
    this.guard.recordChange(req, admin, 'agents.update', agent.id, { name: agent.name, changed });
    return json(200, { data: await this.story(admin, agent, roles) });
  }

  private async setActive(req: RouteRequest, active: boolean): Promise<HttpResponse> {
    const admin = await this.guard.admitChange(req);
    const before = await this.existing(admin, req.params.id);
    const agent = await this.agents.setActive(admin.tenant, before.id, active).catch(storeFailure);
    if (!agent) throw notFound('agent');
    if (before.active !== active) {
      this.guard.recordChange(req, admin, active ? 'agents.reactivate' : 'agents.deactivate', agent.id, { name: agent.name, changed: { active: { from: before.active, to: active } } });
    }
    return json(200, { data: await this.story(admin, agent) });
  }
}

