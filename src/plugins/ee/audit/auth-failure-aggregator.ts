import { inject, injectable } from 'inversify';
import { Database, Logger, TENANT_ID, safeLog, type AuditEvent, type AuditSink } from '../../../core/index.js';
import { AuditSinkSettings } from './audit-sink-settings.js';
import { DbAuditSink } from './db-audit-sink.js';

/** The reason of the row that sums a source's failures past its per-window limit of distinct reasons. */
export const OVER_LIMIT_REASON = 'Further authentication failures from this address (over the per-address limit of distinct reasons).';

const EXISTS_TTL_MS = 10 * 60_000;
const MISSING_TTL_MS = 60_000;
const MAX_TENANTS_CACHED = 10_000;
const MAX_KEYS = 10_000;
const UNKNOWN_SOURCE = 'unknown';

interface Aggregate {
  readonly first: AuditEvent;
  count: number;
  lastAt: Date;
}

interface SourceWindow {
  /** Tenants this source has rows for in this window (at most the per-source limit of keys). */
  readonly tenants: Set<string>;
  keys: number;
}

/**
 * In front of the database audit sink: authentication failures are recorded only for tenants that
 * exist (have an IdP, an agent, an API key or a role), and are aggregated — one row per tenant,
 * source address and reason per window, with a `count` in `details` — so a flood of garbage
 * credentials costs bounded rows and bounded work. Each source address may open at most
 * `authFailureKeysPerSource` distinct (tenant, reason) rows per window; past that its failures are
 * summed into one row per tenant it already has. All other events go straight to the sink.
 *
 * Aggregated rows are written when the window closes, on `flush()` and on `close()`.
 */
@injectable()
export class AuthFailureAggregator implements AuditSink {
  private window = new Map<string, Aggregate>();
  private sources = new Map<string, SourceWindow>();
  private windowStartedAt = new Date();
  private untracked = 0;
  private timer: NodeJS.Timeout | undefined;
  private emitting: Promise<void> = Promise.resolve();
  private readonly tenants = new Map<string, { exists: boolean; until: number }>();

  constructor(
    @inject(DbAuditSink) private readonly sink: DbAuditSink,
    @inject(Database) private readonly database: Database,
    @inject(AuditSinkSettings) private readonly settings: AuditSinkSettings,
    @inject(Logger) private readonly logger: Logger,
  ) {}

  record(event: AuditEvent): void {
    if (event.decision !== 'auth-failed') {
      this.sink.record(event);
      return;
    }
    if (!TENANT_ID.test(event.tenant)) return;
    const source = event.clientAddress ?? UNKNOWN_SOURCE;
    let perSource = this.sources.get(source);
    if (!perSource) {
      if (this.window.size >= MAX_KEYS) return this.untrack();
      perSource = { tenants: new Set(), keys: 0 };
      this.sources.set(source, perSource);
    }
    let reason = event.reason ?? '';
    let key = `${event.tenant}\u0000${source}\u0000${reason}`;
    if (!this.window.has(key) && perSource.keys >= this.settings.authFailureKeysPerSource) {
      // Past the limit: sum into one row per tenant the source already has rows for.
      if (!perSource.tenants.has(event.tenant)) return this.untrack();
      reason = OVER_LIMIT_REASON;
      key = `${event.tenant}\u0000${source}\u0000${reason}`;
    }
    const aggregate = this.window.get(key);
    if (aggregate) {
      aggregate.count++;
      aggregate.lastAt = event.time;
      return;
    }
    if (this.window.size >= MAX_KEYS) return this.untrack();
    if (reason !== OVER_LIMIT_REASON) perSource.keys++;
    perSource.tenants.add(event.tenant);
    this.window.set(key, { first: { ...event, reason, clientAddress: event.clientAddress }, count: 1, lastAt: event.time });
    this.timer ??= setTimeout(() => void this.closeWindow(), this.settings.authFailureWindowMs).unref();
  }

  recordIntent(event: AuditEvent): Promise<string> {
    return this.sink.recordIntent(event);
  }

  durableByDefault(tool: { readonly annotations?: { readonly readOnlyHint?: boolean } }): boolean {
    return this.sink.durableByDefault(tool);
  }

  accepting(): boolean {
    return this.sink.accepting();
  }

  async flush(): Promise<void> {
    await this.closeWindow();
    await this.sink.flush();
  }

  async close(): Promise<void> {
    try {
      await this.closeWindow();
    } finally {
      await this.sink.close();
    }
  }

  private untrack(): void {
    this.untracked++;
  }

  /** Hand the window's aggregates of existing tenants to the sink and start a new window. */
  private closeWindow(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const aggregates = [...this.window.values()];
    const windowStartedAt = this.windowStartedAt;
    const untracked = this.untracked;
    this.window = new Map();
    this.sources = new Map();
    this.windowStartedAt = new Date();
    this.untracked = 0;
    const windowEndedAt = new Date();
    // Each window's emission settles: a refusal of the sink (its buffer at the hard cap while the
    // database is down, or the trail closing) is logged, and does not stop the windows after it.
    this.emitting = this.emitting.then(async () => {
      if (untracked > 0) {
        safeLog(this.logger, 'warn', { untracked, windowStartedAt, windowEndedAt }, 'authentication failures not audited: too many distinct sources or reasons in one window');
      }
      let lost = 0;
      let refusal: unknown;
      for (const aggregate of aggregates) {
        if (!(await this.tenantExists(aggregate.first.tenant))) continue;
        try {
          this.sink.record({
            ...aggregate.first,
            details: {
              ...aggregate.first.details,
              count: aggregate.count,
              firstAt: aggregate.first.time.toISOString(),
              lastAt: aggregate.lastAt.toISOString(),
              windowStartedAt: windowStartedAt.toISOString(),
              windowEndedAt: windowEndedAt.toISOString(),
            },
          });
        } catch (error) {
          lost++;
          refusal ??= error;
        }
      }
      if (lost > 0) {
        safeLog(this.logger, 'error', { err: refusal, lost, windowStartedAt, windowEndedAt }, 'authentication failures not audited: the audit trail refused them');
      }
    }).catch((error: unknown) => safeLog(this.logger, 'error', { err: error, windowStartedAt, windowEndedAt }, 'authentication failures of a window not audited'));
    return this.emitting;
  }

  /** Whether `tenant` has any IdP, agent, API key or role (cached; a failed lookup counts as existing). */
  private async tenantExists(tenant: string): Promise<boolean> {
    const cached = this.tenants.get(tenant);
    if (cached && cached.until > Date.now()) return cached.exists;
    let exists = true;
    try {
      const db = this.database.forTenant(tenant);
      for (const table of ['agent_idp_providers', 'agents', 'api_keys', 'roles']) {
        exists = (await db.table(table).first('tenant')) !== undefined;
        if (exists) break;
      }
    } catch (error) {
      // Better a row too many than a lost event for a tenant that does exist.
      safeLog(this.logger, 'warn', { err: error, tenant }, 'could not check whether a tenant exists; auditing its authentication failures');
      return true;
    }
    if (this.tenants.size >= MAX_TENANTS_CACHED) this.tenants.delete(this.tenants.keys().next().value!);
    this.tenants.set(tenant, { exists, until: Date.now() + (exists ? EXISTS_TTL_MS : MISSING_TTL_MS) });
    return exists;
  }
}
