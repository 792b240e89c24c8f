import { createTwoFilesPatch } from 'diff';
import { inject, injectable } from 'inversify';
import { ChangeFeed, Database, isUuid, type TenantDb } from '../../../core/index.js';
import { POLICIES_CHANGED, PolicyEngine } from './policy-engine.js';

/** A tenant policy as the admin API shows it. */
export interface StoredPolicy {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly text: string;
  readonly enabled: boolean;
  /** The tenant's policy-set version at this policy's last change. */
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly updatedBy: string | null;
  /** The last error found while compiling or evaluating it (cleared when it is saved again). */
  readonly lastError: string | null;
}

export interface PolicyHistoryEntry {
  readonly version: number;
  readonly change: 'create' | 'update' | 'delete';
  readonly name: string;
  readonly description: string;
  readonly text: string;
  readonly enabled: boolean;
  readonly changedBy: string | null;
  readonly changedAt: Date;
  /** Unified diff of the text against the previous version ('' when the text did not change). */
  readonly diff: string;
}

export interface PolicyInput {
  readonly name: string;
  readonly description?: string;
  readonly text: string;
  readonly enabled?: boolean;
}

interface PolicyRow {
  id: string;
  tenant: string;
  name: string;
  description: string;
  text: string;
  enabled: boolean;
  version: number;
  updated_by: string | null;
  last_error: string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

interface HistoryRow {
  version: number;
  change: 'create' | 'update' | 'delete';
  name: string;
  description: string;
  text: string;
  enabled: boolean;
  changed_by: string | null;
  changed_at: Date | string;
  diff: string;
}

/** A policy name already used in the tenant. */
export class PolicyNameTakenError extends Error {
  constructor(name: string) {
    super(`A policy named "${name}" already exists.`);
    this.name = 'PolicyNameTakenError';
  }
}

/** Most policies a tenant may have. */
export const MAX_POLICIES = 500;

/** A tenant already has {@link MAX_POLICIES} policies. */
export class TooManyPoliciesError extends Error {
  constructor() {
    super(`A tenant may have at most ${MAX_POLICIES} policies.`);
    this.name = 'TooManyPoliciesError';
  }
}

function toPolicy(row: PolicyRow): StoredPolicy {
  return {
    id: row.id,
    name: row.name,
    description: row.description,
    text: row.text,
    enabled: row.enabled,
    version: row.version,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    updatedBy: row.updated_by,
    lastError: row.last_error,
  };
}

/** The unified diff between two versions of a policy's text ('' when equal). */
export function textDiff(before: string, after: string, from: string, to: string): string {
  if (before === after) return '';
  const patch = createTwoFilesPatch('policy', 'policy', before.endsWith('\n') || !before ? before : `${before}\n`, after.endsWith('\n') || !after ? after : `${after}\n`, from, to);
  // The first line is an `Index:`-less separator; keep the hunks from the `---` line on.
  return patch.slice(patch.indexOf('---'));
}

const isUniqueViolation = (error: unknown): boolean => (error as { code?: unknown })?.code === '23505';

/**
 * Tenant policies: every change increments the tenant's policy-set version, keeps the version in
 * the history (with the diff against the one before), and tells every instance to drop its
 * compiled set (in the same transaction, so they hear it only once it is committed).
 */
@injectable()
export class PolicyStore {
  constructor(
    @inject(Database) private readonly database: Database,
    @inject(ChangeFeed) private readonly changes: ChangeFeed,
    @inject(PolicyEngine) private readonly engine: PolicyEngine,
  ) {}

  async list(tenant: string): Promise<{ version: number; policies: StoredPolicy[] }> {
    const db = this.database.forTenant(tenant);
    const [set, rows] = await Promise.all([
      this.database.read(() => db.table('mcp_policy_sets').first('version')) as Promise<{ version: number } | undefined>,
      this.database.read(() => db.table<PolicyRow>('mcp_policies').orderBy('name').select()) as unknown as Promise<PolicyRow[]>,
    ]);
    return { version: set?.version ?? 0, policies: rows.map(toPolicy) };
  }

  async get(tenant: string, id: string): Promise<StoredPolicy | undefined> {
    if (!isUuid(id)) return undefined;
    const row = (await this.database.read(() => this.database.forTenant(tenant).table('mcp_policies').where({ id }).first())) as PolicyRow | undefined;
    return row ? toPolicy(row) : undefined;
  }

  async history(tenant: string, id: string): Promise<PolicyHistoryEntry[]> {
    if (!isUuid(id)) return [];
    const rows = (await this.database.read(() => this.database.forTenant(tenant).table('mcp_policy_history').where({ policy_id: id }).orderBy('version', 'desc').orderBy('seq', 'desc').select())) as unknown as HistoryRow[];
    return rows.map((row) => ({
      version: row.version,
      change: row.change,
      name: row.name,
      description: row.description,
      text: row.text,
      enabled: row.enabled,
      changedBy: row.changed_by,
      changedAt: new Date(row.changed_at),
      diff: row.diff,
    }));
  }

  async create(tenant: string, input: PolicyInput, by: string): Promise<{ policy: StoredPolicy; diff: string }> {
    return this.change<{ policy: StoredPolicy; diff: string }>(tenant, async (db, version) => {
      const [{ count }] = (await db.table('mcp_policies').count({ count: '*' })) as [{ count: string | number }];
      if (Number(count) >= MAX_POLICIES) throw new TooManyPoliciesError();
      const now = new Date();
      const [row] = await db
        .insert<PolicyRow>('mcp_policies', {
          name: input.name,
          description: input.description ?? '',
          text: input.text,
          enabled: input.enabled ?? true,
          version,
          updated_by: by,
          created_at: now,
          updated_at: now,
        })
        .catch((error: unknown) => {
          throw isUniqueViolation(error) ? new PolicyNameTakenError(input.name) : error;
        });
      const policy = toPolicy(row!);
      const diff = textDiff('', policy.text, '(none)', `version ${version}`);
      await this.remember(db, policy, version, 'create', by, diff);
      return { policy, diff };
    }) as Promise<{ policy: StoredPolicy; diff: string }>;
  }

  async update(tenant: string, id: string, patch: Partial<PolicyInput>, by: string): Promise<{ before: StoredPolicy; policy: StoredPolicy; diff: string } | undefined> {
    if (!isUuid(id)) return undefined;
    return this.change(tenant, async (db, version) => {
      const current = (await db.table('mcp_policies').where({ id }).forUpdate().first()) as PolicyRow | undefined;
      if (!current) return undefined;
      const before = toPolicy(current);
      const changes: Record<string, unknown> = { version, updated_by: by, updated_at: new Date() };
      if (patch.name !== undefined) changes.name = patch.name;
      if (patch.description !== undefined) changes.description = patch.description;
      if (patch.enabled !== undefined) changes.enabled = patch.enabled;
      if (patch.text !== undefined) {
        changes.text = patch.text;
        changes.last_error = null;
        changes.last_error_at = null;
      }
      const [row] = (await db
        .table('mcp_policies')
        .where({ id })
        .update(changes)
        .returning('*')
        .catch((error: unknown) => {
          throw isUniqueViolation(error) ? new PolicyNameTakenError(String(patch.name)) : error;
        })) as unknown as PolicyRow[];
      const policy = toPolicy(row!);
      const diff = textDiff(before.text, policy.text, `version ${before.version}`, `version ${version}`);
      await this.remember(db, policy, version, 'update', by, diff);
      return { before, policy, diff };
    });
  }

  async delete(tenant: string, id: string, by: string): Promise<StoredPolicy | undefined> {
    if (!isUuid(id)) return undefined;
    return this.change(tenant, async (db, version) => {
      const [row] = (await db.table('mcp_policies').where({ id }).delete().returning('*')) as unknown as PolicyRow[];
      if (!row) return undefined;
      const policy = toPolicy(row);
      await this.remember(db, policy, version, 'delete', by, textDiff(policy.text, '', `version ${policy.version}`, '(deleted)'));
      return policy;
    });
  }

  /**
   * One change in one transaction: bump the tenant's version, apply `work`, publish. When `work`
   * finds nothing to change (undefined), the transaction is rolled back: the version stays.
   */
  private async change<T>(tenant: string, work: (db: TenantDb, version: number) => Promise<T | undefined>): Promise<T | undefined> {
    const nothing = Symbol('nothing');
    try {
      return await this.database.knex.transaction(async (trx) => {
        const db = this.database.forTenant(tenant, trx);
        const [bumped] = (await trx('mcp_policy_sets')
          .insert({ tenant, version: 1, updated_at: new Date() })
          .onConflict('tenant')
          .merge({ version: trx.raw('mcp_policy_sets.version + 1'), updated_at: new Date() })
          .returning('version')) as { version: number }[];
        const result = await work(db, bumped!.version);
        if (result === undefined) throw nothing;
        await this.changes.publish(POLICIES_CHANGED, { tenant }, { transaction: trx });
        return result;
      });
    } catch (error) {
      if (error === nothing) return undefined;
      throw error;
    } finally {
      this.engine.changed(tenant);
    }
  }

  private async remember(db: TenantDb, policy: StoredPolicy, version: number, change: PolicyHistoryEntry['change'], by: string, diff: string): Promise<void> {
    await db.insert('mcp_policy_history', {
      policy_id: policy.id,
      version,
      change,
      name: policy.name,
      description: policy.description,
      text: policy.text,
      enabled: policy.enabled,
      changed_by: by,
      changed_at: new Date(),
      diff,
    });
  }
}
