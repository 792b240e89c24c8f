import type { ApprovalNeed } from './policy.js';
import type { Principal } from './principal.js';

/** Lifecycle of an approval request. `executed` grants were used once and never again. */
export type ApprovalState = 'pending' | 'approved' | 'denied' | 'expired' | 'executed';

/** One call the policy wants a person to approve. */
export interface ApprovalRequest {
  readonly principal: Principal;
  /** The tool the client called. */
  readonly tool: string;
  /** The governed target that asked for approval: the tool itself, or e.g. an API operation behind it. */
  readonly target: { readonly kind: string; readonly name: string };
  /** The call's arguments in canonical form (object keys sorted). */
  readonly arguments: unknown;
  /** SHA-256 (hex) of the canonical JSON of `arguments`. */
  readonly digest: string;
  /** What the policy asked for. */
  readonly need: ApprovalNeed;
  /** The policy's reason, shown to approvers. */
  readonly reason: string;
  readonly requestId: string;
}

/**
 * The answer to {@link PendingApprovals.request}:
 * - `granted`: an approved grant for exactly this call was consumed (it is now `executed`); run it;
 * - `pending`: the call is held as request `id` (new, or the same call asked earlier);
 * - `denied`: a person denied request `id` for exactly this call, with `reason`.
 */
export type ApprovalTicket =
  | { readonly status: 'granted'; readonly id: string }
  | { readonly status: 'pending'; readonly id: string; readonly expiresAt: Date }
  | { readonly status: 'denied'; readonly id: string; readonly reason: string };

/** An approval request as the engine reads it back (to answer MCP task polls). */
export interface ApprovalRecord {
  readonly id: string;
  readonly tenant: string;
  readonly tool: string;
  readonly state: ApprovalState;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly expiresAt: Date;
  /** The arguments of the held call (canonical, unredacted). */
  readonly arguments: unknown;
  /** The reason given with the last decision (a denial's reason is shown to the caller). */
  readonly decisionReason: string | undefined;
  /** Whether the caller withdrew it (MCP `tasks/cancel`). */
  readonly withdrawn: boolean;
  /** For calls held as MCP tasks: the tool result once it ran. */
  readonly result: unknown;
  /** Whether `principal` made the request. */
  madeBy(principal: Principal): boolean;
}

/**
 * Pending approvals: where calls wait for a person's decision. Optional — an edition that binds
 * none cannot hold calls, and the engine refuses every call that needs approval with a clear
 * message. An implementation keeps requests where every engine instance sees them (the decision
 * may be made through another instance) and guarantees that an approved grant is consumed at most
 * once, also by concurrent identical calls.
 */
export interface PendingApprovals {
  /**
   * Consume an approved grant for exactly this call (same principal's agent, tool, digest and
   * policy version, not expired), or hold the call (reusing a pending request for the same call),
   * or report that the same call was denied. Mismatches and expiries are audited by the implementation.
   */
  request(request: ApprovalRequest): Promise<ApprovalTicket>;
  /**
   * Consume the approved grant `id` for `request` only; `undefined` when it is not approved, not
   * for this exact call, or already used.
   */
  claim(request: ApprovalRequest, id: string): Promise<ApprovalTicket | undefined>;
  /** The request `id` of `tenant`, or undefined. Expired requests are reported `expired`. */
  find(tenant: string, id: string): Promise<ApprovalRecord | undefined>;
  /** Withdraw a pending request of `principal` (MCP `tasks/cancel`); false when it was no longer pending. */
  withdraw(tenant: string, id: string, principal: Principal): Promise<boolean>;
  /** Keep the result of a held task's call, for `tasks/result`. */
  complete(tenant: string, id: string, result: unknown): Promise<void>;
}

export const PendingApprovals = Symbol.for('gatehouse.PendingApprovals');

/**
 * The `ChangeFeed` topic an implementation publishes `{ tenant, id }` on whenever a request is
 * decided, withdrawn or completed, so waiting `tasks/result` calls on every instance wake at once
 * (they also poll, in case a notification is missed).
 */
export const APPROVALS_CHANGED = 'approvals.changed';
