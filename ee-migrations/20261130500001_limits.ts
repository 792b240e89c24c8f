import type { Knex } from 'knex';

/**
 * Rate limits and quotas: `mcp_limits` holds what the admin set (per tenant, agent or role,
 * optionally for one tool); `mcp_limit_usage` counts each limit's current window per subject (the
 * tenant, or an agent), as budget leased to instances in blocks (`leased`, never above the limit)
 * and calls the instances reported as made (`used`, a little behind).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('mcp_limits', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('tenant').notNullable();
    // tenant | agent | role
    t.text('scope').notNullable();
    t.uuid('agent_id').references('id').inTable('agents').onDelete('CASCADE');
    t.uuid('role_id').references('id').inTable('roles').onDelete('CASCADE');
    // '' = every tool.
    t.text('tool').notNullable().defaultTo('');
    // second | minute | hour | day | month
    t.text('window').notNullable();
    t.integer('max').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['tenant']);
  });
  await knex.raw(
    "create unique index mcp_limits_one_per_target on mcp_limits (tenant, scope, coalesce(agent_id::text, ''), coalesce(role_id::text, ''), tool, \"window\")",
  );

  await knex.schema.createTable('mcp_limit_usage', (t) => {
    t.uuid('limit_id').notNullable().references('id').inTable('mcp_limits').onDelete('CASCADE');
    t.text('tenant').notNullable();
    // '' for a tenant-wide count, else the agent's id.
    t.text('subject').notNullable();
    t.timestamp('window_start', { useTz: true }).notNullable();
    t.integer('leased').notNullable().defaultTo(0);
    t.integer('last_grant').notNullable().defaultTo(0);
    t.integer('used').notNullable().defaultTo(0);
    t.primary(['limit_id', 'subject', 'window_start']);
    t.index(['tenant', 'limit_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('mcp_limit_usage');
  await knex.schema.dropTableIfExists('mcp_limits');
}
