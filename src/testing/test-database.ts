import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import { openDatabase } from '../core/index.js';

let shared: Promise<{ knex: Knex; drop: () => Promise<void> }> | undefined;

/**
 * One database per test process: with `DATABASE_URL`, a fresh schema on that server (dropped by
 * {@link closeTestDatabase}); without it, an in-memory embedded database. Engines built by the test
 * kit share it and isolate themselves by tenant, which is how the engine isolates data anyway.
 */
export function testDatabase(): Promise<Knex> {
  shared ??= (async () => {
    const url = process.env.DATABASE_URL;
    if (url) {
      const schema = `gh_test_${process.pid}_${randomBytes(4).toString('hex')}`;
      const db = await openDatabase({ url, schema, pool: { min: 0, max: 20 } });
      return {
        knex: db.knex,
        drop: async () => {
          await db.knex.raw('drop schema if exists ?? cascade', [schema]);
          await db.knex.destroy();
        },
      };
    }
    const db = await openDatabase({ dataDir: 'memory://' });
    return { knex: db.knex, drop: () => db.knex.destroy() };
  })();
  return shared.then((entry) => entry.knex);
}

/** Drop the per-process test database. Call once after all tests (a root `after` hook). */
export async function closeTestDatabase(): Promise<void> {
  if (!shared) return;
  const entry = await shared;
  shared = undefined;
  await entry.drop();
}

/** A fresh, empty schema on the test server (or a fresh embedded database), for tests that need one. */
export async function freshDatabase(): Promise<{ knex: Knex; close: () => Promise<void> }> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const db = await openDatabase({ dataDir: 'memory://' });
    return { knex: db.knex, close: () => db.knex.destroy() };
  }
  const schema = `gh_fresh_${randomBytes(6).toString('hex')}`;
  const db = await openDatabase({ url, schema, pool: { min: 0, max: 5 } });
  return {
    knex: db.knex,
    close: async () => {
      await db.knex.raw('drop schema if exists ?? cascade', [schema]);
      await db.knex.destroy();
    },
  };
}

