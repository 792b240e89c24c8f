import type { Principal } from './principal.js';

/** What a target declares about approvals: a person must approve each call before it runs. */
export interface ApprovalDeclaration {
  readonly required: boolean;
  /** How many different people must approve (1 or 2; default 1). */
  readonly approvers?: number;
}

/**
 * The facts of one call, for policies that decide on more than who and what (conditions on the
 * arguments, the time, where the call comes from). Present when a call is about to run; absent
 * when the engine only asks what a caller may see (`tools/list`, search, the registry endpoint).
 */
export interface PolicyCallContext {
  /**
   * The call's arguments as the handler will receive them (validated against the target's input
   * schema, defaults applied). Absent when they did not validate: the engine then refuses the call
   * as invalid right after the decision, whatever it is.
   */
  readonly arguments?: Readonly<Record<string, unknown>>;
  /** When the call is made. */
  readonly at: Date;
  /** The caller's network address, when known. */
  readonly clientAddress?: string;
}

/** What is being attempted. */
export interface PolicyRequest {
  /** `tool`, `resource`, `prompt` or a plugin-defined kind. */
  readonly kind: string;
  /** The name of the tool / resource / prompt / operation. */
  readonly name: string;
  /** The permission the target declares (e.g. `tickets:read`); undefined when it declares none. */
  readonly permission: string | undefined;
  /** The target's own approval declaration (`approval: 'required'` on a tool or operation). */
  readonly approval?: ApprovalDeclaration;
  /** The call's facts when a call is about to run (see {@link PolicyCallContext}). */
  readonly context?: PolicyCallContext;
  /**
   * Set when this decision admits one real attempt (a `tools/call` about to run), never when it
   * filters a listing or answers a question: a policy that meters calls (rate limits, quotas)
   * counts this attempt, and only this kind of request.
   */
  readonly attempt?: boolean;
}

/**
 * A metered limit that refused an attempt: what the limit is and when it lets calls through again.
 */
export interface LimitReached {
  /** Caller-safe facts about the limit (e.g. `{ scope: 'agent', window: 'minute', max: 100 }`), sent to the caller. */
  readonly limit: Readonly<Record<string, string | number>>;
  /** When the window that is full ends (by the clock that keeps the count). */
  readonly resetsAt: Date;
  /** Seconds until a retry can succeed (at least 1). */
  readonly retryAfterSeconds: number;
}

/**
 * The grant a "needs approval" decision asks for: a single-use approval of this exact call,
 * bound to the policy version that asked for it.
 */
export interface ApprovalNeed {
  /** How many different people must approve (1 or 2). */
  readonly approvers: number;
  /**
   * A fingerprint of the policy that asked (e.g. the grants that matched). An approval is honoured
   * only while the policy answers with the same version; a role change makes it void.
   */
  readonly policyVersion: string;
}

/**
 * One of four answers:
 * - **allow** — `allow: true`;
 * - **deny** — `allow: false` with a `reason`;
 * - **needs approval** — `allow: false` with `needsApproval`: the call may run once a person has
 *   approved this exact call (see the `PendingApprovals` port). Anything that cannot hold a call
 *   for approval treats it as a denial.
 * - **limited** — `allow: false` with `limited` (only for a request with `attempt`): a metered limit
 *   is full; the same call may succeed after `limited.resetsAt`. Answered as a rate-limit error.
 */
export interface PolicyDecision {
  readonly allow: boolean;
  /** Why — shown to the caller on denial and recorded in audit. */
  readonly reason: string;
  /** On denial for a missing grant: the permission that was missing. */
  readonly missingPermission?: string;
  /** Present when the answer is "needs approval". */
  readonly needsApproval?: ApprovalNeed;
  /** Present when a metered limit refused the attempt. */
  readonly limited?: LimitReached;
}

/** Allowed outright, or allowed once approved: what `tools/list` and search show. */
export function mayAttempt(decision: PolicyDecision): boolean {
  return decision.allow || decision.needsApproval !== undefined;
}

/**
 * Governance port: may this principal do this? Bound exactly once. The same decision filters
 * `tools/list` and gates `tools/call`, so it must be cheap and synchronous-fast; an implementation
 * that needs data loads it while authenticating (into the principal) or keeps a cache.
 */
export interface Policy {
  decide(principal: Principal, request: PolicyRequest): PolicyDecision | Promise<PolicyDecision>;
}

export const Policy = Symbol.for('gatehouse.Policy');
