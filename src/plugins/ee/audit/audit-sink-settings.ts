import type { AuditRedaction } from './redaction.js';

/** Settings of the database audit sink, from `enterpriseEdition({ audit })`. */
export interface AuditSinkSettings {
  /** Rows per insert; a full batch is written at once. Default 200. */
  readonly batchSize: number;
  /** How often buffered events are written when no batch fills up. Default 200 ms. */
  readonly flushIntervalMs: number;
  /**
   * Buffered events past which the sink stops accepting (the engine answers 503 to new calls) until
   * the buffer has drained to half. Default 10 000. The buffer is hard-capped 10 % above this (room
   * for the outcomes of calls already running): past the cap, recording itself is refused and the
   * request that needed the record fails with 503, so memory stays bounded during an outage.
   */
  readonly maxBuffered: number;
  /** First retry delay after a failed write; doubles per failure up to `maxRetryDelayMs`. Default 100 ms. */
  readonly retryDelayMs: number;
  readonly maxRetryDelayMs: number;
  /**
   * How long `flush()` and `close()` keep retrying before giving up. `close()` holds to it even when
   * a write hangs (a lock on the table): the statement is cancelled and the events lost are logged.
   * Default 30 s.
   */
  readonly flushTimeoutMs: number;
  /** While `flush()`/`close()` wait, a progress line is logged this often. Default 5 s. */
  readonly progressLogMs: number;
  /**
   * How long a durable-before-execute call waits for its intent's commit. Past it (the database is
   * down or too slow) the call is refused (503) without running, and the refusal is recorded.
   * Default 10 s.
   */
  readonly intentTimeoutMs: number;
  /** Stored (redacted) arguments larger than this are replaced by a marker; the digest still covers them. Default 32 KiB. */
  readonly maxArgumentBytes: number;
  /** Authentication failures are summed per tenant, source address and reason over windows this long. Default 60 s. */
  readonly authFailureWindowMs: number;
  /** Distinct (tenant, reason) rows one source address may open per window; further failures are summed. Default 20. */
  readonly authFailureKeysPerSource: number;
  /**
   * Make durable-before-execute the default for tools that change data (no `readOnlyHint`): their
   * audit intent is committed before the handler runs. Tools can still say `durability: 'after'`.
   * Default false.
   */
  readonly durableWrites?: boolean;
  /** How secrets in arguments are redacted. Default: {@link DEFAULT_SECRET_KEYS} and {@link DEFAULT_SECRET_VALUES}. */
  readonly redaction?: AuditRedaction;
}

export const AuditSinkSettings = Symbol.for('gatehouse.ee.AuditSinkSettings');

export const DEFAULT_AUDIT_SINK_SETTINGS: AuditSinkSettings = Object.freeze({
  batchSize: 200,
  flushIntervalMs: 200,
  maxBuffered: 10_000,
  retryDelayMs: 100,
  maxRetryDelayMs: 2_000,
  flushTimeoutMs: 30_000,
  progressLogMs: 5_000,
  intentTimeoutMs: 10_000,
  maxArgumentBytes: 32 * 1024,
  authFailureWindowMs: 60_000,
  authFailureKeysPerSource: 20,
});
