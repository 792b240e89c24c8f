import { safeLog, type Logger } from '../../core/index.js';

/** How often a failure that keeps repeating is logged again, by default. */
export const REPEATED_FAILURE_LOG_INTERVAL_MS = 60_000;

/**
 * The log of failures that can repeat every round (a report each second, a lease per call): the
 * first failure of a kind is logged at once, and its repeats within the interval are counted and
 * told with the next line (`repeats`), so an outage writes a line per interval, not one per round.
 * Kinds are a fixed few, named by the code that fails.
 */
export class RepeatedFailureLog {
  private readonly kinds = new Map<string, { loggedAt: number; repeats: number }>();

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
    this.kinds.set(kind, { loggedAt: now, repeats: 0 });
  }
}
