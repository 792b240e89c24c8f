import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '@gatehouse-mcp/engine';
import type { Knex } from 'knex';
import type { BenchDatabase } from './protocol.js';

/**
 * Scratch databases for one benchmark run: a schema per use on the PostgreSQL server named by
 * `DATABASE_URL`, or a data directory per use of the embedded database. All dropped at the end.
 */
export class BenchDatabases {
  private readonly created: BenchDatabase[] = [];
  private readonly run = randomBytes(4).toString('hex');

  constructor(readonly url: string | undefined) {}

  get kind(): 'postgres' | 'embedded' {
    return this.url ? 'postgres' : 'embedded';
  }

  /** A new, empty database (each call its own). */
  async create(name: string): Promise<BenchDatabase> {
    const database: BenchDatabase = this.url
      ? { url: this.url, schema: `bench_${this.run}_${name}_${this.created.length}` }
      : { dataDir: await mkdtemp(path.join(os.tmpdir(), `gatehouse-bench-${name}-`)) };
    this.created.push(database);
    return database;
  }

  /**
   * Open a database for the runner itself (embedded: only while no server process holds it), with
   * no statement timeout: seeding a million audit rows and analysing them is not a request.
   */
  async open(database: BenchDatabase): Promise<Knex> {
    const db = await openDatabase('url' in database ? { url: database.url, schema: database.schema, pool: { min: 0, max: 4 }, statementTimeoutMs: 0 } : { dataDir: database.dataDir });
    return db.knex;
  }

  async dropAll(): Promise<void> {
    if (this.url && this.created.length) {
      const db = await openDatabase({ url: this.url, pool: { min: 0, max: 1 } });
      try {
        for (const database of this.created) if ('schema' in database) await db.knex.raw('drop schema if exists ?? cascade', [database.schema]);
      } finally {
        await db.close();
      }
    }
    for (const database of this.created) if ('dataDir' in database) await rm(database.dataDir, { recursive: true, force: true });
    this.created.length = 0;
  }
}
