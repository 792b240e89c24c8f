import type { Knex } from 'knex';

/**
 * Cedar policies per tenant: the policies (`mcp_policies`), every version of each
 * (`mcp_policy_history`, with the diff against the one before) and the tenant's policy-set version
 * (`mcp_policy_sets`, incremented by every change). Agents get `attributes`: facts the admin sets
 * that policies can read (`principal.getTag("board")`).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('mcp_policy_sets', (t) => {
    t.text('tenant').primary();
    t.integer('version').notNullable().defaultTo(0);
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
  await knex.schema.createTable('mcp_policies', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('tenant').notNullable();
    t.text('name').notNullable();
    t.text('description').notNullable().defaultTo('');
    t.text('text').notNullable();
    t.boolean('enabled').notNullable().defaultTo(true);
    t.integer('version').notNullable();
    t.text('updated_by');
    t.text('last_error');
    t.timestamp('last_error_at', { useTz: true });
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['tenant', 'name']);
  });
  await knex.schema.createTable('mcp_policy_history', (t) => {
    t.bigIncrements('seq').primary();
    t.text('tenant').notNullable();
    t.uuid('policy_id').notNullable();
    t.integer('version').notNullable();
    // create | update | delete
    t.text('change').notNullable();
    t.text('name').notNullable();
    t.text('description').notNullable().defaultTo('');
    t.text('text').notNullable();
    t.boolean('enabled').notNullable();
    t.text('changed_by');
    t.timestamp('changed_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.text('diff').notNullable();
    t.index(['tenant', 'policy_id', 'version']);
  });
  await knex.schema.alterTable('agents', (t) => {
    t.jsonb('attributes').notNullable().defaultTo('{}');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('agents', (t) => {
    t.dropColumn('attributes');
  });
  await knex.schema.dropTableIfExists('mcp_policy_history');
  await knex.schema.dropTableIfExists('mcp_policies');
  await knex.schema.dropTableIfExists('mcp_policy_sets');
}
