import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('api_keys', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('tenant').notNullable();
    t.text('name').notNullable();
    // Public, non-secret part of the key: the lookup handle, and what lists show.
    t.text('prefix').notNullable().unique();
    // SHA-256 (hex) of the whole key. The key itself is never stored.
    t.text('secret_hash').notNullable();
    t.jsonb('scopes').notNullable().defaultTo(JSON.stringify(['mcp']));
    t.text('created_by');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('expires_at', { useTz: true });
    t.timestamp('revoked_at', { useTz: true });
    t.timestamp('last_used_at', { useTz: true });
    t.index(['tenant']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('api_keys');
}
