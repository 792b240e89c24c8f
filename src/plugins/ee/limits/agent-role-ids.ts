import { inject, injectable } from 'inversify';
import { BoundedCache, ChangeFeed, Database } from '../../../core/index.js';
import { GRANTS_CHANGED } from '../rbac/cached-agent-permissions.js';

const TTL_MS = 60_000;
const key = (tenant: string, agentId: string): string => `${tenant}\u0000${agentId}`;

/**
 * The role ids each agent holds, for role limits: cached per agent and dropped on every instance
 * when roles or assignments change (the same change-feed topic as the grants).
 */
@injectable()
export class AgentRoleIds {
  private readonly cache = new BoundedCache<readonly string[]>({ maxEntries: 10_000, ttlMs: TTL_MS, sizeOf: (ids) => 64 + ids.length * 80 });
  private generation = 0;

  constructor(
    @inject(Database) private readonly database: Database,
    @inject(ChangeFeed) changes: ChangeFeed,
  ) {
    changes.subscribe(
      GRANTS_CHANGED,
      (payload) => {
        this.generation++;
        if (typeof payload.tenant !== 'string') return this.cache.clear();
        if (typeof payload.agentId === 'string') this.cache.delete(key(payload.tenant, payload.agentId));
        else this.cache.deleteWhere((_, k) => k.startsWith(`${payload.tenant}\u0000`));
      },
      () => {
        this.generation++;
        this.cache.clear();
      },
    );
  }

  cached(tenant: string, agentId: string): readonly string[] | undefined {
    return this.cache.get(key(tenant, agentId));
  }

  async of(tenant: string, agentId: string): Promise<readonly string[]> {
    const cached = this.cached(tenant, agentId);
    if (cached) return cached;
    const generation = this.generation;
    const rows = (await this.database.read(() => this.database.forTenant(tenant).table('agent_roles').where({ agent_id: agentId }).select('role_id'))) as { role_id: string }[];
    const ids = Object.freeze(rows.map((row) => row.role_id).sort());
    if (generation === this.generation) this.cache.set(key(tenant, agentId), ids);
    return ids;
  }
}
