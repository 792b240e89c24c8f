import { createHash } from 'node:crypto';
import { inject, injectable } from 'inversify';
import { mayAttempt, type Policy, type PolicyDecision, type PolicyRequest, type Principal } from '../../../core/index.js';
import { AGENT_KIND, type AgentAttributes } from '../contracts.js';
import { RbacPolicy } from '../rbac/rbac-policy.js';
import { AgentFacts, type PrincipalFacts } from './agent-facts.js';
import { PolicyEngine, type CredentialKind, type PolicyVerdict } from './policy-engine.js';

/** `context.credential` of a principal: how it authenticated. */
export function credentialOf(principal: Principal): CredentialKind {
  return (principal.attributes as Partial<AgentAttributes>).credential === 'jwt' ? 'jwt' : 'api_key';
}

function agentIdOf(principal: Principal): string | undefined {
  const agentId = (principal.attributes as Partial<AgentAttributes>).agentId;
  return principal.kind === AGENT_KIND && typeof agentId === 'string' ? agentId : undefined;
}

/** The principal's entity id: the agent's id, or a tenant key's id. */
const idOf = (principal: Principal): string => agentIdOf(principal) ?? principal.id;

/**
 * RBAC's decision combined with the tenant policies' verdict. Policies can only take away: a
 * `deny` refuses what RBAC allowed (or would hold for approval); an `approval` holds what RBAC
 * allowed, needing the larger number of approvers of the two; `allow` leaves RBAC's decision as is.
 */
export function combine(rbac: PolicyDecision, verdict: PolicyVerdict): PolicyDecision {
  if (verdict.decision === 'allow') return rbac;
  if (verdict.decision === 'deny') return { allow: false, reason: verdict.reason };
  const approvers = Math.max(rbac.needsApproval?.approvers ?? 1, verdict.approvers ?? 1);
  const policyVersion = createHash('sha256')
    .update(JSON.stringify([rbac.needsApproval?.policyVersion ?? 'granted', verdict.fingerprint ?? '']))
    .digest('hex')
    .slice(0, 16);
  return { allow: false, reason: rbac.needsApproval ? `${rbac.reason}; ${verdict.reason}` : verdict.reason, needsApproval: { approvers, policyVersion } };
}

/**
 * The Enterprise policy: RBAC decides first (deny by default); then, for a call about to run (a
 * tool or an API operation, with its arguments), the tenant's Cedar policies may refuse it or
 * require approval. Listing (`tools/list`, search, the registry endpoint) is RBAC's alone.
 */
@injectable()
export class EnterprisePolicy implements Policy {
  constructor(
    @inject(RbacPolicy) private readonly rbac: RbacPolicy,
    @inject(PolicyEngine) private readonly engine: PolicyEngine,
    @inject(AgentFacts) private readonly facts: AgentFacts,
  ) {}

  async decide(principal: Principal, request: PolicyRequest): Promise<PolicyDecision> {
    const decision = await this.rbac.decide(principal, request);
    const context = request.context;
    // No arguments: the call is not about to run, or its arguments are invalid and it is refused next.
    if (!mayAttempt(decision) || !context?.arguments) return decision;
    const action = await this.engine.actionOf(request.kind, request.name);
    if (!action) return decision;
    const verdict = await this.engine.evaluate(principal.tenant, action, { id: idOf(principal), facts: () => this.factsOf(principal) }, {
      arguments: context.arguments,
      at: context.at,
      ...(context.clientAddress === undefined ? {} : { clientAddress: context.clientAddress }),
      credential: credentialOf(principal),
    });
    return combine(decision, verdict);
  }

  private async factsOf(principal: Principal): Promise<PrincipalFacts | undefined> {
    const agentId = agentIdOf(principal);
    if (agentId !== undefined) return this.facts.of(principal.tenant, agentId);
    // A tenant API key (only usable with `rbac.tenantKeys: 'allow'`): an agent with no roles or attributes.
    return { id: principal.id, name: principal.label, roles: [], idp: '', issuer: '', attributes: {} };
  }
}
