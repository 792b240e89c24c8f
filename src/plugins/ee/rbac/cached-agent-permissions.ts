import { inject, injectable } from 'inversify';
import { BoundedCache, Database } from '../../../core/index.js';
import type { AgentPermissions } from '../contracts.js';
import { RbacSettings } from './rbac-settings.js';

const MAX_ENTRIES = 10_000;
const key = (tenant: string, agentId: string): string => `${tenant}\u0000${agentId}`;

function parsePermissions(value: unknown): string[] {
  const list = typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
  return Array.isArray(list) ? list.filter((item): item is string => typeof item === 'string') : [];
}

/** The permissions an agent's roles grant, cached per agent for a short, bounded time. */
@injectable()
export class CachedAgentPermissions implements AgentPermissions {
  private readonly cache: BoundedCache<readonly string[]>;
  // Bumped on every invalidation, so a load that raced with a change is not cached.
  private generation = 0;

  constructor(
    @inject(Database) private readonly database: Database,
    @inject(RbacSettings) settings: RbacSettings,
  ) {
    this.cache = new BoundedCache({
      maxEntries: MAX_ENTRIES,
      ttlMs: settings.permissionCacheTtlMs,
      sizeOf: (permissions) => 64 + permissions.reduce((sum, permission) => sum + permission.length * 2 + 16, 0),
    });
  }

  async permissionsOf(tenant: string, agentId: string): Promise<readonly string[]> {
    const k = key(tenant, agentId);
    const cached = this.cache.get(k);
    if (cached) return cached;
    const generation = this.generation;
    const rows = (await this.database
      .forTenant(tenant)
      .table('agent_roles')
      .join('roles', 'roles.id', 'agent_roles.role_id')
      .where('agent_roles.agent_id', agentId)
      .andWhere('roles.tenant', tenant)
      .select('roles.permissions')) as { permissions: unknown }[];
    const permissions = Object.freeze([...new Set(rows.flatMap((row) => parsePermissions(row.permissions)))].sort());
    if (generation === this.generation) this.cache.set(k, permissions);
    return permissions;
  }

  invalidate(tenant: string, agentId?: string): void {
    this.generation++;
    if (agentId !== undefined) {
      this.cache.delete(key(tenant, agentId));
      return;
    }
    const prefix = `${tenant}\u0000`;
    this.cache.deleteWhere((_, k) => k.startsWith(prefix));
  }
}
