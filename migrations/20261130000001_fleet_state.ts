import type { Knex } from 'knex';

/**
 * State shared by every engine instance on one database: MCP sessions, the events of their
 * server→client streams (for resumption on any instance), admin browser sessions, and the
 * registry of running instances.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('mcp_sessions', (t) => {
    t.text('id').primary();
    t.text('tenant').notNullable();
    // Tenant, kind and id of the principal that created the session; any other gets "not found".
    t.text('owner').notNullable();
    t.text('protocol_version').notNullable();
    t.jsonb('client_capabilities').notNullable().defaultTo('{}');
    t.text('log_level');
    t.jsonb('subscriptions').notNullable().defaultTo('[]');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_seen_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['last_seen_at']);
  });
  await knex.schema.createTable('mcp_session_events', (t) => {
    t.bigIncrements('id').primary();
    t.text('session_id').notNullable().references('mcp_sessions.id').onDelete('CASCADE');
    // Which stream of the session the event belongs to (`get` for the standalone stream, else the request's).
    t.text('stream').notNullable();
    t.text('message').notNullable();
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['session_id', 'stream', 'id']);
    t.index(['created_at']);
  });
  await knex.schema.createTable('admin_sessions', (t) => {
    // SHA-256 (hex) of the session id in the cookie; the id itself is never stored.
    t.text('id_hash').primary();
    t.text('csrf_token').notNullable();
    t.text('tenant').notNullable();
    t.jsonb('principal').notNullable();
    t.timestamp('expires_at', { useTz: true }).notNullable();
    t.timestamp('last_used_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('key_checked_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.index(['expires_at']);
  });
  await knex.schema.createTable('engine_instances', (t) => {
    t.uuid('id').primary();
    t.text('host').notNullable();
    t.integer('pid').notNullable();
    t.text('version').notNullable();
    t.timestamp('started_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_heartbeat_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('engine_instances');
  await knex.schema.dropTableIfExists('admin_sessions');
  await knex.schema.dropTableIfExists('mcp_session_events');
  await knex.schema.dropTableIfExists('mcp_sessions');
}
