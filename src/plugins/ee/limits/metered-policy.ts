import { inject, injectable } from 'inversify';
import type { Policy, PolicyDecision, PolicyRequest, Principal } from '../../../core/index.js';
import { AGENT_KIND, type AgentAttributes } from '../contracts.js';
import { EnterprisePolicy } from '../policies/enterprise-policy.js';
import { LimitMeter } from './limit-meter.js';
import type { Limit } from './limit-store.js';

/** The reason recorded in the audit trail for a call refused by a rate limit or quota. */
export const QUOTA_REASON = 'quota';

/** A limit's caller-safe facts, as sent in the refusal. */
export function limitFacts(limit: Limit): Record<string, string | number> {
  const facts: Record<string, string | number> = { id: limit.id, scope: limit.scope, window: limit.window, max: limit.max };
  if (limit.agentId) facts.agentId = limit.agentId;
  if (limit.roleId) facts.roleId = limit.roleId;
  if (limit.tool) facts.tool = limit.tool;
  return facts;
}

/**
 * The Enterprise decision, last layer: what roles (and policies) let through is counted against
 * the tenant's rate limits and quotas — an attempt (`request.attempt`) only, never a listing. A
 * call held for approval counts when it is asked for.
 */
@injectable()
export class MeteredPolicy implements Policy {
  constructor(
    @inject(EnterprisePolicy) private readonly inner: EnterprisePolicy,
    @inject(LimitMeter) private readonly meter: LimitMeter,
  ) {}

  async decide(principal: Principal, request: PolicyRequest): Promise<PolicyDecision> {
    const decision = await this.inner.decide(principal, request);
    if (!request.attempt || request.kind !== 'tool' || (!decision.allow && !decision.needsApproval)) return decision;
    const agentId = principal.kind === AGENT_KIND ? (principal.attributes as Partial<AgentAttributes>).agentId : undefined;
    const refused = await this.meter.admit({ tenant: principal.tenant, tool: request.name, ...(typeof agentId === 'string' ? { agentId } : {}) });
    if (!refused) return decision;
    return {
      allow: false,
      reason: QUOTA_REASON,
      limited: { limit: limitFacts(refused.limit), resetsAt: refused.resetsAt, retryAfterSeconds: refused.retryAfterSeconds },
    };
  }
}
