import { inject, injectable } from 'inversify';
import { BoundedCache, ChangeFeed, Database, Logger, safeLog } from '../../../core/index.js';
import type { AgentPermissions } from '../contracts.js';
import { RbacSettings } from './rbac-settings.js';

const MAX_ENTRIES = 10_000;

/** Published when a tenant's roles or an agent's role assignments change. */
export const GRANTS_CHANGED = 'ee.grants.changed';
const key = (tenant: string, agentId: string): string => `${tenant}\u0000${agentId}`;

function parsePermissions(value: unknown): string[] {
  const list = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  return Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string') : [];
}

/**
 * The permissions an agent's roles grant, cached per agent for a short, bounded time and dropped
 * on every instance when a role or an assignment changes (through the change feed).
 */
@injectable()
export class CachedAgentPermissions implements AgentPermissions {
  private readonly cache: BoundedCache<readonly string[]>;
  // Bumped on every invalidation, so a load that raced with a change is not cached.
  private generation = 0;

  constructor(
    @inject(Database) private readonly database: Database,
    @inject(RbacSettings) settings: RbacSettings,
    @inject(ChangeFeed) private readonly changes: ChangeFeed,
    @inject(Logger) private readonly logger: Logger,
  ) {
    this.cache = new BoundedCache({
      maxEntries: MAX_ENTRIES,
      ttlMs: settings.permissionCacheTtlMs,
      sizeOf: (permissions) => 64 + permissions.reduce((sum, permission) => sum + permission.length * 2 + 16, 0),
    });
    changes.subscribe(
      GRANTS_CHANGED,
      (payload) => {
        if (typeof payload.tenant === 'string') this.forget(payload.tenant, typeof payload.agentId === 'string' ? payload.agentId : undefined);
      },
      () => {
        this.generation++;
        this.cache.clear();
      },
    );
  }

  /** Cached grants are answered at once, without a promise. */
  permissionsOf(tenant: string, agentId: string): readonly string[] | Promise<readonly string[]> {
    const k = key(tenant, agentId);
    return this.cache.get(k) ?? this.load(tenant, agentId, k);
  }

  private async load(tenant: string, agentId: string, k: string): Promise<readonly string[]> {
    const generation = this.generation;
    const rows = (await this.database.read(() =>
      this.database
        .forTenant(tenant)
        .table('agent_roles')
        .join('roles', 'roles.id', 'agent_roles.role_id')
        .where('agent_roles.agent_id', agentId)
        .andWhere('roles.tenant', tenant)
        .select('roles.permissions'),
    )) as { permissions: unknown }[];
    const permissions = Object.freeze([...new Set(rows.flatMap((row) => parsePermissions(row.permissions)))].sort());
    if (generation === this.generation) this.cache.set(k, permissions);
    return permissions;
  }

  /** Agents whose grants are held now (at most 10,000). */
  get size(): number {
    return this.cache.size;
  }

  invalidate(tenant: string, agentId?: string): void {
    this.forget(tenant, agentId);
    this.changes.publish(GRANTS_CHANGED, agentId === undefined ? { tenant } : { tenant, agentId }).catch((error: unknown) => {
      safeLog(this.logger, 'warn', { err: error, tenant }, 'could not tell other instances about a role change; they notice within the cache time-to-live');
    });
  }

  private forget(tenant: string, agentId: string | undefined): void {
    this.generation++;
    if (agentId !== undefined) {
      this.cache.delete(key(tenant, agentId));
      return;
    }
    const prefix = `${tenant}\u0000`;
    this.cache.deleteWhere((_, k) => k.startsWith(prefix));
  }
}
