import type { Knex } from 'knex';

/**
 * Intents of durable-before-execute calls that have not been completed yet, with the instance
 * that runs them: an instance that starts marks those of a dead instance `outcome unknown`.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('mcp_audit_open_intents', (t) => {
    t.uuid('event_id').primary();
    t.text('tenant').notNullable();
    t.text('instance_id').notNullable();
    t.timestamp('occurred_at', { useTz: true }).notNullable();
    t.index(['instance_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('mcp_audit_open_intents');
}
