import { inject, injectable, optional } from 'inversify';
import { ApprovalPendingError, PermissionDeniedError } from '../errors.js';
import { PendingApprovals, type ApprovalRequest } from '../ports/pending-approvals.js';
import type { PolicyDecision } from '../ports/policy.js';
import type { CallContext } from '../mcp/call-context.js';
import { argumentsDigest, canonicalArguments } from './canonical-arguments.js';

/** What is being held: the tool called, the governed target that asked, the arguments as sent. */
export interface GatedCall {
  readonly tool: string;
  readonly target: { readonly kind: string; readonly name: string };
  readonly arguments: unknown;
  /** Consume only this approved request (a held MCP task being resumed). */
  readonly claim?: string;
}

/**
 * Turns a "needs approval" decision into a run or a refusal: returns the id of the approved grant
 * it consumed, or throws {@link ApprovalPendingError} (held) / {@link PermissionDeniedError}
 * (denied, or no way to hold calls in this engine).
 */
@injectable()
export class ApprovalGate {
  constructor(@inject(PendingApprovals) @optional() private readonly approvals?: PendingApprovals) {}

  get available(): boolean {
    return this.approvals !== undefined;
  }

  async pass(call: CallContext, gated: GatedCall, decision: PolicyDecision): Promise<string> {
    const need = decision.needsApproval;
    if (!need) throw new PermissionDeniedError(decision.reason);
    const label = gated.target.name === gated.tool ? gated.tool : `${gated.target.name} (via ${gated.tool})`;
    if (!this.approvals) {
      throw new PermissionDeniedError(`${label} requires approval before it runs, and this engine has no approvals (the Enterprise edition provides them); it was not executed`);
    }
    const canonical = canonicalArguments(gated.arguments ?? {});
    const request: ApprovalRequest = {
      principal: call.principal,
      tool: gated.tool,
      target: gated.target,
      arguments: canonical,
      digest: argumentsDigest(canonical),
      need,
      reason: decision.reason,
      requestId: call.requestId,
    };
    if (gated.claim !== undefined) {
      const claimed = await this.approvals.claim(request, gated.claim);
      if (claimed?.status !== 'granted') {
        throw new PermissionDeniedError(`approval request ${gated.claim} no longer matches this call (the policy changed, or it was already used); it was not executed`);
      }
      return claimed.id;
    }
    const ticket = await this.approvals.request(request);
    if (ticket.status === 'granted') return ticket.id;
    if (ticket.status === 'denied') throw new PermissionDeniedError(`approval request ${ticket.id} was denied: ${ticket.reason}`);
    throw new ApprovalPendingError(
      ticket.id,
      `Approval required, request ${ticket.id}: ${label} needs a person's approval before it runs. Ask an administrator to approve it; ` +
        `call again with the same arguments once approved (the request expires at ${ticket.expiresAt.toISOString()}).`,
      ticket.expiresAt,
    );
  }
}
