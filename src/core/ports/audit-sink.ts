import type { Principal } from './principal.js';

/** `needs-approval`: held for a person's approval (not run). */
export type AuditDecision = 'allowed' | 'denied' | 'needs-approval' | 'auth-failed' | 'admin';
export type AuditOutcome = 'success' | 'error' | 'failed' | 'denied' | 'refused' | 'intent' | 'unknown';

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
   * `success`: ran and its answer was sent; `error`: ran and returned a tool error; `failed`:
   * crashed, or answered something that cannot be sent (the reason says what);
   * `denied`: refused by policy; `refused`: refused before running (bad input, auth failure);
   * `intent`: about to run (durable-before-execute); `unknown`: it may or may not have taken
   * effect (the database connection was lost while it committed, or its instance died).
   */
  readonly outcome: AuditOutcome;
  /** Call arguments as received; the sink is responsible for redaction before storing. */
  readonly arguments: unknown;
  readonly latencyMs: number | undefined;
  readonly requestId: string;
  readonly clientAddress: string | undefined;
  /** Extra facts (issuer and subject of a failed token, the operation id of a registry call…). */
  readonly details?: Readonly<Record<string, unknown>>;
  /** The id {@link AuditSink.recordIntent} returned, on the event that completes that intent. */
  readonly intentId?: string;
}

/**
 * Governance port: records what happened. Bound exactly once. `record` is called on the request
 * path and must not block: implementations buffer and persist in the background. They must not
 * lose accepted events; when they cannot accept more, `accepting()` turns false and the engine
 * refuses new governed calls (HTTP 503) instead of running them unaudited.
 */
export interface AuditSink {
  /**
   * True for a sink that keeps nothing (the Community Edition's no-op): the engine then does not
   * build the events it would discard. `record` must still be safe to call.
   */
  readonly recordsNothing?: boolean;
  /**
   * Take one event. Called on the request path: the call is answered without waiting for it.
   * It may return a promise (a sink that writes each event to the host's own store): the engine
   * does not await it on the request path, but follows it — a rejection is logged at `error` with
   * the event's request id, tenant and action, and counted (`gatehouse.audit.record.failures`),
   * never left as an unhandled rejection; `engine.close()` waits for the pending ones (up to
   * `drainTimeoutMs`) before calling {@link close}. An event whose promise rejects is lost to the
   * trail: a sink that must not lose events buffers them and retries itself. Throwing at once is
   * for a sink that cannot take the event at all (the caller's request fails); prefer turning
   * {@link accepting} false before that point.
   */
  record(event: AuditEvent): void | PromiseLike<void>;
  accepting(): boolean;
  /**
   * Durable before execute (optional). Persist `event` (outcome `intent`) and resolve with its id
   * once it is committed; the engine runs the handler only then, and records the call's outcome
   * with `intentId` set. Concurrent intents are written together (one round trip for all). An
   * intent that is never completed (the process died) is recorded as outcome `unknown` by the next
   * instance that starts. Rejects with `AuditUnavailableError` when it cannot take the event.
   */
  recordIntent?(event: AuditEvent): Promise<string>;
  /** Whether a tool that declares no `durability` needs its intent written first (default: no). */
  durableByDefault?(tool: { readonly annotations?: { readonly readOnlyHint?: boolean } }): boolean;
  /** Persist everything recorded so far. */
  flush(): Promise<void>;
  /** Flush and stop. Called by `engine.close()` after in-flight requests have drained. */
  close(): Promise<void>;
}

export const AuditSink = Symbol.for('gatehouse.AuditSink');
