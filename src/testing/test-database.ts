import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import pg from 'pg';
import { openDatabase, queryInTurn } from '../core/index.js';

/**
 * The kit's state, one per process: kept on `globalThis` because a test runner may load this module
 * twice (once through `require`, once through `import`, as mocha does with a TypeScript loader when
 * some files need `import`); two copies would each claim a schema, and the one whose copy is never
 * closed would be left on the server.
 */
interface KitState {
  /** The per-process database of {@link testDatabase}. */
  shared: Promise<{ knex: Knex; drop: () => Promise<void> }> | undefined;
  /** The connection that holds this process's schema locks, opened with the first schema. */
  holder: Promise<pg.Client> | undefined;
  /** The kit's queries running on the holder. */
  running: number;
  /** This process's schemas (its own locks look free to its holder, which could take them again). */
  readonly own: Set<string>;
  /** Fresh databases handed out and not closed yet. */
  fresh: number;
}

const kit: KitState = ((globalThis as { [key: symbol]: KitState })[Symbol.for('gatehouse.testing.database')] ??= {
  shared: undefined,
  holder: undefined,
  running: 0,
  own: new Set(),
  fresh: 0,
});

/** Advisory-lock class of the test kit's schemas: a schema's lock is held while its process lives. */
const SCHEMA_LOCK = 7_240_051;
const TEST_SCHEMAS = /^gh_(test|fresh)_[0-9a-z_]+$/;

/** The holder's socket: it keeps the process alive only while a query of the kit's is running. */
const socketOf = (client: pg.Client): { ref(): void; unref(): void } | undefined =>
  (client as unknown as { connection?: { stream?: { ref?: () => void; unref?: () => void } } }).connection?.stream as { ref(): void; unref(): void } | undefined;

/**
 * A query of the kit's on the holder, once the kit's earlier ones have settled: databases asked for
 * at once (and closed at once) share the holder, which must not be sent a query while running one.
 */
async function query<Row extends pg.QueryResultRow>(client: pg.Client, text: string, values?: unknown[]): Promise<pg.QueryResult<Row>> {
  const socket = socketOf(client);
  if (kit.running++ === 0) socket?.ref();
  try {
    return await queryInTurn<Row>(client, text, values);
  } finally {
    if (--kit.running === 0) socket?.unref();
  }
}

function lockHolder(url: string): Promise<pg.Client> {
  kit.holder ??= (async () => {
    const client = new pg.Client({ connectionString: url });
    // A lost holder only means that another process may sweep this one's schemas as left behind.
    client.on('error', () => undefined);
    await client.connect();
    socketOf(client)?.unref();
    return client;
  })();
  return kit.holder;
}

/**
 * Create a schema for this process, holding its advisory lock for as long as the process lives,
 * after dropping the schemas of test processes that are gone (killed, or never closed them):
 * their locks are free.
 */
async function claimSchema(url: string, prefix: 'gh_test' | 'gh_fresh'): Promise<{ schema: string; release: () => Promise<void> }> {
  const client = await lockHolder(url);
  let schema: string;
  for (;;) {
    schema = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
    // A name whose lock another process holds (its hash collides) is not taken.
    const taken = await query<{ free: boolean }>(client, 'select pg_try_advisory_lock($1, hashtext($2)) as free', [SCHEMA_LOCK, schema]);
    if (taken.rows[0]?.free) break;
  }
  kit.own.add(schema);
  await sweepLeftSchemas(client);
  return {
    schema,
    release: async () => {
      await query(client, `drop schema if exists "${schema}" cascade`);
      await query(client, 'select pg_advisory_unlock($1, hashtext($2))', [SCHEMA_LOCK, schema]);
      kit.own.delete(schema);
    },
  };
}

/** Drop the test kit's schemas whose process is gone. */
async function sweepLeftSchemas(client: pg.Client): Promise<void> {
  const { rows } = await query<{ name: string }>(client, `select nspname as name from pg_namespace where nspname like 'gh\\_test\\_%' or nspname like 'gh\\_fresh\\_%'`);
  for (const { name } of rows) {
    if (!TEST_SCHEMAS.test(name) || kit.own.has(name)) continue;
    const free = await query<{ free: boolean }>(client, 'select pg_try_advisory_lock($1, hashtext($2)) as free', [SCHEMA_LOCK, name]);
    if (!free.rows[0]?.free) continue;
    try {
      await query(client, `drop schema if exists "${name}" cascade`);
    } finally {
      await query(client, 'select pg_advisory_unlock($1, hashtext($2))', [SCHEMA_LOCK, name]);
    }
  }
}

/** Close the lock holder once no schema of this process is left. */
async function releaseHolder(): Promise<void> {
  if (kit.shared || kit.fresh > 0 || !kit.holder) return;
  const client = await kit.holder;
  kit.holder = undefined;
  // Keep the process alive until the connection has ended, as it does for the kit's queries.
  socketOf(client)?.ref();
  await client.end().catch(() => undefined);
}

/**
 * One database per test process: with `DATABASE_URL`, a fresh schema on that server (dropped by
 * {@link closeTestDatabase}); without it, an in-memory embedded database. Engines built by the test
 * kit share it and isolate themselves by tenant, which is how the engine isolates data anyway.
 * Schemas that test processes left behind (killed, or never closed) are dropped on the way.
 */
export function testDatabase(): Promise<Knex> {
  kit.shared ??= (async () => {
    const url = process.env.DATABASE_URL;
    if (url) {
      const { schema, release } = await claimSchema(url, 'gh_test');
      const db = await openDatabase({ url, schema, pool: { min: 0, max: 20 } }).catch(async (error: unknown) => {
        await release().catch(() => undefined);
        throw error;
      });
      return {
        knex: db.knex,
        drop: async () => {
          await db.knex.destroy();
          await release();
        },
      };
    }
    const db = await openDatabase({ dataDir: 'memory://' });
    return { knex: db.knex, drop: () => db.knex.destroy() };
  })();
  return kit.shared.then((entry) => entry.knex);
}

/** Drop the per-process test database. Call once after all tests (a root `after` hook). */
export async function closeTestDatabase(): Promise<void> {
  if (!kit.shared) return;
  const entry = await kit.shared;
  kit.shared = undefined;
  await entry.drop();
  await releaseHolder();
}

/** A fresh, empty schema on the test server (or a fresh embedded database), for tests that need one. */
export async function freshDatabase(): Promise<{ knex: Knex; close: () => Promise<void> }> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const db = await openDatabase({ dataDir: 'memory://' });
    return { knex: db.knex, close: () => db.knex.destroy() };
  }
  kit.fresh++;
  let claimed: Awaited<ReturnType<typeof claimSchema>> | undefined;
  let db: Awaited<ReturnType<typeof openDatabase>>;
  try {
    claimed = await claimSchema(url, 'gh_fresh');
    db = await openDatabase({ url, schema: claimed.schema, pool: { min: 0, max: 5 } });
  } catch (error) {
    await claimed?.release().catch(() => undefined);
    kit.fresh--;
    await releaseHolder();
    throw error;
  }
  const { release } = claimed;
  return {
    knex: db.knex,
    close: async () => {
      await db.knex.destroy();
      await release();
      kit.fresh--;
      await releaseHolder();
    },
  };
}
