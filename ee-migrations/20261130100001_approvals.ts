import type { Knex } from 'knex';

/**
 * Approval requests: one row per call held for a person's approval. A row is a single-use grant
 * once approved; `executed` rows are never used again.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('mcp_approvals', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('tenant').notNullable();
    // Who asked, by value: the agent (or credential) whose identical retry may use the grant.
    t.text('caller').notNullable();
    t.text('principal_kind').notNullable();
    t.text('principal_id').notNullable();
    t.text('principal_label');
    t.text('agent_id');
    t.text('key_id');
    t.text('tool').notNullable();
    t.text('target_kind').notNullable();
    t.text('target_name').notNullable();
    t.jsonb('arguments').notNullable();
    t.text('arguments_digest').notNullable();
    t.text('policy_version').notNullable();
    t.text('policy_reason').notNullable();
    t.integer('approvers_required').notNullable().defaultTo(1);
    // pending | approved | denied | expired | executed
    t.text('state').notNullable().defaultTo('pending');
    t.boolean('withdrawn').notNullable().defaultTo(false);
    // [{ id, kind, label, reason, at }] of each approval given so far.
    t.jsonb('approvals').notNullable().defaultTo('[]');
    t.text('decided_by');
    t.text('decision_reason');
    t.timestamp('decided_at', { useTz: true });
    t.jsonb('result');
    t.text('request_id').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('executed_at', { useTz: true });
    t.index(['tenant', 'state', 'created_at']);
    t.index(['tenant', 'caller', 'tool', 'arguments_digest']);
  });
  // One pending request per identical call: concurrent identical calls share it.
  await knex.raw(
    "create unique index mcp_approvals_one_pending on mcp_approvals (tenant, caller, tool, target_name, arguments_digest, policy_version) where state = 'pending'",
  );

  await knex.schema.createTable('mcp_approval_webhooks', (t) => {
    t.text('tenant').primary();
    t.text('url').notNullable();
    t.text('secret').notNullable();
    t.text('ui_url');
    t.boolean('active').notNullable().defaultTo(true);
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('mcp_approval_webhooks');
  await knex.schema.dropTableIfExists('mcp_approvals');
}
