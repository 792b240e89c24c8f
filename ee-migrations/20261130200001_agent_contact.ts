import type { Knex } from 'knex';

/** Who to ask about an agent: its owner or contact (a person, a team, an address), free text. */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agents', (t) => {
    t.text('contact').notNullable().defaultTo('');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agents', (t) => {
    t.dropColumn('contact');
  });
}
