import { inject, injectable } from 'inversify';
import { BackgroundWork, BoundedCache, Database, DependencyUnavailableError, Logger, type LifecycleContribution } from '../../../core/index.js';
import { RepeatedFailureLog } from '../repeated-failure-log.js';
import { AgentRoleIds } from './agent-role-ids.js';
import { LimitStore, type Limit } from './limit-store.js';

/** How often calls made are reported (the `used` an admin sees lags by about this much). */
const REPORT_EVERY_MS = 1_000;
const SWEEP_EVERY_MS = 60_000;
/**
 * Clocks drift apart between two round trips by far less than this (NTP keeps servers within tens
 * of parts per million); a lease's window is taken to end this much earlier, so that drift can
 * never let a lease outlive its window.
 */
const DRIFT = 0.001;
/** Leases ask for about this share of a limit at a time (at least 1, at most 1000 calls). */
const BLOCK_SHARE = 1 / 50;
const MAX_BLOCK = 1_000;
/** After the limits could not be read, how long the last ones read are used before trying again. */
const RETRY_LIMITS_MS = 5_000;
/** A bucket unused this long after its window ended is forgotten. */
const FORGET_AFTER_MS = 60_000;

/** The number of calls one lease asks for: small limits lease one call at a time and stay exact. */
export function blockSize(max: number): number {
  return Math.max(1, Math.min(MAX_BLOCK, Math.ceil(max * BLOCK_SHARE)));
}

/** Who an attempt is counted against. */
export interface MeteredCall {
  readonly tenant: string;
  readonly tool: string;
  /** The agent calling, when it is one; agent and role limits apply to agents only. */
  readonly agentId?: string;
}

/** A limit that refused an attempt, with its window's end by the database's clock. */
export interface MeterRefusal {
  readonly limit: Limit;
  readonly resetsAt: Date;
  readonly retryAfterSeconds: number;
}

interface Bucket {
  readonly limit: Limit;
  readonly subject: string;
  /** Window start by the database clock (epoch ms), once a lease told it. */
  windowStart: number | undefined;
  windowEnd: number;
  /** Local monotonic time until which the lease's window surely has not ended. */
  validUntil: number;
  /** Database time and local time of the last lease (for the time left in the window). */
  dbNow: number;
  localAt: number;
  available: number;
  exhausted: boolean;
  gone: boolean;
  pending: Promise<void> | undefined;
}

/**
 * Meters calls against the tenant's limits with state in PostgreSQL and no database write per
 * call: each instance leases budget for a (limit, subject, window) in blocks with one atomic
 * upsert that never grants more than the limit in a window, spends it locally, and asks for the
 * next block in the background before it runs out.
 *
 * - Windows are cut by the database's clock (UTC), so every instance counts the same window; an
 *   instance uses a lease only while its window has surely not ended (local monotonic time, minus
 *   the lease's round trip and a drift allowance).
 * - Budget left unspent when a window ends, or when an instance dies, is never given back: it
 *   counts as spent, so the limit may refuse a little early but never lets more through.
 * - An instance that has no budget left and cannot reach the database refuses the call (503):
 *   limits fail closed.
 */
@injectable()
export class LimitMeter implements LifecycleContribution {
  private readonly buckets = new Map<string, Bucket>();
  private readonly reports = new Map<string, { limitId: string; tenant: string; subject: string; windowStart: number; calls: number }>();
  private readonly lastKnown = new BoundedCache<readonly Limit[]>({ maxEntries: 10_000, ttlMs: 24 * 3_600_000, sizeOf: (list) => 64 + list.length * 256 });
  private timer: NodeJS.Timeout | undefined;
  private unreachableUntil = 0;
  private reporting: Promise<void> | undefined;
  /** Failures that repeat while the database is out (every call, every report) are logged once per interval. */
  private readonly failures: RepeatedFailureLog;
  /** Attempts metered, and those that waited for a database round trip before they were answered. */
  readonly stats = { attempts: 0, waited: 0, leases: 0 };

  constructor(
    @inject(Database) private readonly database: Database,
    @inject(LimitStore) private readonly store: LimitStore,
    @inject(AgentRoleIds) private readonly roles: AgentRoleIds,
    @inject(BackgroundWork) work: BackgroundWork,
    @inject(Logger) logger: Logger,
  ) {
    this.failures = new RepeatedFailureLog(logger);
    // A changed limit starts afresh: leases taken under the old value are dropped (counted as spent).
    // When changes may have been missed (the feed dropped), the limits are read again and a changed
    // one gets a new bucket (its value is part of the key); budget already held is kept.
    store.onChange((tenant) => {
      if (tenant === undefined) return;
      for (const [key, bucket] of this.buckets) if (bucket.limit.tenant === tenant) this.buckets.delete(key);
    });
    work.every('ee.limits.sweep', SWEEP_EVERY_MS, async (trx) => {
      // Counts of windows that ended over an hour ago are of no further use.
      await trx.raw(
        `delete from mcp_limit_usage u using mcp_limits l
          where u.limit_id = l.id and u.window_start + ('1 ' || l."window")::interval < now() - interval '1 hour'`,
      );
    });
  }

  async start(): Promise<void> {
    this.timer = setInterval(() => {
      this.prune();
      void this.report();
    }, REPORT_EVERY_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.report();
  }

  /**
   * Count one attempt against every limit that applies to it: `undefined` when it may run, else
   * the limit that refused it (nothing is counted then). Throws `DependencyUnavailableError` when
   * a limit applies, no budget is left here and the database cannot be reached.
   */
  async admit(call: MeteredCall): Promise<MeterRefusal | undefined> {
    this.stats.attempts++;
    let waited = false;
    try {
      let limits = this.store.cached(call.tenant);
      if (!limits) {
        waited = true;
        limits = await this.limitsOf(call.tenant);
      }
      if (limits.length === 0) return undefined;
      let roleIds: readonly string[] = [];
      if (call.agentId !== undefined && limits.some((limit) => limit.scope === 'role')) {
        const cached = this.roles.cached(call.tenant, call.agentId);
        if (!cached) waited = true;
        roleIds = cached ?? (await this.roles.of(call.tenant, call.agentId).then(
          (read) => {
            this.failures.works('roles', { tenant: call.tenant }, "an agent's roles can be read again for its call limits");
            return read;
          },
          (error: unknown) => {
            this.failures.failed('roles', 'warn', { err: error, tenant: call.tenant }, "could not read an agent's roles for its call limits; its calls under role limits are refused (503) until they can be read");
            throw new DependencyUnavailableError('The roles of this agent cannot be read for its call limits (the database is unavailable); the call was not run. Try again shortly.', { cause: error, reported: true });
          },
        ));
      }
      const applicable = limits.filter((limit) => applies(limit, call, roleIds));
      if (applicable.length === 0) return undefined;
      const buckets = applicable.map((limit) => this.bucketOf(limit, limit.scope === 'tenant' ? '' : call.agentId!));
      for (;;) {
        const now = performance.now();
        for (const bucket of buckets) this.expire(bucket, now);
        const live = buckets.filter((bucket) => !bucket.gone);
        const starved = live.filter((bucket) => bucket.available === 0 && !bucket.exhausted);
        if (starved.length) {
          waited = true;
          await Promise.all(starved.map((bucket) => this.lease(bucket, true)));
          continue;
        }
        const full = live.filter((bucket) => bucket.available === 0);
        if (full.length) return this.refusal(full, performance.now());
        for (const bucket of live) {
          bucket.available--;
          this.spent(bucket);
          // Ask for the next block before this one runs out, off the caller's path.
          if (bucket.available <= Math.floor(blockSize(bucket.limit.max) / 2) && !bucket.exhausted && !bucket.pending) {
            // A failure is logged; one a waiting call met (this lease shares its round trip) is logged already.
            void this.lease(bucket, false).catch((error: unknown) => {
              if (!(error instanceof DependencyUnavailableError && error.reported)) this.leaseFailed(error, bucket.limit, false);
            });
          }
        }
        return undefined;
      }
    } finally {
      if (waited) this.stats.waited++;
    }
  }

  /**
   * Would an attempt be refused right now? Counts nothing: reads each applicable limit's current
   * window from the database and names the one whose budget is all handed out (for the simulator).
   */
  async wouldRefuse(call: MeteredCall): Promise<MeterRefusal | undefined> {
    const limits = await this.store.limitsOf(call.tenant);
    const roleIds = call.agentId !== undefined && limits.some((limit) => limit.scope === 'role') ? await this.roles.of(call.tenant, call.agentId) : [];
    let refusal: MeterRefusal | undefined;
    for (const limit of limits.filter((entry) => applies(entry, call, roleIds))) {
      const { rows } = (await this.database.knex.raw(
        `with w as (select date_trunc(?, now() at time zone 'UTC') at time zone 'UTC' as start, now() as at)
         select coalesce((select leased from mcp_limit_usage u where u.limit_id = ? and u.subject = ? and u.window_start = w.start), 0) as leased,
                extract(epoch from w.start + ('1 ' || ?)::interval) * 1000 as end_ms, extract(epoch from w.at) * 1000 as now_ms
           from w`,
        [limit.window, limit.id, limit.scope === 'tenant' ? '' : call.agentId!, limit.window],
      )) as { rows: { leased: number; end_ms: string | number; now_ms: string | number }[] };
      const row = rows[0]!;
      if (Number(row.leased) < limit.max) continue;
      const end = Number(row.end_ms);
      if (!refusal || end > refusal.resetsAt.getTime()) {
        refusal = { limit, resetsAt: new Date(end), retryAfterSeconds: Math.max(1, Math.ceil((end - Number(row.now_ms)) / 1000)) };
      }
    }
    return refusal;
  }

  private async limitsOf(tenant: string): Promise<readonly Limit[]> {
    const known = this.lastKnown.get(tenant);
    // While the database is out, the limits last read are used without knocking on every call.
    if (known && performance.now() < this.unreachableUntil) return known;
    try {
      const limits = await this.store.limitsOf(tenant);
      this.failures.works('limits', { tenant }, 'the call limits can be read again');
      this.lastKnown.set(tenant, limits);
      return limits;
    } catch (error) {
      this.unreachableUntil = performance.now() + RETRY_LIMITS_MS;
      // Without the database, the limits last read still hold (and their budgets still run out).
      if (known) {
        this.failures.failed('limits', 'warn', { err: error, tenant, retryInMs: RETRY_LIMITS_MS }, 'could not read the call limits; the limits read last stay in force until they can be read again');
        return known;
      }
      this.failures.failed('limits', 'warn', { err: error, tenant, retryInMs: RETRY_LIMITS_MS }, "could not read the call limits; the tenant's calls are refused (503) until they can be read");
      throw new DependencyUnavailableError('The call limits of this tenant cannot be read (the database is unavailable); the call was not run. Try again shortly.', { cause: error, reported: true });
    }
  }

  private bucketOf(limit: Limit, subject: string): Bucket {
    const key = `${limit.id}\u0000${limit.max}\u0000${subject}`;
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { limit, subject, windowStart: undefined, windowEnd: 0, validUntil: 0, dbNow: 0, localAt: 0, available: 0, exhausted: false, gone: false, pending: undefined };
      this.buckets.set(key, bucket);
    }
    return bucket;
  }

  /** A lease whose window may have ended is no longer used. */
  private expire(bucket: Bucket, now: number): void {
    if (bucket.windowStart === undefined || now < bucket.validUntil) return;
    bucket.available = 0;
    bucket.exhausted = false;
  }

  private refusal(full: readonly Bucket[], now: number): MeterRefusal {
    // The limit that keeps the call out longest is the one to name.
    const latest = full.reduce((a, b) => (b.windowEnd > a.windowEnd ? b : a));
    const dbNow = latest.dbNow + (now - latest.localAt);
    return { limit: latest.limit, resetsAt: new Date(latest.windowEnd), retryAfterSeconds: Math.max(1, Math.ceil((latest.windowEnd - dbNow) / 1000)) };
  }

  private spent(bucket: Bucket): void {
    const key = `${bucket.limit.id}\u0000${bucket.subject}\u0000${bucket.windowStart}`;
    const report = this.reports.get(key);
    if (report) report.calls++;
    else this.reports.set(key, { limitId: bucket.limit.id, tenant: bucket.limit.tenant, subject: bucket.subject, windowStart: bucket.windowStart!, calls: 1 });
  }

  /**
   * Lease the next block of the bucket's current window (by the database's clock). The database
   * grants at most what is left under the limit; nothing left marks the bucket exhausted until
   * the window ends. `waiting`: a call waits for it (else it is a refill in the background).
   */
  private lease(bucket: Bucket, waiting: boolean): Promise<void> {
    if (bucket.pending) return bucket.pending;
    const { limit, subject } = bucket;
    const size = Math.min(blockSize(limit.max), limit.max);
    const askedAt = performance.now();
    const run = async (): Promise<void> => {
      let row: { start_ms: string | number; end_ms: string | number; now_ms: string | number; leased: number | null; last_grant: number | null } | undefined;
      try {
        const result = (await this.database.knex.raw(
          `with w as (select date_trunc(?, now() at time zone 'UTC') at time zone 'UTC' as start, now() as at),
                up as (
                  insert into mcp_limit_usage as u (limit_id, tenant, subject, window_start, leased, last_grant, used)
                  select ?, ?, ?, w.start, ?, ?, 0 from w
                  on conflict (limit_id, subject, window_start) do update
                    set leased = u.leased + least(excluded.last_grant, ? - u.leased),
                        last_grant = least(excluded.last_grant, ? - u.leased)
                    where u.leased < ?
                  returning leased, last_grant)
           select extract(epoch from w.start) * 1000 as start_ms,
                  extract(epoch from w.start + ('1 ' || ?)::interval) * 1000 as end_ms,
                  extract(epoch from w.at) * 1000 as now_ms,
                  up.leased, up.last_grant
             from w left join up on true`,
          [limit.window, limit.id, limit.tenant, subject, size, size, limit.max, limit.max, limit.max, limit.window],
        )) as { rows: NonNullable<typeof row>[] };
        row = result.rows[0];
      } catch (error) {
        if ((error as { code?: unknown })?.code === '23503') {
          // The limit was deleted meanwhile: it no longer applies.
          bucket.gone = true;
          return;
        }
        this.leaseFailed(error, limit, waiting);
        if (waiting) throw new DependencyUnavailableError("The usage counts of this call's limits cannot be reached (the database is unavailable); the call was not run. Try again shortly.", { cause: error, reported: true });
        return;
      }
      this.stats.leases++;
      if (!row) throw new Error('lease query returned no row');
      this.failures.works('lease', { tenant: limit.tenant, limit: limit.id }, 'call budget can be leased again');
      this.failures.works('lease-ahead', { tenant: limit.tenant, limit: limit.id }, 'call budget can be leased in advance again');
      const start = Number(row.start_ms);
      const end = Number(row.end_ms);
      const dbNow = Number(row.now_ms);
      if (bucket.windowStart !== start) {
        // A new window: what was left of the last one is dropped (counted as spent).
        bucket.windowStart = start;
        bucket.available = 0;
      }
      bucket.windowEnd = end;
      bucket.dbNow = dbNow;
      bucket.localAt = askedAt;
      // The database read its clock after `askedAt`: counting from then ends the window early, never late.
      bucket.validUntil = askedAt + (end - dbNow) * (1 - DRIFT);
      const granted = row.last_grant === null ? 0 : Number(row.last_grant);
      bucket.available += granted;
      bucket.exhausted = row.leased === null || Number(row.leased) >= limit.max;
    };
    bucket.pending = run().finally(() => {
      bucket.pending = undefined;
    });
    return bucket.pending;
  }

  /** A lease failed: logged (once per interval while it keeps failing), with what happens to the calls. */
  private leaseFailed(error: unknown, limit: Limit, waiting: boolean): void {
    if (waiting) {
      this.failures.failed('lease', 'warn', { err: error, tenant: limit.tenant, limit: limit.id }, 'could not lease call budget; calls under this limit with no budget left on this instance are refused (503) until the database answers');
    } else {
      this.failures.failed('lease-ahead', 'warn', { err: error, tenant: limit.tenant, limit: limit.id }, 'could not lease call budget in advance; calls spend the budget this instance holds, and the next one asks again');
    }
  }

  /** Forget buckets whose window ended a while ago (they are made again when needed). */
  private prune(): void {
    const now = performance.now();
    for (const [key, bucket] of this.buckets) if (!bucket.pending && bucket.windowStart !== undefined && now > bucket.validUntil + FORGET_AFTER_MS) this.buckets.delete(key);
  }

  /** Report the calls made since the last report (one statement for all of them). */
  async report(): Promise<void> {
    if (this.reporting) return this.reporting;
    if (this.reports.size === 0) return;
    const batch = [...this.reports.values()];
    this.reports.clear();
    this.reporting = (async () => {
      try {
        const values = batch.map(() => '(?::uuid, ?, ?, to_timestamp(?::double precision / 1000), ?::int)').join(', ');
        await this.database.knex.raw(
          `update mcp_limit_usage u set used = u.used + v.calls
             from (values ${values}) as v(limit_id, tenant, subject, window_start, calls)
            where u.limit_id = v.limit_id and u.tenant = v.tenant and u.subject = v.subject and u.window_start = v.window_start`,
          batch.flatMap((report) => [report.limitId, report.tenant, report.subject, report.windowStart, report.calls]),
        );
        this.failures.works('report', { reported: batch.length }, 'call counts are reported again');
      } catch (error) {
        // Kept for the next round: the counts an admin sees lag, the limits themselves do not.
        for (const report of batch) {
          const key = `${report.limitId}\u0000${report.subject}\u0000${report.windowStart}`;
          const later = this.reports.get(key);
          if (later) later.calls += report.calls;
          else this.reports.set(key, report);
        }
        this.failures.failed('report', 'warn', { err: error, pending: this.reports.size }, 'could not report call counts; they are reported with the next round (the limits themselves are unaffected)');
      } finally {
        this.reporting = undefined;
      }
    })();
    return this.reporting;
  }
}

function applies(limit: Limit, call: MeteredCall, roleIds: readonly string[]): boolean {
  if (limit.tool !== null && limit.tool !== call.tool) return false;
  if (limit.scope === 'tenant') return true;
  if (call.agentId === undefined) return false;
  if (limit.scope === 'agent') return limit.agentId === call.agentId;
  return limit.roleId !== null && roleIds.includes(limit.roleId);
}
