import { inject, injectable } from 'inversify';
import type { Knex } from 'knex';
import { Database, isUuid } from '../../../core/index.js';
import { AgentPermissions } from '../contracts.js';
import { RoleNameTakenError, UnknownAgentError, UnknownRolesError } from './rbac-errors.js';

/** A role of a tenant: a named set of permission patterns. */
export interface Role {
  readonly id: string;
  readonly tenant: string;
  readonly name: string;
  readonly description: string;
  readonly permissions: readonly string[];
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface RoleInput {
  readonly name: string;
  readonly description?: string;
  readonly permissions: readonly string[];
}

interface RoleRow {
  id: string;
  tenant: string;
  name: string;
  description: string;
  permissions: unknown;
  created_at: Date | string;
  updated_at: Date | string;
}

function toRole(row: RoleRow): Role {
  const permissions = typeof row.permissions === 'string' ? (JSON.parse(row.permissions) as string[]) : (row.permissions as string[]);
  return {
    id: row.id,
    tenant: row.tenant,
    name: row.name,
    description: row.description,
    permissions,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

const isUniqueViolation = (error: unknown): boolean => (error as { code?: unknown })?.code === '23505';

/**
 * Roles and their assignment to agents, per tenant. Every change forgets the cached grants of the
 * agents concerned, so it applies to their next call in this process.
 */
@injectable()
export class RoleStore {
  constructor(
    @inject(Database) private readonly database: Database,
    @inject(AgentPermissions) private readonly grants: AgentPermissions,
  ) {}

  async list(tenant: string): Promise<Role[]> {
    const rows = (await this.database.read(() => this.database.forTenant(tenant).table<RoleRow>('roles').orderBy('name'))) as RoleRow[];
    return rows.map(toRole);
  }

  async get(tenant: string, id: string): Promise<Role | undefined> {
    if (!isUuid(id)) return undefined;
    const row = (await this.database.read(() => this.database.forTenant(tenant).table<RoleRow>('roles').where({ id }).first())) as RoleRow | undefined;
    return row ? toRole(row) : undefined;
  }

  async create(tenant: string, input: RoleInput): Promise<Role> {
    try {
      const [row] = await this.database.forTenant(tenant).insert<RoleRow>('roles', {
        name: input.name,
        description: input.description ?? '',
        permissions: JSON.stringify([...new Set(input.permissions)]),
      });
      return toRole(row!);
    } catch (error) {
      if (isUniqueViolation(error)) throw new RoleNameTakenError(input.name);
      throw error;
    }
  }

  /** Change a role; `undefined` when the tenant has no such role. */
  async update(tenant: string, id: string, change: Partial<RoleInput>): Promise<Role | undefined> {
    if (!isUuid(id)) return undefined;
    const patch: Record<string, unknown> = { updated_at: this.database.knex.fn.now() };
    if (change.name !== undefined) patch.name = change.name;
    if (change.description !== undefined) patch.description = change.description;
    if (change.permissions !== undefined) patch.permissions = JSON.stringify([...new Set(change.permissions)]);
    let rows: RoleRow[];
    try {
      rows = (await this.database.forTenant(tenant).table<RoleRow>('roles').where({ id }).update(patch).returning('*')) as RoleRow[];
    } catch (error) {
      if (isUniqueViolation(error) && change.name !== undefined) throw new RoleNameTakenError(change.name);
      throw error;
    }
    if (rows.length === 0) return undefined;
    this.grants.invalidate(tenant);
    return toRole(rows[0]!);
  }

  /** Delete a role (and its assignments). False when the tenant has no such role. */
  async delete(tenant: string, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    // `returning` rather than the affected-row count, which the embedded driver does not report as a number.
    const deleted = (await this.database.forTenant(tenant).table('roles').where({ id }).delete().returning('id')) as unknown[];
    if (deleted.length > 0) this.grants.invalidate(tenant);
    return deleted.length > 0;
  }

  /** Role ids of each of the given agents. */
  async rolesOfAgents(tenant: string, agentIds: readonly string[], trx?: Knex.Transaction): Promise<Map<string, Role[]>> {
    const result = new Map<string, Role[]>(agentIds.map((id) => [id, []]));
    const ids = agentIds.filter(isUuid);
    if (ids.length === 0) return result;
    const rows = (await this.database
      .forTenant(tenant, trx)
      .table('agent_roles')
      .join('roles', 'roles.id', 'agent_roles.role_id')
      .whereIn('agent_roles.agent_id', ids)
      .andWhere('roles.tenant', tenant)
      .orderBy('roles.name')
      .select('agent_roles.agent_id as agent_id', 'roles.*')) as (RoleRow & { agent_id: string })[];
    for (const row of rows) result.get(row.agent_id)?.push(toRole({ ...row, tenant }));
    return result;
  }

  /**
   * Replace the roles of an agent of `tenant` (the caller has checked the agent belongs to it).
   * Throws {@link UnknownRolesError} for ids the tenant does not have, and {@link UnknownAgentError}
   * when the agent is gone by the time its row is locked (deleted meanwhile): nothing is assigned.
   */
  async assign(tenant: string, agentId: string, roleIds: readonly string[], trx?: Knex.Transaction): Promise<Role[]> {
    const wanted = [...new Set(roleIds)];
    const run = async (t: Knex.Transaction): Promise<Role[]> => {
      const db = this.database.forTenant(tenant, t);
      // One assignment of an agent at a time: without the lock, two replace the same rows at once,
      // and the second insert hits the first one's rows (a unique violation). The roles are held
      // too, so a role deleted meanwhile is reported as unknown rather than failing the insert.
      const agent = isUuid(agentId) ? await db.table('agents').where({ id: agentId }).forUpdate().first('id') : undefined;
      if (!agent) throw new UnknownAgentError(agentId);
      const found = wanted.filter(isUuid).length
        ? ((await db.table<RoleRow>('roles').whereIn('id', wanted.filter(isUuid)).forShare()) as RoleRow[])
        : [];
      const missing = wanted.filter((id) => !found.some((row) => row.id === id));
      if (missing.length) throw new UnknownRolesError(missing);
      await db.table('agent_roles').where({ agent_id: agentId }).delete();
      if (found.length) await db.insert('agent_roles', found.map((row) => ({ agent_id: agentId, role_id: row.id })));
      return found.map(toRole).sort((a, b) => a.name.localeCompare(b.name));
    };
    if (trx) {
      // The caller's transaction decides: the cached grants are forgotten once it has ended.
      trx.executionPromise.then(
        () => this.grants.invalidate(tenant, agentId),
        () => this.grants.invalidate(tenant, agentId),
      );
      return run(trx);
    }
    try {
      return await this.database.knex.transaction(run);
    } finally {
      this.grants.invalidate(tenant, agentId);
    }
  }
}
