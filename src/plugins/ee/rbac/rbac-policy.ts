import { createHash } from 'node:crypto';
import { inject, injectable } from 'inversify';
import type { Policy, PolicyDecision, PolicyRequest, Principal } from '../../../core/index.js';
import { ADMIN_SCOPE, AGENT_KIND, AgentPermissions, type AgentAttributes } from '../contracts.js';
import { needsApproval, permissionMatches } from './permission-pattern.js';
import { RbacSettings } from './rbac-settings.js';

const MCP_SCOPE = 'mcp';

/** Why a target that declares no permission is refused: only `*` grants it. */
export const UNDECLARED = '*';

/**
 * The Enterprise policy. Deny by default:
 * - an agent may use a target when one of its roles' patterns matches the target's permission
 *   (`tickets:read`, `tickets:*`, `*`); a target that declares no permission needs `*`;
 * - a tenant API key holding scope `mcp` (not bound to an agent) may use nothing, unless the
 *   edition was configured with `rbac.tenantKeys: 'allow'` (then it may use everything);
 * - any other principal, including an admin credential without `mcp`, may use nothing: the admin
 *   API is not a way to call tools.
 *
 * Grants are read through {@link AgentPermissions} (cached, invalidated by role changes made in
 * this process), so a role change applies to the next call; the permissions loaded into the
 * principal at authentication are the fallback when the grant store cannot be reached.
 */
@injectable()
export class RbacPolicy implements Policy {
  constructor(
    @inject(AgentPermissions) private readonly permissions: AgentPermissions,
    @inject(RbacSettings) private readonly settings: RbacSettings,
  ) {}

  /** An agent whose grants are cached is answered at once, without a promise. */
  decide(principal: Principal, request: PolicyRequest): PolicyDecision | Promise<PolicyDecision> {
    if (principal.kind === AGENT_KIND) {
      const patterns = this.grantsOf(principal);
      return patterns instanceof Promise ? patterns.then((granted) => decideFor(granted, request)) : decideFor(patterns, request);
    }
    if (principal.scopes.includes(MCP_SCOPE)) {
      if (this.settings.tenantKeys === 'allow') {
        if (request.approval?.required) {
          return { allow: false, reason: `${request.name} requires approval`, needsApproval: { approvers: approversOf(request), policyVersion: version({ tenantKey: true, request: target(request) }) } };
        }
        return { allow: true, reason: 'allowed: tenant API key with scope mcp' };
      }
      return { allow: false, reason: 'tenant API keys have no roles here: call as an agent (an agent key or an IdP token)' };
    }
    const scope = principal.scopes.includes(ADMIN_SCOPE) ? 'an admin credential' : 'this credential';
    return { allow: false, reason: `missing scope ${MCP_SCOPE} (${scope} cannot call tools)` };
  }

  private grantsOf(principal: Principal): readonly string[] | Promise<readonly string[]> {
    const attributes = principal.attributes as Partial<AgentAttributes>;
    const loaded = Array.isArray(attributes.permissions) ? attributes.permissions : [];
    if (typeof attributes.agentId !== 'string') return loaded;
    let granted: readonly string[] | Promise<readonly string[]>;
    try {
      granted = this.permissions.permissionsOf(principal.tenant, attributes.agentId);
    } catch {
      return loaded;
    }
    // Any implementation's promise-like, not only a native promise.
    return Array.isArray(granted) ? granted : Promise.resolve(granted).catch(() => loaded);
  }
}

/** The target of a request, without the call's facts (they differ on every call). */
const target = ({ kind, name, permission, approval }: PolicyRequest) => ({ kind, name, permission, approval });

const approversOf = (request: Pick<PolicyRequest, 'approval'>): number => (request.approval?.approvers === 2 ? 2 : 1);

/** The policy version of an approval: what the decision rested on. Any change to it voids approvals. */
function version(facts: unknown): string {
  return createHash('sha256').update(JSON.stringify(facts)).digest('hex').slice(0, 16);
}

/**
 * The decision for an agent holding `patterns`. The denial reason names the missing permission
 * only. The call needs approval when the target declares it, or when every grant that matches
 * carries `+approval`; the policy version is then a digest of the matching grants and the declaration.
 */
export function decideFor(patterns: readonly string[], request: Pick<PolicyRequest, 'permission' | 'approval'> & { name?: string }): PolicyDecision {
  const needed = request.permission ?? UNDECLARED;
  const matching = patterns.filter((pattern) => permissionMatches(pattern, request.permission));
  if (matching.length) {
    const declared = request.approval?.required === true;
    const plain = matching.some((pattern) => !needsApproval(pattern));
    if (plain && !declared) return { allow: true, reason: `allowed: granted ${needed}` };
    const approvers = approversOf(request);
    const why = declared ? `${request.name ?? 'the target'} requires approval` : `the role grant ${matching.find(needsApproval)} requires approval`;
    return {
      allow: false,
      reason: `${why} (granted ${needed})`,
      needsApproval: { approvers, policyVersion: version({ grants: [...matching].sort(), declared, approvers, permission: request.permission ?? null }) },
    };
  }
  if (request.permission === undefined) {
    return { allow: false, reason: 'missing permission * (the tool declares no permission)', missingPermission: UNDECLARED };
  }
  return { allow: false, reason: `missing permission ${needed}`, missingPermission: needed };
}
