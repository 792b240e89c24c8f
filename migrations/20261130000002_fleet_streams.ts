import type { Knex } from 'knex';

/**
 * What lets a session's server→client traffic cross instances: when the session first opened its
 * standalone (GET) stream, and the answers clients post to server→client requests, kept until the
 * instance whose handler waits for one has taken it. Additive only, so instances still running the
 * previous version are not disturbed.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('mcp_sessions', (t) => {
    t.timestamp('stream_opened_at', { useTz: true });
  });
  await knex.schema.createTable('mcp_client_responses', (t) => {
    t.bigIncrements('id').primary();
    // The id of the server→client request this answers.
    t.text('request_id').notNullable();
    // Who answered (tenant, kind, id, and session when there is one): only the same caller's answer is taken.
    t.text('owner').notNullable();
    t.text('message').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['request_id']);
    t.index(['created_at']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('mcp_client_responses');
  await knex.schema.alterTable('mcp_sessions', (t) => {
    t.dropColumn('stream_opened_at');
  });
}
