import { inject, injectable } from 'inversify';
import {
  Database,
  ToolCatalogToken,
  isUuid,
  json,
  type RouteContribution,
  type RouteDefinition,
  type RouteRequest,
  type HttpResponse,
  type ToolCatalog,
} from '../../../core/index.js';
import { AgentPermissions } from '../contracts.js';
import { decideFor } from '../rbac/rbac-policy.js';
import { AdminGuard } from './admin-guard.js';
import { invalid, notFound } from './validation.js';

interface AgentRow {
  id: string;
  name: string;
  active: boolean;
  idp_id: string | null;
  issuer: string | null;
  subject: string | null;
}

/**
 * `GET /api/v1/mcp/access-check?agent=<id>`: what an agent may call right now and why not, for
 * each tool — agent inactive, no usable credential (IdP inactive, no active key), or the missing
 * permission.
 */
@injectable()
export class AccessCheckRoutes implements RouteContribution {
  constructor(
    @inject(AdminGuard) private readonly guard: AdminGuard,
    @inject(Database) private readonly database: Database,
    @inject(AgentPermissions) private readonly permissions: AgentPermissions,
    @inject(ToolCatalogToken) private readonly catalog: ToolCatalog,
  ) {}

  routes(): RouteDefinition[] {
    return [{ method: 'GET', path: '/api/v1/mcp/access-check', handler: (req) => this.check(req) }];
  }

  private async check(req: RouteRequest): Promise<HttpResponse> {
    const admin = await this.guard.admit(req);
    const agentId = req.query.get('agent');
    if (!agentId) throw invalid([{ field: 'agent', message: 'agent is required (an agent id)' }]);
    if (!isUuid(agentId)) throw notFound('agent');
    const db = this.database.forTenant(admin.tenant);
    const agent = (await db.table<AgentRow>('agents').where({ id: agentId }).first()) as AgentRow | undefined;
    if (!agent) throw notFound('agent');
    const idp = agent.idp_id
      ? ((await db.table('agent_idp_providers').where({ id: agent.idp_id }).first('id', 'name', 'issuer', 'active')) as
          | { id: string; name: string; issuer: string; active: boolean }
          | undefined)
      : undefined;
    const [{ count }] = (await db
      .table('api_keys')
      .where({ agent_id: agent.id })
      .whereNull('revoked_at')
      .andWhere((w) => w.whereNull('expires_at').orWhere('expires_at', '>', new Date()))
      .count({ count: '*' })) as [{ count: string | number }];
    const activeKeys = Number(count);
    const jwtUsable = Boolean(idp?.active && agent.issuer && agent.subject);
    const patterns = await this.permissions.permissionsOf(admin.tenant, agent.id);

    let blocked: string | undefined;
    if (!agent.active) blocked = 'agent inactive';
    else if (!jwtUsable && activeKeys === 0) blocked = idp && !idp.active ? 'IdP inactive' : 'no active credential';

    const tools = this.catalog.entries.map(({ tool, pluginId }) => {
      const approval = tool.approval === 'required' ? { required: true, approvers: tool.approvers ?? 1 } : undefined;
      const decision = decideFor(patterns, { name: tool.name, permission: tool.permission, ...(approval ? { approval } : {}) });
      const withApproval = decision.needsApproval !== undefined;
      const allowed = !blocked && (decision.allow || withApproval);
      return {
        name: tool.name,
        plugin: pluginId,
        permission: tool.permission ?? null,
        allowed,
        ...(withApproval ? { approvalRequired: true, approvers: decision.needsApproval!.approvers } : {}),
        reason: blocked ?? (withApproval ? `allowed with approval: ${decision.reason}` : decision.reason),
        ...(decision.missingPermission && !blocked ? { missingPermission: decision.missingPermission } : {}),
      };
    });
    return json(200, {
      data: {
        agent: { id: agent.id, name: agent.name, active: agent.active },
        idp: idp ? { id: idp.id, name: idp.name, issuer: idp.issuer, active: idp.active } : null,
        credentials: { jwt: jwtUsable, activeApiKeys: activeKeys },
        permissions: patterns,
        tools,
      },
    });
  }
}
