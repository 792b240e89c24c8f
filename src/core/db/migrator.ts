import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import knexFactory, { type Knex } from 'knex';
import type { MigrationSource } from '../ports/migrations.js';
import { ConfigError } from '../errors.js';

const MIGRATION_FILE = /^(?!.*\.d\.[cm]?ts$).+\.(?:[cm]?js|[cm]?ts)$/;
const OWN_EXTENSION = path.extname(fileURLToPath(import.meta.url));
const SOURCE_ID = /^[a-z0-9][a-z0-9_-]{0,40}$/;

interface MigrationModule {
  up(knex: Knex): Promise<void>;
  down?(knex: Knex): Promise<void>;
}

/**
 * A knex migration source over one directory that names migrations without their extension, so a
 * database migrated from TypeScript sources stays valid when run from the compiled build (and the
 * other way round). When both `x.ts` and `x.js` exist, the one this process can load is used.
 */
class DirectoryMigrationSource implements Knex.MigrationSource<string> {
  constructor(private readonly directory: string) {}

  async getMigrations(): Promise<string[]> {
    const files = (await readdir(this.directory)).filter((file) => MIGRATION_FILE.test(file)).sort();
    const byName = new Map<string, string>();
    for (const file of files) {
      const name = this.getMigrationName(file);
      // Where a directory holds both a source and its build, load the kind this process runs.
      if (!byName.has(name) || path.extname(file) === OWN_EXTENSION) byName.set(name, file);
    }
    return [...byName.values()];
  }

  getMigrationName(file: string): string {
    return file.replace(/\.[cm]?[jt]s$/, '');
  }

  async getMigration(file: string): Promise<Knex.Migration> {
    const mod = (await import(pathToFileURL(path.join(this.directory, file)).href)) as MigrationModule;
    if (typeof mod.up !== 'function') throw new ConfigError(`Migration ${file} in ${this.directory} exports no up().`);
    // Each migration runs in its own transaction, without the engine's statement timeout: building an
    // index on a large table may take minutes, and a migration cut short would fail the deploy.
    const unbounded =
      (step: (knex: Knex) => unknown) =>
      async (knex: Knex): Promise<unknown> => {
        await knex.raw('set local statement_timeout = 0');
        return step(knex);
      };
    // The engine never rolls back; a migration without down() is refused only if one is asked for.
    const down = mod.down ?? (() => Promise.reject(new ConfigError(`Migration ${file} in ${this.directory} exports no down().`)));
    return { up: unbounded(mod.up), down: unbounded(down) };
  }
}

export function migrationTable(source: MigrationSource): string {
  if (!SOURCE_ID.test(source.id)) throw new ConfigError(`Migration source id "${source.id}" is invalid.`);
  return `gatehouse_migrations_${source.id.replace(/-/g, '_')}`;
}

function directoryOf(source: MigrationSource): string {
  return source.directory instanceof URL ? fileURLToPath(source.directory) : source.directory;
}

/**
 * Whether every source's bookkeeping table records exactly its directory's migrations, read in two
 * queries (which tables exist, then all their names). Anything else — a table missing, a migration
 * pending, a recorded one whose file is gone — is left to knex's migrator, which applies, locks and
 * reports as it always does.
 */
async function allApplied(knex: Knex, sources: readonly MigrationSource[]): Promise<boolean> {
  const expected = new Map<string, Set<string>>();
  for (const source of sources) {
    const files = new DirectoryMigrationSource(directoryOf(source));
    expected.set(migrationTable(source), new Set((await files.getMigrations()).map((file) => files.getMigrationName(file))));
  }
  const tables = [...expected.keys()];
  const existing = (await knex('information_schema.tables').whereRaw('table_schema = current_schema()').whereIn('table_name', tables).pluck('table_name')) as string[];
  if (existing.length !== tables.length) return false;
  const union = tables.map(() => 'select ? as source, name from ??').join(' union all ');
  const { rows } = (await knex.raw(union, tables.flatMap((table) => [table, table]))) as { rows: { source: string; name: string }[] };
  const recorded = new Map<string, Set<string>>(tables.map((table) => [table, new Set()]));
  for (const row of rows) recorded.get(row.source)!.add(row.name);
  for (const [table, names] of expected) {
    const done = recorded.get(table)!;
    if (done.size !== names.size || [...names].some((name) => !done.has(name))) return false;
  }
  return true;
}

/** Apply every pending migration of each source, in order. Returns the names applied. */
export async function runMigrations(knex: Knex, sources: readonly MigrationSource[]): Promise<string[]> {
  // The common start: a database already migrated by this engine needs no migrator (nor its lock).
  if (await allApplied(knex, sources)) return [];
  return withoutReplyTimeout(knex, async (migrating) => {
    const applied: string[] = [];
    for (const source of sources) {
      const [, names] = (await migrating.migrate.latest({
        migrationSource: new DirectoryMigrationSource(directoryOf(source)),
        tableName: migrationTable(source),
      })) as [number, string[]];
      applied.push(...names.map((name) => `${source.id}/${name}`));
    }
    return applied;
  });
}

/**
 * Run `work` on `knex`, or, when its connections give up waiting for a reply after a while (the
 * engine's bound on a database that stops answering), on one connection of the same settings
 * without that bound: a migration building an index on a large table may run for minutes.
 */
async function withoutReplyTimeout<T>(knex: Knex, work: (knex: Knex) => Promise<T>): Promise<T> {
  const client = knex.client as { config: Knex.Config; connectionSettings?: unknown };
  const settings = client.connectionSettings;
  if (typeof settings !== 'object' || settings === null || !('query_timeout' in settings)) return work(knex);
  const { query_timeout: _, ...unbounded } = settings as Record<string, unknown>;
  const migrating = knexFactory({ ...client.config, connection: unbounded as Knex.StaticConnectionConfig, pool: { ...client.config.pool, min: 0, max: 1 } });
  try {
    return await work(migrating);
  } finally {
    await migrating.destroy();
  }
}

/**
 * The migrations of each source that the database has not applied, as `source/name`. Reads only:
 * a missing bookkeeping table means none of that source's migrations are applied.
 */
export async function pendingMigrations(knex: Knex, sources: readonly MigrationSource[]): Promise<string[]> {
  const pending: string[] = [];
  for (const source of sources) {
    const files = new DirectoryMigrationSource(directoryOf(source));
    const names = (await files.getMigrations()).map((file) => files.getMigrationName(file));
    const table = migrationTable(source);
    const rows = (await knex.schema.hasTable(table)) ? ((await knex(table).pluck('name')) as string[]) : [];
    const applied = new Set(rows.map((name) => files.getMigrationName(name)));
    pending.push(...names.filter((name) => !applied.has(name)).map((name) => `${source.id}/${name}`));
  }
  return pending;
}
