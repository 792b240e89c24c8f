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
    expect(core).to.deep.equal(['20261124000001_api_keys', '20261130000001_fleet_state']);
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
});
