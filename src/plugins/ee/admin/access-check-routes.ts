import { inject, injectable, multiInject, optional } from 'inversify';
import {
  Database,
  RegistrySource,
  ToolCatalogToken,
  json,
  type RouteContribution,
  type RouteDefinition,
  type RouteRequest,
  type HttpResponse,
  type ToolCatalog,
} from '../../../core/index.js';
import { IsIn, IsObject, IsOptional, IsString, IsUUID, MaxLength } from 'class-validator';
import { AgentPermissions } from '../contracts.js';
import { decideFor } from '../rbac/rbac-policy.js';
import { AgentFacts } from '../policies/agent-facts.js';
import { combine } from '../policies/enterprise-policy.js';
import { PolicyEngine, cedarAddress, type PolicyVerdict } from '../policies/policy-engine.js';
import { operationAction } from '../policies/cedar-schema.js';
import { AdminGuard } from './admin-guard.js';
import { LimitMeter } from '../limits/limit-meter.js';
import { QUOTA_REASON, limitFacts } from '../limits/metered-policy.js';
import { invalid, IsDateTime, notFound, pathId, representableDate, validated } from './validation.js';

export class SimulateDto {
  @IsUUID('all', { message: 'agent must be an agent id (a UUID)' }) agent!: string;
  @IsString() @MaxLength(300) tool!: string;
  @IsObject({ message: 'arguments must be an object' }) arguments!: Record<string, unknown>;
  @IsOptional() @IsDateTime('at must be an ISO 8601 date-time') at?: string;
  @IsOptional() @IsString() @MaxLength(100) clientAddress?: string;
  @IsOptional() @IsIn(['api_key', 'jwt'], { message: 'credential must be api_key or jwt' }) credential?: 'api_key' | 'jwt';
}

/** A schema the simulator checks arguments with (zod's `safeParse` shape). */
interface ArgumentSchema {
  safeParse(value: unknown): { success: true; data: unknown } | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}

const describeIssues = (issues: readonly { path: readonly PropertyKey[]; message: string }[]): string =>
  issues
    .slice(0, 10)
    .map((issue) => (issue.path.length ? `${issue.path.map(String).join('.')}: ${issue.message}` : issue.message))
    .join('; ');

/** The simulator's answer: the decision, the stage that made it, and the policies behind it. */
interface Simulation {
  decision: 'allow' | 'deny' | 'approval';
  reason: string;
  stage: 'agent' | 'rbac' | 'policy' | 'quota';
  policies: readonly { id: string; name: string }[];
  errors: readonly { policy?: string; policyId?: string; message: string }[];
  approvers?: number;
  /** With stage `quota`: the full limit and when its window resets. */
  limit?: Record<string, string | number>;
  resetsAt?: string;
}

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
    @inject(PolicyEngine) private readonly engine: PolicyEngine,
    @inject(AgentFacts) private readonly facts: AgentFacts,
    @inject(LimitMeter) private readonly meter: LimitMeter,
    @multiInject(RegistrySource) @optional() private readonly sources: readonly RegistrySource[] = [],
  ) {}

  routes(): RouteDefinition[] {
    return [
      { method: 'GET', path: '/api/v1/mcp/access-check', handler: (req) => this.check(req) },
      { method: 'POST', path: '/api/v1/mcp/access-check/simulate', handler: (req) => this.simulate(req) },
    ];
  }

  /** The agent, its provider and how many live keys it has, or 404. */
  private async agentOf(tenant: string, given: string) {
    const agentId = pathId(given, 'agent');
    const db = this.database.forTenant(tenant);
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
    return { agent, idp, activeKeys, jwtUsable };
  }

  /**
   * `POST /api/v1/mcp/access-check/simulate`: would this exact call (agent, tool, arguments, time,
   * address, credential) be allowed, held for approval or refused, at which stage, and which
   * policies decided. The same evaluation as a real call; nothing is run or recorded.
   */
  private async simulate(req: RouteRequest): Promise<HttpResponse> {
    const admin = await this.guard.admit(req);
    const input = await validated(SimulateDto, await req.json());
    const at = input.at === undefined ? new Date() : representableDate(input.at, 'at');
    if (input.clientAddress !== undefined && !cedarAddress(input.clientAddress)) {
      throw invalid([{ field: 'clientAddress', message: 'clientAddress must be an IPv4 or IPv6 address' }]);
    }
    const { agent, idp, activeKeys, jwtUsable } = await this.agentOf(admin.tenant, input.agent);
    const { target, schema, request } = await this.targetOf(input.tool);
    const parsed = schema ? schema.safeParse(input.arguments) : { success: true as const, data: input.arguments };
    if (!parsed.success) {
      throw invalid([{ field: 'arguments', message: `Invalid arguments for ${input.tool}: ${describeIssues(parsed.error.issues)}` }]);
    }
    const answer = (simulation: Simulation): HttpResponse => json(200, { data: simulation });
    const credential = input.credential ?? (jwtUsable ? 'jwt' : 'api_key');
    const none = { policies: [], errors: [] };
    if (!agent.active) return answer({ decision: 'deny', reason: 'agent inactive', stage: 'agent', ...none });
    if (credential === 'jwt' && !jwtUsable) {
      const why = !idp ? 'the agent is not bound to an identity provider' : !idp.active ? 'its identity provider is inactive' : 'the agent has no identifier at its identity provider';
      return answer({ decision: 'deny', reason: `no usable JWT: ${why}`, stage: 'agent', ...none });
    }
    if (credential === 'api_key' && activeKeys === 0) return answer({ decision: 'deny', reason: 'no active API key', stage: 'agent', ...none });

    const patterns = await this.permissions.permissionsOf(admin.tenant, agent.id);
    const rbac = decideFor(patterns, { name: request.name, permission: request.permission, ...(request.approval ? { approval: request.approval } : {}) });
    if (!rbac.allow && !rbac.needsApproval) return answer({ decision: 'deny', reason: rbac.reason, stage: 'rbac', ...none });
    const action = target;
    const verdict: PolicyVerdict = action
      ? await this.engine.evaluate(admin.tenant, action, { id: agent.id, facts: () => this.facts.of(admin.tenant, agent.id) }, {
          arguments: parsed.data as Record<string, unknown>,
          at,
          ...(input.clientAddress === undefined ? {} : { clientAddress: input.clientAddress }),
          credential,
        })
      : { decision: 'allow', reason: 'no policy applies', policies: [], errors: [] };
    const combined = combine(rbac, verdict);
    const errors = verdict.errors;
    if (verdict.decision === 'deny') return answer({ decision: 'deny', reason: combined.reason, stage: 'policy', policies: verdict.policies, errors });
    // Last, the limits, as they stand now (whatever `at` says): a full one refuses the call.
    if (this.catalog.get(input.tool)) {
      const full = await this.meter.wouldRefuse({ tenant: admin.tenant, tool: request.name, agentId: agent.id });
      if (full) {
        const limit = limitFacts(full.limit);
        return answer({
          decision: 'deny',
          reason: `${QUOTA_REASON}: ${full.limit.max} calls per ${full.limit.window} reached; it resets at ${full.resetsAt.toISOString()}`,
          stage: 'quota',
          policies: verdict.policies,
          errors,
          limit,
          resetsAt: full.resetsAt.toISOString(),
        });
      }
    }
    if (combined.needsApproval) {
      const stage = verdict.decision === 'approval' ? 'policy' : 'rbac';
      return answer({ decision: 'approval', reason: combined.reason, stage, policies: verdict.policies, errors, approvers: combined.needsApproval.approvers });
    }
    return answer({ decision: 'allow', reason: `${rbac.reason}; ${verdict.reason}`, stage: 'policy', policies: [], errors });
  }

  /** The tool (or `operation:<id>`) being simulated: its action, argument schema and policy target. */
  private async targetOf(name: string) {
    const entry = this.catalog.get(name);
    if (entry) {
      const { tool } = entry;
      return {
        target: await this.engine.actionOf('tool', name),
        schema: tool.input as ArgumentSchema,
        request: { name, permission: tool.permission, ...(tool.approval === 'required' ? { approval: { required: true, approvers: tool.approvers ?? 1 } } : {}) },
      };
    }
    const action = name.startsWith('operation:') ? (await this.engine.schema()).actions.get(name) : undefined;
    if (!action) throw invalid([{ field: 'tool', message: `Unknown tool: ${name}` }]);
    const operation = (await this.operations()).find((entry) => operationAction(entry.name) === name);
    return {
      target: action,
      schema: undefined,
      request: { name: action.target.name, permission: operation?.permission ?? undefined, ...(operation?.extra?.requiresApproval ? { approval: { required: true } } : {}) },
    };
  }

  private async operations() {
    const asker = { tenant: 'policy-schema', kind: 'policy-schema', id: 'policy-schema', label: 'policy schema', scopes: [], attributes: {} };
    const entries = [];
    for (const source of this.sources ?? []) entries.push(...(await source.entries(asker)));
    return entries.filter((entry) => entry.kind === 'operation');
  }

  private async check(req: RouteRequest): Promise<HttpResponse> {
    const admin = await this.guard.admit(req, ['agent']);
    const agentId = req.query.get('agent');
    if (!agentId) throw invalid([{ field: 'agent', message: 'agent is required (an agent id)' }]);
    const { agent, idp, activeKeys, jwtUsable } = await this.agentOf(admin.tenant, agentId);
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
