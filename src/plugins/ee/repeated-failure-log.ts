import { safeLog, type Logger } from '../../core/index.js';

/** How often a failure that keeps repeating is logged again, by default. */
export const REPEATED_FAILURE_LOG_INTERVAL_MS = 60_000;

/**
 * The log of failures that can repeat every round (a report each second, a lease per call): the
 * first failure of a kind is logged at once, and its repeats within the interval are counted and
 * told with the next line (`repeats`), so an outage writes a line per interval, not one per round.
 * When the failing work succeeds again, one `info` line says so with the repeats not yet told and
 * since when it failed (so the count of a failure that stops is never lost). Kinds are a fixed
 * few, named by the code that fails.
 */
export class RepeatedFailureLog {
  private readonly kinds = new Map<string, { since: number; loggedAt: number; repeats: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = REPEATED_FAILURE_LOG_INTERVAL_MS,
  ) {}

  /** A failure of `kind`: logged now, or counted when one was logged less than the interval ago. */
  failed(kind: string, level: 'warn' | 'error', fields: Record<string, unknown>, message: string): void {
    const now = Date.now();
    const last = this.kinds.get(kind);
    if (last && now - last.loggedAt < this.intervalMs) {
      last.repeats++;
      return;
    }
    safeLog(this.logger, level, last?.repeats ? { ...fields, repeats: last.repeats } : fields, message);
    this.kinds.set(kind, { since: last?.since ?? now, loggedAt: now, repeats: 0 });
  }

  /** The work of `kind` succeeded: if it was failing, one line says it works again (cheap otherwise). */
  works(kind: string, fields: Record<string, unknown>, message: string): void {
    if (this.kinds.size === 0) return;
    const last = this.kinds.get(kind);
    if (!last) return;
    this.kinds.delete(kind);
    const now = Date.now();
    safeLog(this.logger, 'info', { ...fields, repeats: last.repeats, failingSince: new Date(last.since).toISOString(), durationMs: now - last.since }, message);
  }
}
