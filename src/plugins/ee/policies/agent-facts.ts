import { inject, injectable } from 'inversify';
import { BoundedCache, ChangeFeed, Database, approximateBytes } from '../../../core/index.js';
import { IDENTITY_CHANGED } from '../identity/credential-cache.js';
import { attributesOf } from '../identity/agent-store.js';
import { GRANTS_CHANGED } from '../rbac/cached-agent-permissions.js';
import { PolicySettings } from './policy-settings.js';

/** What policies know about the principal (`principal.name`, `.roles`, `.idp`, `.issuer`, tags). */
export interface PrincipalFacts {
  readonly id: string;
  readonly name: string;
  /** Names of its roles. */
  readonly roles: readonly string[];
  /** Its identity provider's name, or '' when it is not bound to one. */
  readonly idp: string;
  readonly issuer: string;
  /** The attributes the admin set on it (`principal.getTag("board")`). */
  readonly attributes: Readonly<Record<string, string>>;
}

const MAX_ENTRIES = 10_000;
const key = (tenant: string, agentId: string): string => `${tenant}\u0000${agentId}`;

/**
 * The facts about agents that policies read, cached per agent and dropped on every instance when
 * the tenant's agents (identity changes) or roles (grant changes) change.
 */
@injectable()
export class AgentFacts {
  private readonly cache: BoundedCache<PrincipalFacts>;
  private generation = 0;

  constructor(
    @inject(Database) private readonly database: Database,
    @inject(PolicySettings) settings: PolicySettings,
    @inject(ChangeFeed) changes: ChangeFeed,
  ) {
    this.cache = new BoundedCache<PrincipalFacts>({ maxEntries: MAX_ENTRIES, ttlMs: settings.cacheTtlMs, sizeOf: (facts) => approximateBytes(facts) });
    const forget = (payload: Readonly<Record<string, unknown>>): void => {
      if (typeof payload.tenant !== 'string') return;
      this.generation++;
      const prefix = `${payload.tenant}\u0000`;
      this.cache.deleteWhere((_, k) => k.startsWith(prefix));
    };
    const clear = (): void => {
      this.generation++;
      this.cache.clear();
    };
    changes.subscribe(IDENTITY_CHANGED, forget, clear);
    changes.subscribe(GRANTS_CHANGED, forget, clear);
  }

  /** The agent's facts, or undefined when it no longer exists. */
  async of(tenant: string, agentId: string): Promise<PrincipalFacts | undefined> {
    const k = key(tenant, agentId);
    const cached = this.cache.get(k);
    if (cached) return cached;
    const generation = this.generation;
    const facts = await this.load(tenant, agentId);
    if (facts && generation === this.generation) this.cache.set(k, facts);
    return facts;
  }

  async load(tenant: string, agentId: string): Promise<PrincipalFacts | undefined> {
    const db = this.database.forTenant(tenant);
    const row = (await this.database.read(() =>
      db
        .table('agents')
        .leftJoin('agent_idp_providers', function joinIdp() {
          this.on('agent_idp_providers.id', '=', 'agents.idp_id').andOn('agent_idp_providers.tenant', '=', 'agents.tenant');
        })
        .where('agents.id', agentId)
        .first('agents.id', 'agents.name', 'agents.issuer', 'agents.attributes', 'agent_idp_providers.name as idp_name'),
    )) as
      | { id: string; name: string; issuer: string | null; attributes: unknown; idp_name: string | null }
      | undefined;
    if (!row) return undefined;
    const roles = (await this.database.read(() =>
      db.table('agent_roles').join('roles', 'roles.id', 'agent_roles.role_id').where('agent_roles.agent_id', agentId).andWhere('roles.tenant', tenant).select('roles.name'),
    )) as { name: string }[];
    return Object.freeze({
      id: row.id,
      name: row.name,
      roles: Object.freeze(roles.map((role) => role.name).sort()),
      idp: row.idp_name ?? '',
      issuer: row.issuer ?? '',
      attributes: Object.freeze(attributesOf(row.attributes)),
    });
  }
}
