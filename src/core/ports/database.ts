import type { Knex } from 'knex';
import type { Model, QueryBuilder } from 'objection';

/**
 * Tenant-scoped data access: the only way tool handlers reach the database. Every query it builds
 * is restricted to one tenant's rows, and every row it inserts is stamped with that tenant, so a
 * handler cannot read or change another tenant's data by mistake. Tenant-owned tables carry a
 * `tenant` text column.
 */
export interface TenantDb {
  readonly tenant: string;
  /** A knex query on `table`, already filtered to this tenant (`where <table>.tenant = ?`). */
  table<Row extends object = Record<string, unknown>>(table: string): Knex.QueryBuilder<Row, Row[]>;
  /** Insert rows stamped with this tenant; returns the inserted rows. */
  insert<Row extends object = Record<string, unknown>>(table: string, rows: object | object[]): Promise<Row[]>;
  /** An objection query for `model`, already filtered to this tenant. */
  query<MC extends typeof Model>(model: MC): QueryBuilder<InstanceType<MC>, InstanceType<MC>[]>;
  /** Run `work` in one transaction; the `TenantDb` it receives uses that transaction. */
  transaction<T>(work: (db: TenantDb) => Promise<T>): Promise<T>;
  /**
   * Run a read, and run it again when its pooled connection turns out lost (after a database
   * restart or failover the pool hands out dead connections until it has heard of each death), as
   * {@link Database.read} does. `run` receives this `TenantDb` and builds its queries afresh on
   * each attempt: `db.read((db) => db.table('tickets').where({ status: 'open' }))`. Never use it
   * for a write: a write whose connection died may have committed. Inside a transaction it runs
   * once: a lost connection ends the transaction, which cannot be run again from here.
   */
  read<T>(run: (db: TenantDb) => PromiseLike<T>): Promise<T>;
}

/** The engine's database: a knex instance on PostgreSQL (a server, or the embedded one). */
export interface Database {
  readonly knex: Knex;
  /** `postgres` for a server reached through `DATABASE_URL`, `embedded` for the built-in one. */
  readonly kind: 'postgres' | 'embedded';
  /** Tenant-scoped access; throws `TenantRequiredError` for an empty or malformed tenant. */
  forTenant(tenant: string, trx?: Knex.Transaction): TenantDb;
  /**
   * Run a read (a query that changes nothing, outside any transaction) and run it again when its
   * pooled connection turns out lost: after a database restart or failover the pool hands out
   * dead connections until it has heard of each death. Never use it for a write, unless running
   * the write again changes nothing more and answers the same (its first attempt may have committed).
   */
  read<T>(run: () => PromiseLike<T>): Promise<T>;
}

export const Database = Symbol.for('gatehouse.Database');
