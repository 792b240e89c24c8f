import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Knex } from 'knex';
import { createEngine, runMigrations } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { freshDatabase } from '@gatehouse-mcp/engine/testing';
import { ticketsPlugin } from '../../examples/tickets-plugin/index.js';

async function applied(knex: Knex, table: string): Promise<string[]> {
  if (!(await knex.schema.hasTable(table))) return [];
  return (await knex(table).orderBy('id').select('name')).map((row: { name: string }) => row.name);
}

describe('migrations', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  before(async () => {
    db = await freshDatabase();
  });
  after(() => db.close());

  const boot = async (plugins: Parameters<typeof createEngine>[0]['plugins']): Promise<void> => {
    const engine = await createEngine({ plugins, database: { knex: db.knex }, logLevel: 'silent' });
    await engine.close();
  };

  it('run CE, CE again, CE with a plugin directory, then CE alone again without double-applying or failing', async () => {
    await boot([communityEdition()]);
    const core = await applied(db.knex, 'gatehouse_migrations_core');
    expect(core).to.deep.equal(['20261124000001_api_keys', '20261130000001_fleet_state', '20261130000002_fleet_streams', '20261130000003_session_capabilities_text', '20261130000004_admin_session_principal_text']);
    expect(await db.knex.schema.hasTable('tickets')).to.equal(false);

    await boot([communityEdition()]);
    expect(await applied(db.knex, 'gatehouse_migrations_core')).to.deep.equal(core);

    await boot([communityEdition(), ticketsPlugin()]);
    expect(await applied(db.knex, 'gatehouse_migrations_core')).to.deep.equal(core);
    expect(await applied(db.knex, 'gatehouse_migrations_tickets')).to.deep.equal(['20261124200001_tickets']);
    expect(await db.knex.schema.hasTable('tickets')).to.equal(true);

    // Dropping the plugin again must not trip over its recorded migrations.
    await boot([communityEdition()]);
    expect(await applied(db.knex, 'gatehouse_migrations_core')).to.deep.equal(core);
    expect(await applied(db.knex, 'gatehouse_migrations_tickets')).to.deep.equal(['20261124200001_tickets']);
  });
  describe('a database already migrated (the start that reads the bookkeeping only)', () => {
    let dir: string;
    let fresh: Awaited<ReturnType<typeof freshDatabase>>;
    const migration = (table: string) => `export async function up(knex) { await knex.schema.createTable('${table}', (t) => t.increments('id')); }\nexport async function down(knex) { await knex.schema.dropTable('${table}'); }\n`;
    beforeEach(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-migrations-'));
      fresh = await freshDatabase();
    });
    afterEach(async () => {
      await fresh.close();
      await rm(dir, { recursive: true, force: true });
    });

    it('applies a migration added after the last start, and nothing twice', async () => {
      const source = { id: 'added', directory: dir };
      await writeFile(path.join(dir, '001_first.mjs'), migration('added_first'));
      expect(await runMigrations(fresh.knex, [source])).to.deep.equal(['added/001_first']);
      expect(await runMigrations(fresh.knex, [source])).to.deep.equal([]);
      await writeFile(path.join(dir, '002_second.mjs'), migration('added_second'));
      expect(await runMigrations(fresh.knex, [source])).to.deep.equal(['added/002_second']);
      expect(await fresh.knex.schema.hasTable('added_second')).to.equal(true);
      expect(await runMigrations(fresh.knex, [source])).to.deep.equal([]);
    });

    it('still refuses a directory that lost a migration the database recorded', async () => {
      const source = { id: 'lost', directory: dir };
      await writeFile(path.join(dir, '001_first.mjs'), migration('lost_first'));
      await writeFile(path.join(dir, '002_second.mjs'), migration('lost_second'));
      await runMigrations(fresh.knex, [source]);
      await rm(path.join(dir, '002_second.mjs'));
      const error = await runMigrations(fresh.knex, [source]).then(() => expect.fail('a recorded migration went missing unnoticed'), (failure: Error) => failure);
      expect(error.message).to.include('002_second');
    });
  });

  describe('migrate: false on a database that is behind', () => {
    let behind: Awaited<ReturnType<typeof freshDatabase>>;
    beforeEach(async () => {
      behind = await freshDatabase();
    });
    afterEach(() => behind.close());

    it('refuses to boot, naming every missing migration, the host plugin\'s included', async () => {
      const error = await createEngine({ plugins: [communityEdition(), ticketsPlugin()], database: { knex: behind.knex }, migrate: false, logLevel: 'silent' }).then(
        () => expect.fail('the engine booted on a database without its tables'),
        (failure: Error) => failure,
      );
      expect(error.name).to.equal('BootError');
      expect(error.message).to.match(/^The database is behind: \d+ migrations are not applied \(core\/20261124000001_api_keys, (core\/\S+, )*tickets\/20261124200001_tickets\)\./);
      expect(error.message).to.include('gatehouse migrate');
      // Checking wrote nothing: not even the bookkeeping tables.
      expect(await behind.knex.schema.hasTable('gatehouse_migrations_core')).to.equal(false);
    });

    it('names only what is missing, and boots once every plugin is migrated', async () => {
      const engineOn = (migrate: boolean) => createEngine({ plugins: [communityEdition(), ticketsPlugin()], database: { knex: behind.knex }, migrate, logLevel: 'silent' });
      await (await createEngine({ plugins: [communityEdition()], database: { knex: behind.knex }, logLevel: 'silent' })).close();
      const error = await engineOn(false).then(() => expect.fail('booted without the tickets tables'), (failure: Error) => failure);
      expect(error.message).to.include('1 migration is not applied (tickets/20261124200001_tickets)');
      await (await engineOn(true)).close();
      await (await engineOn(false)).close();
    });
  });
});
