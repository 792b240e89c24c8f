import { expect } from 'chai';
import type { Knex } from 'knex';
import { createEngine } from '@gatehouse-mcp/engine';
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
    expect(core).to.deep.equal(['20261124000001_api_keys', '20261130000001_fleet_state', '20261130000002_fleet_streams']);
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
