import type { AuditSink } from '../ports/audit-sink.js';
import type { Database } from '../ports/database.js';
import type { ChangeFeed } from '../ports/change-feed.js';
import type { MigrationSource } from '../ports/migrations.js';
import type { ReadinessCheck, ReadinessResult } from '../ports/readiness-check.js';
import { pendingMigrations } from '../db/migrator.js';
import { json, type HttpResponse } from '../http/types.js';

const CHECK_TIMEOUT_MS = 2000;

async function within(check: () => Promise<ReadinessResult>, what: string, failure = `${what} failed.`): Promise<ReadinessResult> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<ReadinessResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, reason: `${what} did not answer within ${CHECK_TIMEOUT_MS / 1000} s.` }), CHECK_TIMEOUT_MS);
  });
  try {
    return await Promise.race([check().catch((): ReadinessResult => ({ ok: false, reason: failure })), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `/healthz` (the process is alive and serving; it touches no dependency) and `/readyz` (this
 * instance can take traffic: the database answers, its migrations are current, the audit sink
 * accepts events, the change listener is connected where one is used, and every contributed
 * {@link ReadinessCheck} passes), each with reasons in JSON.
 */
export class HealthChecks {
  private migrationsCurrent = false;

  constructor(
    private readonly database: Database,
    private readonly changes: ChangeFeed,
    private readonly audit: () => AuditSink,
    private readonly migrations: readonly MigrationSource[],
    private readonly contributed: () => readonly ReadinessCheck[],
  ) {}

  live(instance: string): HttpResponse {
    // A lost change listener leaves the instance serving, with caches on their time-to-live.
    const feed = this.changes.state();
    return json(200, {
      status: feed.status === 'lost' ? 'degraded' : 'ok',
      database: this.database.kind,
      instance,
      changes: { mode: feed.mode, status: feed.status, since: feed.since.toISOString(), detail: feed.detail },
    });
  }

  async ready(): Promise<HttpResponse> {
    const database = await within(async () => {
      await this.database.knex.raw('select 1');
      return { ok: true };
    }, 'The database', 'The database is not reachable.');
    const checks: Record<string, ReadinessResult> = {
      database: database.ok ? { ok: true, reason: `${this.database.kind} database reachable` } : { ok: false, reason: database.reason ?? 'The database is not reachable.' },
      migrations: database.ok ? await within(() => this.checkMigrations(), 'The migration check') : { ok: false, reason: 'Unknown: the database is not reachable.' },
      listen: this.listening(),
      audit: this.audit().accepting() ? { ok: true } : { ok: false, reason: 'The audit sink is not accepting events (its buffer is full); governed calls are refused.' },
    };
    const extra = await Promise.all(this.contributed().map(async (check) => [check.name, await within(() => check.check(), `The ${check.name} check`)] as const));
    for (const [name, result] of extra) checks[name] = result;
    const ready = Object.values(checks).every((check) => check.ok);
    return json(ready ? 200 : 503, { status: ready ? 'ready' : 'not_ready', checks }, ready ? undefined : { 'retry-after': '5' });
  }

  /** LISTEN/NOTIFY where the fleet uses it; an embedded database has no other instance to hear. */
  private listening(): ReadinessResult {
    const feed = this.changes.state();
    if (feed.status === 'listening') return { ok: true };
    if (feed.status === 'single-instance') return { ok: true, reason: 'not used: ' + feed.detail };
    return { ok: false, reason: feed.detail };
  }

  private async checkMigrations(): Promise<ReadinessResult> {
    // Once current, a running instance stays current: newer migrations come with newer code.
    if (this.migrationsCurrent) return { ok: true };
    const pending = await pendingMigrations(this.database.knex, this.migrations);
    if (pending.length) {
      const shown = pending.slice(0, 5).join(', ');
      return { ok: false, reason: `${pending.length} migration(s) not applied: ${shown}${pending.length > 5 ? ', …' : ''}. Run "gatehouse migrate".` };
    }
    this.migrationsCurrent = true;
    return { ok: true };
  }
}
