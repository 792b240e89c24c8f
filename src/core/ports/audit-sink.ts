import type { Principal } from './principal.js';

/** `needs-approval`: held for a person's approval (not run). */
export type AuditDecision = 'allowed' | 'denied' | 'needs-approval' | 'auth-failed' | 'admin';
export type AuditOutcome = 'success' | 'error' | 'failed' | 'denied' | 'refused';

/** One governed event. */
export interface AuditEvent {
  readonly time: Date;
  readonly tenant: string;
  /** Undefined for authentication failures. */
  readonly principal: Principal | undefined;
  /** The MCP method or admin action, e.g. `tools/call`, `agents.update`. */
  readonly action: string;
  /** Tool, resource, prompt or admin object concerned. */
  readonly target: string | undefined;
  readonly decision: AuditDecision;
  readonly reason: string | undefined;
  /**
   * `success`: ran and returned; `error`: ran and returned a tool error; `failed`: crashed;
   * `denied`: refused by policy; `refused`: refused before running (bad input, auth failure).
   */
  readonly outcome: AuditOutcome;
  /** Call arguments as received; the sink is responsible for redaction before storing. */
  readonly arguments: unknown;
  readonly latencyMs: number | undefined;
  readonly requestId: string;
  readonly clientAddress: string | undefined;
  /** Extra facts (issuer and subject of a failed token, the operation id of a registry call…). */
  readonly details?: Readonly<Record<string, unknown>>;
}

/**
 * Governance port: records what happened. Bound exactly once. `record` is called on the request
 * path and must not block: implementations buffer and persist in the background. They must not
 * lose accepted events; when they cannot accept more, `accepting()` turns false and the engine
 * refuses new governed calls (HTTP 503) instead of running them unaudited.
 */
export interface AuditSink {
  record(event: AuditEvent): void;
  accepting(): boolean;
  /** Persist everything recorded so far. */
  flush(): Promise<void>;
  /** Flush and stop. Called by `engine.close()` after in-flight requests have drained. */
  close(): Promise<void>;
}

export const AuditSink = Symbol.for('gatehouse.AuditSink');
