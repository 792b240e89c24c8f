import { inject, injectable } from 'inversify';
import type { Knex } from 'knex';
import { Database } from '../ports/database.js';
import { Logger, safeLog } from '../log/logger.js';

interface Job {
  readonly name: string;
  readonly everyMs: number;
  readonly work: (trx: Knex.Transaction) => Promise<void>;
  timer?: NodeJS.Timeout;
}

/**
 * Periodic work for a fleet without a leader: each run takes a PostgreSQL advisory lock named
 * after the job (per schema) for the length of one transaction, so whichever instance gets it
 * does the work and the others skip that round — never two at once. The work receives that
 * transaction and must do its queries through it (the embedded database has one connection).
 */
@injectable()
export class BackgroundWork {
  private readonly jobs = new Map<string, Job>();
  private running = false;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    @inject(Database) private readonly database: Database,
    @inject(Logger) private readonly logger: Logger,
  ) {}

  /** Run `work` about every `everyMs` on one instance of the fleet at a time. */
  every(name: string, everyMs: number, work: (trx: Knex.Transaction) => Promise<void>): void {
    if (this.jobs.has(name)) throw new Error(`Background job "${name}" is registered twice.`);
    const job: Job = { name, everyMs, work };
    this.jobs.set(name, job);
    if (this.running) this.schedule(job);
  }

  /**
   * Run `work` now if no other instance is running the job of that name. Resolves to whether it
   * ran here.
   */
  async runExclusive(name: string, work: (trx: Knex.Transaction) => Promise<void>): Promise<boolean> {
    const run = this.database.knex.transaction(async (trx) => {
      const result = (await trx.raw("select pg_try_advisory_xact_lock(hashtextextended(current_schema() || ':' || ?, 0)) as got", [name])) as { rows: { got: boolean }[] };
      if (!result.rows[0]?.got) return false;
      await work(trx);
      return true;
    });
    this.inFlight.add(run);
    try {
      return await run;
    } finally {
      this.inFlight.delete(run);
    }
  }

  /**
   * Run `work` once another instance running the job of that name is done (it waits for the lock
   * rather than skipping): for work every instance must do itself but no two may do at once, such
   * as writing the batched `last_seen_at` of the rows it saw used.
   */
  async runSerialized<T>(name: string, work: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    const run = this.database.knex.transaction(async (trx) => {
      await trx.raw("select pg_advisory_xact_lock(hashtextextended(current_schema() || ':' || ?, 0))", [name]);
      return work(trx);
    });
    this.inFlight.add(run);
    try {
      return await run;
    } finally {
      this.inFlight.delete(run);
    }
  }

  start(): void {
    this.running = true;
    for (const job of this.jobs.values()) this.schedule(job);
  }

  /** Stop scheduling and wait for runs in progress. */
  async stop(): Promise<void> {
    this.running = false;
    for (const job of this.jobs.values()) if (job.timer) clearTimeout(job.timer);
    await Promise.allSettled([...this.inFlight]);
  }

  private schedule(job: Job): void {
    // A little jitter, so instances started together do not all knock at once.
    const delay = job.everyMs * (0.8 + Math.random() * 0.4);
    job.timer = setTimeout(() => {
      void this.runExclusive(job.name, job.work)
        .catch((error: unknown) => safeLog(this.logger, 'warn', { err: error, job: job.name }, 'background job failed; it runs again next round'))
        .finally(() => {
          if (this.running) this.schedule(job);
        });
    }, delay);
    job.timer.unref();
  }
}
