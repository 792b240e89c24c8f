import { IsIn, IsInt, IsOptional, IsString, IsUUID, Matches, Max, Min } from 'class-validator';
import { inject, injectable } from 'inversify';
import { Database, TOOL_NAME, ToolCatalogToken, json, type RouteContribution, type RouteDefinition, type RouteRequest, type ToolCatalog } from '../../../core/index.js';
import { AgentRoleIds } from '../limits/agent-role-ids.js';
import { LIMIT_SCOPES, LIMIT_WINDOWS, LimitStore, LimitTakenError, LimitTargetGoneError, MAX_LIMIT, type Limit, type LimitScope, type LimitUsage, type LimitWindow } from '../limits/limit-store.js';
import { AdminGuard } from './admin-guard.js';
import { conflict } from './store-failure.js';
import { fieldsOf, invalid, notFound, pathId, queryObject, validated } from './validation.js';

const MAX_MESSAGE = `max must be a whole number of calls from 1 to ${MAX_LIMIT}`;

export class CreateLimitDto {
  @IsIn(LIMIT_SCOPES, { message: `scope must be one of ${LIMIT_SCOPES.join(', ')}` })
  scope!: LimitScope;

  @IsOptional() @IsUUID('all', { message: 'agentId must be an agent id (a UUID)' }) agentId?: string;
  @IsOptional() @IsUUID('all', { message: 'roleId must be a role id (a UUID)' }) roleId?: string;

  @IsOptional()
  @IsString()
  @Matches(TOOL_NAME, { message: 'tool must be a tool name' })
  tool?: string;

  @IsIn(LIMIT_WINDOWS, { message: `window must be one of ${LIMIT_WINDOWS.join(', ')}` })
  window!: LimitWindow;

  @IsInt({ message: MAX_MESSAGE }) @Min(1, { message: MAX_MESSAGE }) @Max(MAX_LIMIT, { message: MAX_MESSAGE }) max!: number;
}

export class UpdateLimitDto {
  @IsInt({ message: MAX_MESSAGE }) @Min(1, { message: MAX_MESSAGE }) @Max(MAX_LIMIT, { message: MAX_MESSAGE }) max!: number;
}

class LimitQueryDto {
  @IsOptional() @IsUUID('all', { message: 'agentId must be an agent id (a UUID)' }) agentId?: string;
  @IsOptional() @IsUUID('all', { message: 'roleId must be a role id (a UUID)' }) roleId?: string;
}

function limitJson(limit: Limit, usage: readonly LimitUsage[]): Record<string, unknown> {
  const mine = usage.filter((entry) => entry.limitId === limit.id);
  return {
    id: limit.id,
    scope: limit.scope,
    agentId: limit.agentId,
    roleId: limit.roleId,
    tool: limit.tool,
    window: limit.window,
    max: limit.max,
    createdAt: limit.createdAt.toISOString(),
    updatedAt: limit.updatedAt.toISOString(),
    usage: {
      used: mine.reduce((sum, entry) => Math.max(sum, entry.used), 0),
      resetsAt: mine[0]?.resetsAt.toISOString() ?? null,
      // Per agent for agent and role limits (a role limit counts each holder apart); one count for the tenant.
      counts: mine.map((entry) => ({ agentId: entry.agentId, used: entry.used, leased: entry.leased })),
    },
  };
}

/**
 * `/api/v1/mcp/limits`: the tenant's rate limits and quotas, with each one's count in its current
 * window. `?agentId=` lists the limits that apply to that agent (the tenant's, its own and its
 * roles') with that agent's counts; `?roleId=` the role's limits.
 */
@injectable()
export class LimitRoutes implements RouteContribution {
  constructor(
    @inject(AdminGuard) private readonly guard: AdminGuard,
    @inject(LimitStore) private readonly limits: LimitStore,
    @inject(AgentRoleIds) private readonly roles: AgentRoleIds,
    @inject(Database) private readonly database: Database,
    @inject(ToolCatalogToken) private readonly catalog: ToolCatalog,
  ) {}

  routes(): RouteDefinition[] {
    return [
      { method: 'GET', path: '/api/v1/mcp/limits', handler: (req) => this.list(req) },
      {
        method: 'POST',
        path: '/api/v1/mcp/limits',
        handler: async (req) => {
          const admin = await this.guard.admitChange(req);
          const input = await validated(CreateLimitDto, await req.json());
          await this.checkTarget(admin.tenant, input);
          const limit = await this.limits.create(admin.tenant, input).catch((error: unknown) => {
            if (error instanceof LimitTakenError) throw conflict(error.message, 'window');
            // Its agent or role was deleted after the check: answered as if it was already gone.
            if (error instanceof LimitTargetGoneError) throw invalid([{ field: error.field, message: error.message }]);
            throw error;
          });
          this.guard.recordChange(req, admin, 'limits.create', limit.id, describe(limit));
          return json(201, { data: limitJson(limit, []) });
        },
      },
      {
        method: 'PATCH',
        path: '/api/v1/mcp/limits/:id',
        handler: async (req) => {
          const admin = await this.guard.admitChange(req);
          const id = pathId(req.params.id, 'limit');
          const { max } = await validated(UpdateLimitDto, await req.json());
          const before = await this.limits.get(admin.tenant, id);
          if (!before) throw notFound('limit');
          const limit = await this.limits.update(admin.tenant, id, max);
          if (!limit) throw notFound('limit');
          this.guard.recordChange(req, admin, 'limits.update', id, { ...describe(limit), changed: { max: { from: before.max, to: limit.max } } });
          return json(200, { data: limitJson(limit, await this.limits.usage(admin.tenant, [limit])) });
        },
      },
      {
        method: 'DELETE',
        path: '/api/v1/mcp/limits/:id',
        handler: async (req) => {
          const admin = await this.guard.admitChange(req);
          const id = pathId(req.params.id, 'limit');
          const limit = await this.limits.delete(admin.tenant, id);
          if (!limit) throw notFound('limit');
          this.guard.recordChange(req, admin, 'limits.delete', id, describe(limit));
          return json(200, { data: { id, deleted: true } });
        },
      },
    ];
  }

  private async list(req: RouteRequest) {
    const admin = await this.guard.admit(req, fieldsOf(LimitQueryDto));
    const query = await validated(LimitQueryDto, queryObject(req.query), 'The query');
    const all = await this.limits.list(admin.tenant);
    let shown = all;
    if (query.agentId !== undefined) {
      const agent = await this.database.forTenant(admin.tenant).table('agents').where({ id: query.agentId }).first('id');
      if (!agent) throw notFound('agent');
      const roleIds = await this.roles.of(admin.tenant, query.agentId);
      shown = all.filter((limit) => limit.scope === 'tenant' || limit.agentId === query.agentId || (limit.roleId !== null && roleIds.includes(limit.roleId)));
    }
    if (query.roleId !== undefined) shown = shown.filter((limit) => limit.roleId === query.roleId);
    let usage = await this.limits.usage(admin.tenant, shown);
    if (query.agentId !== undefined) usage = usage.filter((entry) => entry.agentId === null || entry.agentId === query.agentId);
    return json(200, { data: shown.map((limit) => limitJson(limit, usage)) });
  }

  private async checkTarget(tenant: string, input: CreateLimitDto): Promise<void> {
    const db = this.database.forTenant(tenant);
    if (input.scope === 'tenant' && (input.agentId !== undefined || input.roleId !== undefined)) {
      throw invalid([{ field: 'scope', message: 'a tenant limit names no agent or role' }]);
    }
    if (input.scope === 'agent') {
      if (input.roleId !== undefined) throw invalid([{ field: 'roleId', message: 'an agent limit names no role' }]);
      if (input.agentId === undefined) throw invalid([{ field: 'agentId', message: 'agentId is required for an agent limit' }]);
      if (!(await db.table('agents').where({ id: input.agentId }).first('id'))) throw invalid([{ field: 'agentId', message: 'there is no such agent' }]);
    }
    if (input.scope === 'role') {
      if (input.agentId !== undefined) throw invalid([{ field: 'agentId', message: 'a role limit names no agent' }]);
      if (input.roleId === undefined) throw invalid([{ field: 'roleId', message: 'roleId is required for a role limit' }]);
      if (!(await db.table('roles').where({ id: input.roleId }).first('id'))) throw invalid([{ field: 'roleId', message: 'there is no such role' }]);
    }
    if (input.tool !== undefined && !this.catalog.get(input.tool)) throw invalid([{ field: 'tool', message: `there is no tool named ${input.tool}` }]);
  }
}

function describe(limit: Limit): Record<string, unknown> {
  return { scope: limit.scope, agentId: limit.agentId, roleId: limit.roleId, tool: limit.tool, window: limit.window, max: limit.max };
}
