import { inject, injectable } from 'inversify';
import type { AuditEvent, AuditOutcome } from '../ports/audit-sink.js';
import { AuditTrail } from '../audit/audit-trail.js';
import { Policy, type LimitReached, type PolicyDecision, type PolicyRequest } from '../ports/policy.js';
import { Logger, safeLog } from '../log/logger.js';
import { AuditUnavailableError, DependencyUnavailableError, GatehouseError, PermissionDeniedError, ToolError } from '../errors.js';
import { EngineConfig } from '../kernel/config.js';
import { callAuditEvent, type CallContext } from './call-context.js';
import { Telemetry } from '../telemetry/telemetry.js';
import { isExpired, withinDeadline } from './deadlines.js';
import { connectionLost, databaseUnavailable, replyTimedOut } from '../db/lost-connection.js';
import { refusedValue } from '../db/refused-value.js';
import { clipClientText } from '../client-text.js';
import { UnsendableAnswer } from './sendable-answer.js';

/** A schema the sequence can validate with (zod's `safeParse` shape). */
export interface ArgumentSchema<T = unknown> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] } };
}

/**
 * The caller-safe text of validation issues: at most ten, `path: message`, `; `-separated. Paths
 * hold the client's own keys and messages may quote them (`Unrecognized key: "…"`): each is clipped.
 */
export function describeIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues
    .slice(0, 10)
    .map((issue) => (issue.path.length ? `${clipClientText(issue.path.map(String).join('.'))}: ${clipClientText(issue.message)}` : clipClientText(issue.message)))
    .join('; ');
}

/** A limit's facts as one caller-safe phrase: `max 100 per minute (scope agent, tool tickets.read)`. */
function describeLimit(limit: Readonly<Record<string, string | number>>): string {
  const { max, window, ...rest } = limit;
  const facts = Object.entries(rest).map(([key, value]) => `${key} ${value}`);
  return `${max ?? '?'} calls per ${window ?? 'window'}${facts.length ? ` (${facts.join(', ')})` : ''}`;
}

/** Why a governed call did not go through; each pipeline maps it onto its own error tier. */
export type Refusal =
  | { readonly kind: 'denied'; readonly reason: string; readonly message: string; readonly missingPermission?: string }
  | { readonly kind: 'limited'; readonly reason: string; readonly message: string; readonly limited: LimitReached }
  | { readonly kind: 'invalid'; readonly message: string };

/** How a handler run ended when it threw. `thrown` is the raw value, for pipeline-specific tiers. */
export type Failure =
  | { readonly kind: 'denied'; readonly message: string; readonly thrown: unknown }
  | { readonly kind: 'error'; readonly message: string; readonly thrown: unknown }
  | { readonly kind: 'failed'; readonly message: string; readonly thrown: unknown }
  | { readonly kind: 'timeout'; readonly message: string; readonly thrown: undefined };

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';

/** The reason a handler's signal is aborted with when its call ran past its deadline. */
export class DeadlineExceededError extends GatehouseError {
  constructor(readonly deadlineMs: number) {
    super('deadline_exceeded', `The call did not finish within ${deadlineMs} ms.`);
  }
}

/** Arguments checked against a schema: the parsed value, or what is wrong (undefined: not an object). */
export type Checked<T> = { readonly ok: true; readonly data: T } | { readonly ok: false; readonly detail: string | undefined };

/** What asking the policy of a call that can be held for approval answered. */
export type Approvable = { readonly refusal?: Refusal; readonly needsApproval?: PolicyDecision };

const NOT_REFUSED: Approvable = Object.freeze({});

export type Ran<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly failure: Failure };

/** Reads a property of a thrown value without letting a hostile getter or proxy throw again. */
function probe<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

/**
 * One governed MCP call (a tool, a resource read, a prompt): the shared policy → audit → validate
 * → execute sequence. Every path records exactly one audit event, and records it before anything
 * is logged, so a logger that fails cannot lose the event.
 */
export class GovernedCall {
  private readonly started = performance.now();
  private recorded = false;
  /** What the policy answered, once it has. */
  private decided: AuditEvent['decision'] | undefined;
  /** Whether the handler was started. */
  private executing = false;
  /** The name the caller asked for (the audit target may be narrowed later). */
  private readonly requested: string;

  constructor(
    private readonly audit: AuditTrail,
    private readonly policy: Policy,
    private readonly logger: Logger,
    private readonly telemetry: Telemetry,
    /** How long a handler may run before its signal is aborted and the caller answered. */
    private readonly deadlineMs: number,
    readonly call: CallContext,
    readonly action: string,
    /** What the audit row names; a tool may narrow it (`auditTarget`) while it runs. */
    public target: string,
    readonly args: unknown,
    public details?: Readonly<Record<string, unknown>>,
  ) {
    this.requested = target;
  }

  /** Record the call's one audit event. Later calls are ignored: one call, one row. */
  record(outcome: AuditOutcome, decision: AuditEvent['decision'], reason: string | undefined): void {
    if (this.recorded) return;
    this.recorded = true;
    const { target, details, args } = this;
    const known = !(outcome === 'refused' && reason === 'unknown tool');
    this.telemetry.governed(this.call.observation, this.call.principal.tenant, this.action, known ? this.requested : undefined, decision, outcome);
    // A sink that keeps nothing (the Community Edition's) is not handed an event to throw away.
    if (this.audit.recordsNothing) return;
    const event = callAuditEvent(this.call, this.started, { action: this.action, target, details, decision, reason, outcome, arguments: args });
    this.audit.record(this.intentId === undefined ? event : { ...event, intentId: this.intentId });
  }

  /**
   * Durable before execute: commit the call's intent before the handler runs (when the audit sink
   * supports it). Rejects with `AuditUnavailableError` when it cannot be written: the call must not run.
   */
  async intent(): Promise<void> {
    if (!this.audit.writesIntents) return;
    const { target, details, args } = this;
    this.intentId = await this.audit.recordIntent(
      callAuditEvent(this.call, this.started, { action: this.action, target, details, decision: 'allowed', reason: undefined, outcome: 'intent', arguments: args }),
    );
  }

  private intentId: string | undefined;

  /** Ask the policy without recording (listing, completion). */
  decide(request: PolicyRequest): Promise<PolicyDecision> {
    return Promise.resolve(this.decideNow(request));
  }

  /** The policy's answer as it gives it: the decision itself when the policy answers at once. */
  private decideNow(request: PolicyRequest): PolicyDecision | Promise<PolicyDecision> {
    return this.telemetry.span('gatehouse.policy', this.call.observation, () => this.policy.decide(this.call.principal, request));
  }

  /**
   * Ask the policy. A denial is recorded and returned; an allowed call is refused with
   * `AuditUnavailableError` when the audit trail cannot take its event (never run unaudited).
   */
  async authorize(request: PolicyRequest): Promise<Refusal | undefined> {
    return this.authorizeDecided(await this.decideNow(request));
  }

  /**
   * Like {@link authorize}, for a call that can be held for approval: a "needs approval" answer is
   * returned as `needsApproval` (not recorded) for the caller to settle through the approval gate.
   * When the policy answers at once, so does this (no promise): the caller checks for a thenable.
   */
  authorizeApprovable(request: PolicyRequest): Approvable | Promise<Approvable> {
    const decision = this.decideNow(request);
    return isThenable(decision) ? Promise.resolve(decision).then((answer) => this.approvable(answer)) : this.approvable(decision);
  }

  private approvable(decision: PolicyDecision): Approvable {
    if (!decision.allow && decision.needsApproval) {
      this.decided = 'needs-approval';
      if (!this.audit.accepting()) throw new AuditUnavailableError();
      return { needsApproval: decision };
    }
    const refusal = this.authorizeDecided(decision);
    return refusal ? { refusal } : NOT_REFUSED;
  }

  private authorizeDecided(decision: PolicyDecision): Refusal | undefined {
    if (!decision.allow && decision.limited) {
      const { limit, resetsAt, retryAfterSeconds } = decision.limited;
      this.details = { ...this.details, limit, resetsAt: resetsAt.toISOString() };
      this.record('denied', 'denied', decision.reason);
      const message = `Limit reached: ${describeLimit(limit)}; it resets at ${resetsAt.toISOString()} (retry in ${retryAfterSeconds} s).`;
      return { kind: 'limited', reason: decision.reason, message, limited: decision.limited };
    }
    if (!decision.allow) {
      this.record('denied', 'denied', decision.reason);
      return { kind: 'denied', reason: decision.reason, message: `Permission denied: ${decision.reason}`, missingPermission: decision.missingPermission };
    }
    this.decided = 'allowed';
    if (!this.audit.accepting()) throw new AuditUnavailableError();
    return undefined;
  }

  /**
   * Check the arguments (an object, then the schema if any) without recording anything: the
   * policy's call context carries the checked arguments; {@link validate} records the refusal.
   */
  check<T>(schema: ArgumentSchema<T> | undefined): Checked<T> {
    const { args } = this;
    if (typeof args !== 'object' || args === null || Array.isArray(args)) return { ok: false, detail: undefined };
    if (!schema) return { ok: true, data: args as T };
    const parsed = schema.safeParse(args);
    return parsed.success ? { ok: true, data: parsed.data } : { ok: false, detail: describeIssues(parsed.error.issues) };
  }

  /** Validate the arguments (an object, then the schema if any); a refusal is recorded. */
  validate<T>(schema: ArgumentSchema<T> | undefined, what: string, checked: Checked<T> = this.check(schema)): { ok: true; data: T } | { ok: false; refusal: Refusal } {
    if (checked.ok) return checked;
    if (checked.detail === undefined) {
      this.record('refused', 'allowed', 'invalid arguments');
      return { ok: false, refusal: { kind: 'invalid', message: `Invalid arguments for ${what}: "arguments" must be an object.` } };
    }
    this.record('refused', 'allowed', `invalid arguments: ${checked.detail}`);
    return { ok: false, refusal: { kind: 'invalid', message: `Invalid arguments for ${what}: ${checked.detail}` } };
  }

  /**
   * Run the handler. Whatever it throws (any value at all) ends as a `Failure`, recorded first and
   * logged after; `isCallerError` lets a pipeline pass its own caller-facing errors through as
   * `error` outcomes. The success outcome is left to the caller, which may still reject the value.
   * A handler that answers at once is answered at once (no promise): the caller checks for a thenable.
   */
  execute<T>(
    run: () => Promise<T> | T,
    what: string,
    isCallerError: (thrown: unknown) => string | undefined = () => undefined,
    deadlineMs: number = this.deadlineMs,
  ): Ran<T> | Promise<Ran<T>> {
    let value: T | Promise<T>;
    this.executing = true;
    try {
      value = this.telemetry.span('gatehouse.handler', this.call.observation, run) as T | Promise<T>;
    } catch (thrown) {
      return { ok: false, failure: this.fail(thrown, what, isCallerError) };
    }
    // A handler that answered at once needs no deadline and no promise: nothing is left to wait for.
    return isThenable(value) ? this.settle(value, what, isCallerError, deadlineMs) : { ok: true, value };
  }

  private async settle<T>(value: PromiseLike<T>, what: string, isCallerError: (thrown: unknown) => string | undefined, deadlineMs: number): Promise<Ran<T>> {
    try {
      const settled = await withinDeadline(value, deadlineMs);
      if (!isExpired(settled)) return { ok: true, value: settled as T };
    } catch (thrown) {
      return { ok: false, failure: this.fail(thrown, what, isCallerError) };
    }
    // The handler is told to stop; the caller is answered now whether or not it listens.
    this.call.abort?.(new DeadlineExceededError(deadlineMs));
    this.record('failed', 'allowed', `deadline exceeded (${deadlineMs} ms)`);
    return { ok: false, failure: { kind: 'timeout', message: `${what} did not finish within ${deadlineMs} ms (request ${this.call.requestId}).`, thrown: undefined } };
  }

  /**
   * Record a call that an unexpected error stopped (a fault of the engine or a plugin, a backing
   * service that is down), unless its event is recorded already: whatever ends a governed call, it
   * leaves its audit event. The error itself goes on to the caller (500, or 503 for an outage).
   */
  stopped(thrown: unknown): void {
    if (this.recorded) return;
    // A trail that refuses events is what the caller is told (503); there is nothing to record it in.
    if (probe(() => thrown instanceof AuditUnavailableError, false)) return;
    const outage = probe(() => thrown instanceof DependencyUnavailableError || databaseUnavailable(thrown), false);
    const cause = outage ? 'a backing service was unavailable' : 'internal error';
    const reason = this.decided === undefined ? `the policy could not decide: ${cause}` : this.executing ? `${cause} after the handler started` : `${cause}; the handler did not run`;
    try {
      this.record(this.decided === undefined ? 'refused' : 'failed', this.decided ?? 'denied', reason);
    } catch {
      // The trail is at its hard cap: the caller is refused all the same.
    }
    if (!outage) safeLog(this.logger, 'error', { err: thrown, target: clipClientText(this.target), requestId: this.call.requestId }, 'governed call stopped by an unexpected error');
  }

  /** Record and log an internal failure found after the handler returned (e.g. a bad result). */
  internalFailure(reason: string, what: string, fields: Record<string, unknown>): Failure {
    this.record('failed', 'allowed', reason);
    safeLog(this.logger, 'error', { ...fields, requestId: this.call.requestId }, reason);
    return { kind: 'failed', message: `${what} failed with an internal error (request ${this.call.requestId}).`, thrown: undefined };
  }

  /**
   * Record and log a handler's answer that cannot be sent (see `UnsendableAnswer`): the caller is
   * told what is wrong with it, and the audit trail records the same, never a success.
   */
  unsendable(problem: string, what: string): Failure {
    this.record('failed', 'allowed', `the answer cannot be sent: ${problem}`);
    safeLog(this.logger, 'error', { target: clipClientText(this.target), requestId: this.call.requestId, problem }, 'handler answered something that cannot be sent');
    return { kind: 'failed', message: `${what} returned an answer that cannot be sent: ${problem} (request ${this.call.requestId}).`, thrown: undefined };
  }

  private fail(thrown: unknown, what: string, isCallerError: (thrown: unknown) => string | undefined): Failure {
    if (probe(() => thrown instanceof PermissionDeniedError, false)) {
      const { reason, message } = thrown as PermissionDeniedError;
      this.record('denied', 'denied', reason);
      return { kind: 'denied', message, thrown };
    }
    const unsendable = probe(() => (thrown instanceof UnsendableAnswer ? thrown.problem : undefined), undefined);
    if (unsendable !== undefined) return this.unsendable(unsendable, what);
    const callerMessage = probe(() => (thrown instanceof ToolError ? thrown.message : isCallerError(thrown)), undefined);
    if (callerMessage !== undefined) {
      this.record('error', 'allowed', callerMessage);
      return { kind: 'error', message: callerMessage, thrown };
    }
    // [what the audit records, what the caller is told]
    const lost = probe(
      (): readonly [string, string] | undefined =>
        connectionLost(thrown)
          ? ['the database connection was lost', 'the connection to the database was lost']
          : replyTimedOut(thrown)
            ? ['the database stopped answering', 'the database stopped answering']
            : undefined,
      undefined,
    );
    if (lost !== undefined) {
      // The handler's own write may or may not have committed: say so, never "failed".
      this.record('unknown', 'allowed', `${lost[0]} while the call was writing`);
      safeLog(this.logger, 'error', { err: thrown, target: clipClientText(this.target), requestId: this.call.requestId }, 'handler lost its database: outcome unknown');
      return {
        kind: 'failed',
        message: `${what}: the outcome is unknown — ${lost[1]} while the call was writing, so its change may or may not have been applied; check before retrying (request ${this.call.requestId}).`,
        thrown,
      };
    }
    // PostgreSQL refused a value of the handler's statement (a NUL in text, a duplicate, a reference
    // to nothing): the arguments are wrong, and the caller is told which rule they broke.
    const refused = probe(() => refusedValue(thrown), undefined);
    if (refused !== undefined) {
      this.record('error', 'allowed', `the database refused a value (SQLSTATE ${refused.code}): ${refused.description}`);
      safeLog(this.logger, 'warn', { err: thrown, target: clipClientText(this.target), requestId: this.call.requestId }, 'handler statement refused by the database');
      return { kind: 'error', message: `${what} was refused by the database: ${refused.description} (SQLSTATE ${refused.code}; request ${this.call.requestId}).`, thrown };
    }
    this.record('failed', 'allowed', this.call.signal.aborted ? 'aborted' : 'handler threw');
    safeLog(this.logger, 'error', { err: thrown, target: clipClientText(this.target), requestId: this.call.requestId }, 'handler failed');
    return { kind: 'failed', message: `${what} failed with an internal error (request ${this.call.requestId}).`, thrown };
  }
}

/** Starts governed calls; one per MCP request that runs a handler. */
@injectable()
export class GovernedCalls {
  constructor(
    @inject(AuditTrail) private readonly audit: AuditTrail,
    @inject(Policy) private readonly policy: Policy,
    @inject(Logger) private readonly logger: Logger,
    @inject(Telemetry) private readonly telemetry: Telemetry,
    @inject(EngineConfig) private readonly config: EngineConfig,
  ) {}

  /** Whether a tool's intent must be committed before its handler runs. */
  durable(tool: { readonly durability?: 'before' | 'after'; readonly annotations?: { readonly readOnlyHint?: boolean } }): boolean {
    if (tool.durability !== undefined) return tool.durability === 'before';
    return this.audit.durableByDefault(tool);
  }

  begin(call: CallContext, action: string, target: string, args: unknown, details?: Readonly<Record<string, unknown>>): GovernedCall {
    return new GovernedCall(this.audit, this.policy, this.logger, this.telemetry, this.config.callTimeoutMs, call, action, target, args, details);
  }
}
