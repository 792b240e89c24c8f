import { inject, injectable } from 'inversify';
import { AuditSink, type AuditEvent } from '../ports/audit-sink.js';
import { Logger, safeLog } from '../log/logger.js';
import { Telemetry } from '../telemetry/telemetry.js';
import { EngineConfig } from '../kernel/config.js';

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';

/**
 * The engine's side of the bound {@link AuditSink}: every event the core records goes through it.
 *
 * A sink's `record` may return a promise (a host's sink that writes each event to its own store).
 * The call is not made to wait for it: it is answered while the sink writes. What the promise does
 * is the engine's to look after, never left to chance: a rejection is logged (`error`, with the
 * event's request id, tenant and action) and counted (`gatehouse.audit.record.failures`), never an
 * unhandled rejection (which would crash a Node host); and `close()` (at engine shutdown) waits
 * for the pending ones, up to the engine's `drainTimeoutMs`, before the sink's own.
 */
@injectable()
export class AuditTrail {
  /** What `record` promises are still running, each already guarded against rejection. */
  private readonly pending = new Set<Promise<void>>();

  constructor(
    @inject(AuditSink) private readonly sink: AuditSink,
    @inject(Logger) private readonly logger: Logger,
    @inject(Telemetry) private readonly telemetry: Telemetry,
    @inject(EngineConfig) private readonly config: EngineConfig,
  ) {}

  /** Whether the sink keeps nothing (the engine then builds no events for it). */
  get recordsNothing(): boolean {
    return this.sink.recordsNothing === true;
  }

  /** Whether the sink takes events now; when it does not, governed calls are refused (never run unaudited). */
  accepting(): boolean {
    return this.sink.accepting();
  }

  /** Whether the sink writes intents (durable before execute). */
  get writesIntents(): boolean {
    return this.sink.recordIntent !== undefined;
  }

  /**
   * Commit a call's intent before its handler runs ({@link AuditSink.recordIntent}); resolves with
   * its id. Only called when {@link writesIntents}.
   */
  recordIntent(event: AuditEvent): Promise<string> {
    return this.sink.recordIntent!(event);
  }

  /** Whether a tool that declares no `durability` has its intent committed first (the sink's default). */
  durableByDefault(tool: { readonly annotations?: { readonly readOnlyHint?: boolean } }): boolean {
    return this.sink.durableByDefault?.(tool) ?? false;
  }

  /**
   * Hand `event` to the sink. What `record` throws at once goes on to the caller; a
   * promise it returns is followed here and never awaited by the caller.
   */
  record(event: AuditEvent): void {
    const returned: unknown = this.sink.record(event);
    if (isThenable(returned)) this.follow(returned, event);
  }

  private follow(returned: PromiseLike<unknown>, event: AuditEvent): void {
    // `Promise.resolve` also turns a thenable whose `then` throws into a rejection, handled below.
    const settled: Promise<void> = Promise.resolve(returned)
      .then(
        () => undefined,
        (error: unknown) => this.refused(error, event),
      )
      .finally(() => this.pending.delete(settled));
    this.pending.add(settled);
  }

  private refused(error: unknown, event: AuditEvent): void {
    try {
      this.telemetry.auditRecordFailed();
    } catch {
      // A metrics exporter that throws must not turn a logged failure into an unhandled one.
    }
    safeLog(
      this.logger,
      'error',
      { err: error, requestId: event.requestId, tenant: event.tenant, action: event.action, outcome: event.outcome },
      'the audit sink could not record an event',
    );
  }

  /**
   * Wait until every event handed to the sink so far is recorded (or refused), at most
   * `drainTimeoutMs`; answers how many are still pending then.
   */
  async settled(withinMs: number = this.config.drainTimeoutMs): Promise<number> {
    const deadline = Date.now() + withinMs;
    // Events recorded while waiting (a call that finishes meanwhile) are waited for too.
    while (this.pending.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, left)));
      await Promise.race([Promise.all(this.pending), timeout]);
      clearTimeout(timer);
    }
    return this.pending.size;
  }

  /** The sink's `close` (engine shutdown), once the events it is still recording are recorded. */
  async close(): Promise<void> {
    this.reportUnsettled(await this.settled());
    await this.sink.close();
  }

  private reportUnsettled(count: number): void {
    if (count === 0) return;
    safeLog(
      this.logger,
      'error',
      { pending: count, waitedMs: this.config.drainTimeoutMs },
      `the audit sink was closed with ${count} event${count === 1 ? '' : 's'} still being recorded (their record() promises had not settled)`,
    );
  }
}
