import { inject, injectable } from 'inversify';
import { BoundedCache, ChangeFeed, Database, Logger, isUuid, safeLog } from '../../../core/index.js';

export const LIMIT_SCOPES = ['tenant', 'agent', 'role'] as const;
export type LimitScope = (typeof LIMIT_SCOPES)[number];
export const LIMIT_WINDOWS = ['second', 'minute', 'hour', 'day', 'month'] as const;
export type LimitWindow = (typeof LIMIT_WINDOWS)[number];
/** The largest limit one window may hold. */
export const MAX_LIMIT = 1_000_000_000;

/**
 * A limit on calls per window, set by a tenant's admin:
 * - `tenant`: every call of the tenant counts towards one shared count;
 * - `agent`: the calls of one agent;
 * - `role`: the calls of *each* agent holding the role, counted per agent (a role limit is a
 *   per-agent limit given to every holder, not a budget the holders share).
 * With a `tool`, only calls of that tool count; without, calls of every tool.
 */
export interface Limit {
  readonly id: string;
  readonly tenant: string;
  readonly scope: LimitScope;
  readonly agentId: string | null;
  readonly roleId: string | null;
  readonly tool: string | null;
  readonly window: LimitWindow;
  readonly max: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface LimitInput {
  readonly scope: LimitScope;
  readonly agentId?: string;
  readonly roleId?: string;
  readonly tool?: string;
  readonly window: LimitWindow;
  readonly max: number;
}

/** One subject's count in a limit's current window. */
export interface LimitUsage {
  readonly limitId: string;
  /** `null` for a tenant-wide count, else the agent counted. */
  readonly agentId: string | null;
  readonly windowStart: Date;
  readonly resetsAt: Date;
  /** Calls the instances reported as made (reported about once a second). */
  readonly used: number;
  /** Budget handed to instances so far in this window (never above the limit). */
  readonly leased: number;
}

interface LimitRow {
  id: string;
  tenant: string;
  scope: LimitScope;
  agent_id: string | null;
  role_id: string | null;
  tool: string;
  window: LimitWindow;
  max: number;
  created_at: Date | string;
  updated_at: Date | string;
}

const toLimit = (row: LimitRow): Limit => ({
  id: row.id,
  tenant: row.tenant,
  scope: row.scope,
  agentId: row.agent_id,
  roleId: row.role_id,
  tool: row.tool === '' ? null : row.tool,
  window: row.window,
  max: Number(row.max),
  createdAt: new Date(row.created_at),
  updatedAt: new Date(row.updated_at),
});

/** The same target, tool and window already has a limit. */
export class LimitTakenError extends Error {
  constructor() {
    super('This target already has a limit for that tool and window: change it instead.');
  }
}

/** The agent or role a new limit names was deleted while the limit was being saved: nothing was stored. */
export class LimitTargetGoneError extends Error {
  constructor(readonly field: 'agentId' | 'roleId') {
    super(field === 'agentId' ? 'there is no such agent' : 'there is no such role');
  }
}

/** Published when a tenant's limits change: every instance reloads them and drops its leases. */
export const LIMITS_CHANGED = 'ee.limits.changed';
const CACHE_TTL_MS = 60_000;
const LOST_FEED_TTL_MS = 5_000;

/**
 * The limits of each tenant, cached whole per tenant (one query on a miss) and dropped on every
 * instance when an admin changes them.
 */
@injectable()
export class LimitStore {
  private readonly cache = new BoundedCache<readonly Limit[]>({ maxEntries: 10_000, ttlMs: CACHE_TTL_MS, sizeOf: (list) => 64 + list.length * 256 });
  private generation = 0;
  private readonly listeners = new Set<(tenant: string | undefined) => void>();

  constructor(
    @inject(Database) private readonly database: Database,
    @inject(ChangeFeed) private readonly changes: ChangeFeed,
    @inject(Logger) private readonly logger: Logger,
  ) {
    changes.subscribe(
      LIMITS_CHANGED,
      (payload) => this.forget(typeof payload.tenant === 'string' ? payload.tenant : undefined),
      () => this.forget(undefined),
    );
  }

  /** Hear limit changes (of a tenant, or of all when undefined), on this instance or another. */
  onChange(listener: (tenant: string | undefined) => void): void {
    this.listeners.add(listener);
  }

  /** The tenant's limits, from the cache when fresh. */
  async limitsOf(tenant: string): Promise<readonly Limit[]> {
    const cached = this.cache.get(tenant);
    if (cached) return cached;
    const generation = this.generation;
    const limits = Object.freeze(await this.list(tenant));
    // A change heard while loading may not be in what was read: do not keep it.
    if (generation === this.generation) this.cache.set(tenant, limits, { ttlMs: this.changes.state().status === 'lost' ? LOST_FEED_TTL_MS : CACHE_TTL_MS });
    return limits;
  }

  /** Whether the tenant's limits are in the cache (so reading them costs no round trip). */
  cached(tenant: string): readonly Limit[] | undefined {
    return this.cache.get(tenant);
  }

  async list(tenant: string, filter: { agentId?: string; roleId?: string } = {}): Promise<Limit[]> {
    const rows = await this.database.read(() => {
      const query = this.database.forTenant(tenant).table<LimitRow>('mcp_limits').orderBy([{ column: 'scope' }, { column: 'tool' }, { column: 'created_at' }]);
      if (filter.agentId !== undefined) query.where('agent_id', filter.agentId);
      if (filter.roleId !== undefined) query.where('role_id', filter.roleId);
      return query;
    });
    return (rows as LimitRow[]).map(toLimit);
  }

  async get(tenant: string, id: string): Promise<Limit | undefined> {
    if (!isUuid(id)) return undefined;
    const row = (await this.database.read(() => this.database.forTenant(tenant).table<LimitRow>('mcp_limits').where({ id }).first())) as LimitRow | undefined;
    return row ? toLimit(row) : undefined;
  }

  async create(tenant: string, input: LimitInput): Promise<Limit> {
    try {
      const [row] = await this.database.forTenant(tenant).insert<LimitRow>('mcp_limits', {
        scope: input.scope,
        agent_id: input.scope === 'agent' ? input.agentId : null,
        role_id: input.scope === 'role' ? input.roleId : null,
        tool: input.tool ?? '',
        window: input.window,
        max: input.max,
      });
      await this.changed(tenant);
      return toLimit(row!);
    } catch (error) {
      const code = (error as { code?: unknown })?.code;
      if (code === '23505') throw new LimitTakenError();
      if (code === '23503') throw new LimitTargetGoneError(input.scope === 'role' ? 'roleId' : 'agentId');
      throw error;
    }
  }

  async update(tenant: string, id: string, max: number): Promise<Limit | undefined> {
    if (!isUuid(id)) return undefined;
    const rows = (await this.database
      .forTenant(tenant)
      .table<LimitRow>('mcp_limits')
      .where({ id })
      .update({ max, updated_at: this.database.knex.fn.now() } as never)
      .returning('*')) as LimitRow[];
    if (rows.length) await this.changed(tenant);
    return rows[0] ? toLimit(rows[0]) : undefined;
  }

  async delete(tenant: string, id: string): Promise<Limit | undefined> {
    if (!isUuid(id)) return undefined;
    const rows = (await this.database.forTenant(tenant).table<LimitRow>('mcp_limits').where({ id }).delete().returning('*')) as LimitRow[];
    if (rows.length) await this.changed(tenant);
    return rows[0] ? toLimit(rows[0]) : undefined;
  }

  /** Each subject's count in the current window of each of these limits (by the database's clock). */
  async usage(tenant: string, limits: readonly Limit[]): Promise<LimitUsage[]> {
    if (limits.length === 0) return [];
    const knex = this.database.knex;
    const rows = (await knex.raw(
      `select u.limit_id, u.subject, u.window_start, u.used, u.leased, u.window_start + ('1 ' || l."window")::interval as resets_at
         from mcp_limit_usage u join mcp_limits l on l.id = u.limit_id
        where u.tenant = ? and l.tenant = ? and u.limit_id = any(?::uuid[])
          and u.window_start = date_trunc(l."window", now() at time zone 'UTC') at time zone 'UTC'
        order by u.used desc, u.subject`,
      [tenant, tenant, limits.map((limit) => limit.id)],
    )) as { rows: { limit_id: string; subject: string; window_start: Date | string; used: number; leased: number; resets_at: Date | string }[] };
    return rows.rows.map((row) => ({
      limitId: row.limit_id,
      agentId: row.subject === '' ? null : row.subject,
      windowStart: new Date(row.window_start),
      resetsAt: new Date(row.resets_at),
      used: Number(row.used),
      leased: Number(row.leased),
    }));
  }

  private async changed(tenant: string): Promise<void> {
    this.forget(tenant);
    await this.changes.publish(LIMITS_CHANGED, { tenant }).catch((error: unknown) => {
      safeLog(this.logger, 'warn', { err: error, tenant }, 'could not tell other instances about a limit change; they notice within the cache time-to-live');
    });
  }

  private forget(tenant: string | undefined): void {
    this.generation++;
    if (tenant === undefined) this.cache.clear();
    else this.cache.delete(tenant);
    for (const listener of this.listeners) listener(tenant);
  }
}
