/**
 * A directory of knex migrations contributed by a plugin. Each source keeps its own knex migration
 * table, so sources never see each other's files: running any subset of plugins, in any order and
 * repeatedly, never double-applies a migration or fails on a "missing" one. Migration names are
 * recorded without their file extension, so the same database works from sources and from a build.
 */
export interface MigrationSource {
  /** Stable identifier; names the migration table (`gatehouse_migrations_<id>`). */
  readonly id: string;
  /** Absolute directory path or `file:` URL. */
  readonly directory: string | URL;
}

export const MigrationSource = Symbol.for('gatehouse.MigrationSource');
