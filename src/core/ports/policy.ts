import type { Principal } from './principal.js';

/** What is being attempted. */
export interface PolicyRequest {
  /** `tool`, `resource`, `prompt` or a plugin-defined kind. */
  readonly kind: string;
  /** The name of the tool / resource / prompt / operation. */
  readonly name: string;
  /** The permission the target declares (e.g. `tickets:read`); undefined when it declares none. */
  readonly permission: string | undefined;
}

export interface PolicyDecision {
  readonly allow: boolean;
  /** Why — shown to the caller on denial and recorded in audit. */
  readonly reason: string;
  /** On denial for a missing grant: the permission that was missing. */
  readonly missingPermission?: string;
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
