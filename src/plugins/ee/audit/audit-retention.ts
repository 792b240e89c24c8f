import { inject, injectable } from 'inversify';
import { ConfigError, Database, Logger, safeLog, type LifecycleContribution } from '../../../core/index.js';
import type { Checkpoint } from './audit-chain.js';
import { AuditCheckpointer } from './audit-checkpointer.js';
import { AUDIT_TABLE, ensurePartition, listPartitions } from './audit-partitions.js';

/** `enterpriseEdition({ audit: { retention } })`. */
export interface RetentionSettings {
  /** Months whose every row is older than this many days are dropped. Unset: keep everything. */
  readonly olderThanDays: number | undefined;
  /** Prune once a day (on whichever instance takes the lock first). Default false. */
  readonly daily: boolean;
}

export const RetentionSettings = Symbol.for('gatehouse.ee.RetentionSettings');

export interface PruneResult {
  /** Partitions dropped, oldest first. */
  readonly dropped: readonly string[];
  /** Checkpoints signed at each cut tenant chain's new start. */
  readonly anchors: readonly Checkpoint[];
  /** False when another instance was pruning at the same time (nothing was done). */
  readonly ran: boolean;
}

const RETENTION_LOCK = 7_240_014_002;
const DAY_MS = 86_400_000;

/** The longest retention a prune takes (a hundred years): a cutoff further back is not a date. */
export const MAX_RETENTION_DAYS = 36_500;

/** When the next daily round runs, as logged with a failure. */
const nextRound = (): string => new Date(Date.now() + DAY_MS).toISOString();

/**
 * Retention of the audit trail by whole month partitions, and partition upkeep. Before a
 * partition is dropped, each tenant chain it holds gets a signed checkpoint at its new start (the
 * last seq dropped), so what remains still verifies.
 */
@injectable()
export class AuditRetention implements LifecycleContribution {
  private timer: NodeJS.Timeout | undefined;

  constructor(
    @inject(Database) private readonly database: Database,
    @inject(AuditCheckpointer) private readonly checkpointer: AuditCheckpointer,
    @inject(RetentionSettings) private readonly settings: RetentionSettings,
    @inject(Logger) private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    await this.upkeep();
    // The upkeep has just run: the first prune follows at once, the rounds a day apart.
    void this.retain();
    this.timer = setInterval(() => void this.round(), DAY_MS);
    this.timer.unref();
  }

  /**
   * The daily round: partition upkeep, then, when daily retention is on, the prune. Never throws:
   * what failed, or a prune skipped because another session holds the retention lock, is logged
   * with what happens next (the next round, a day later, tries again).
   */
  private async round(): Promise<void> {
    try {
      await this.upkeep();
    } catch (error) {
      safeLog(this.logger, 'error', { err: error, nextAttemptAt: nextRound() }, "audit partition upkeep failed: next month's partition may be missing; the next daily round tries again");
      return;
    }
    await this.retain();
  }

  /** The prune of a round, when daily retention is on; never throws (see {@link round}). */
  private async retain(): Promise<void> {
    const days = this.settings.olderThanDays;
    if (!this.settings.daily || days === undefined) return;
    let result: PruneResult;
    try {
      result = await this.prune(days);
    } catch (error) {
      safeLog(this.logger, 'error', { err: error, olderThanDays: days, nextAttemptAt: nextRound() }, 'audit retention failed: nothing was dropped; the next daily round tries again');
      return;
    }
    if (!result.ran) {
      safeLog(this.logger, 'warn', { olderThanDays: days, nextAttemptAt: nextRound() }, 'audit retention skipped: another session holds the retention lock (another instance pruning); the next daily round tries again');
    } else if (result.dropped.length) {
      safeLog(this.logger, 'info', { dropped: result.dropped, anchors: result.anchors.length }, 'audit retention dropped old partitions');
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** This month's and next month's partitions exist before the first write needs them. */
  private async upkeep(): Promise<void> {
    const now = new Date();
    await ensurePartition(this.database.knex, now);
    await ensurePartition(this.database.knex, new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1)));
  }

  /** Drop every month partition whose rows are all older than `olderThanDays` days. */
  async prune(olderThanDays: number, now = new Date()): Promise<PruneResult> {
    if (!Number.isFinite(olderThanDays) || olderThanDays <= 0 || olderThanDays > MAX_RETENTION_DAYS) {
      throw new ConfigError(`Retention needs a positive number of days, at most ${MAX_RETENTION_DAYS}.`);
    }
    const cutoff = new Date(now.getTime() - olderThanDays * DAY_MS);
    const droppable = (await listPartitions(this.database.knex)).filter((p) => p.to <= cutoff);
    if (droppable.length === 0) return { dropped: [], anchors: [], ran: true };
    if (!this.checkpointer.enabled) {
      throw new ConfigError('Pruning the audit trail needs a checkpoint signing key (audit.checkpoints.signingKey), so the rest of the chain stays verifiable.');
    }
    const boundary = droppable[droppable.length - 1]!.to;
    const result = await this.database.knex.transaction(async (trx) => {
      const locked = (await trx.raw('select pg_try_advisory_xact_lock(?) as locked', [RETENTION_LOCK])) as { rows: { locked: boolean }[] };
      if (!locked.rows[0]?.locked) return { dropped: [], anchors: [], ran: false };
      const cuts = (await trx.raw(
        `select distinct on (tenant) tenant, seq, hash from ?? where occurred_at < ? order by tenant, seq desc`,
        [AUDIT_TABLE, boundary],
      )) as { rows: { tenant: string; seq: string; hash: string }[] };
      const anchors: Checkpoint[] = [];
      for (const cut of cuts.rows) {
        // Rows chained before the cut but timed just past the month's end go with it: the chain stays whole.
        await trx(AUDIT_TABLE).where({ tenant: cut.tenant }).andWhere('seq', '<=', cut.seq).andWhere('occurred_at', '>=', boundary).delete();
        const anchor = await this.checkpointer.anchor(trx, cut.tenant, Number(cut.seq), cut.hash);
        if (anchor) anchors.push(anchor);
      }
      for (const partition of droppable) await trx.raw('drop table ??', [partition.name]);
      return { dropped: droppable.map((p) => p.name), anchors, ran: true };
    });
    await this.checkpointer.publish(result.anchors);
    return result;
  }
}
