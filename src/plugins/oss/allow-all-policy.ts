import { injectable } from 'inversify';
import type { Policy, PolicyDecision, PolicyRequest } from '../../core/index.js';

const ALLOW: PolicyDecision = Object.freeze({ allow: true, reason: 'allowed: the Community Edition grants every authenticated caller every tool' });
const DECLARED: PolicyDecision = Object.freeze({
  allow: false,
  reason: 'the target requires approval',
  needsApproval: Object.freeze({ approvers: 1, policyVersion: 'declared' }),
});

/**
 * The Community Edition's explicit policy: every authenticated principal may call every tool. A
 * target that declares `approval: 'required'` still needs approval — which this edition cannot
 * give, so such calls are refused and never run.
 */
@injectable()
export class AllowAllPolicy implements Policy {
  decide(_principal: unknown, request: PolicyRequest): PolicyDecision {
    return request.approval?.required ? DECLARED : ALLOW;
  }
}
