import type { Knex } from 'knex';

/** The order in which a tenant's identity providers are listed in its resource metadata (lower first). */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agent_idp_providers', (t) => {
    t.integer('list_order').notNullable().defaultTo(0);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agent_idp_providers', (t) => {
    t.dropColumn('list_order');
  });
}
