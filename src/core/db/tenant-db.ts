import type { Knex } from 'knex';
import type { Model, QueryBuilder } from 'objection';
import type { TenantDb } from '../ports/database.js';
import { TenantRequiredError } from '../errors.js';
import { readAttemptsFor, readSurvivingLostConnection } from './lost-connection.js';

/** Tenant identifiers: lowercase slugs, so they are safe in URLs, logs and metric labels. */
export const TENANT_ID = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

export function assertTenant(tenant: unknown): asserts tenant is string {
  if (typeof tenant !== 'string' || !TENANT_ID.test(tenant)) {
    throw new TenantRequiredError(
      `"${String(tenant)}" is not a valid tenant id: use 1-63 lowercase letters, digits and inner hyphens.`,
    );
  }
}

export class KnexTenantDb implements TenantDb {
  constructor(
    readonly tenant: string,
    private readonly knex: Knex | Knex.Transaction,
  ) {
    assertTenant(tenant);
  }

  table<Row extends object>(table: string): Knex.QueryBuilder<Row, Row[]> {
    return this.knex<Row>(table).where(`${table}.tenant`, this.tenant) as unknown as Knex.QueryBuilder<Row, Row[]>;
  }

  async insert<Row extends object>(table: string, rows: object | object[]): Promise<Row[]> {
    const list = (Array.isArray(rows) ? rows : [rows]).map((row) => {
      const owner = (row as { tenant?: unknown }).tenant;
      if (owner !== undefined && owner !== this.tenant) {
        throw new TenantRequiredError(`Refusing to insert a row of tenant "${String(owner)}" as tenant "${this.tenant}".`);
      }
      return { ...row, tenant: this.tenant };
    });
    if (list.length === 0) return [];
    return (await this.knex(table).insert(list).returning('*')) as Row[];
  }

  query<MC extends typeof Model>(model: MC): QueryBuilder<InstanceType<MC>, InstanceType<MC>[]> {
    return model.query(this.knex).where(`${model.tableName}.tenant`, this.tenant) as unknown as QueryBuilder<InstanceType<MC>, InstanceType<MC>[]>;
  }

  async transaction<T>(work: (db: TenantDb) => Promise<T>): Promise<T> {
    return this.knex.transaction((trx) => work(new KnexTenantDb(this.tenant, trx)));
  }

  async read<T>(run: (db: TenantDb) => PromiseLike<T>): Promise<T> {
    // A transaction's connection cannot be swapped for another: its read runs once.
    if ((this.knex as Knex.Transaction).isTransaction === true) return run(this);
    return readSurvivingLostConnection(() => run(this), readAttemptsFor(this.knex));
  }
}
