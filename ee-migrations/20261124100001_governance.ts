import type { Knex } from 'knex';

/**
 * Enterprise governance tables. Audit rows reference agents, keys and IdPs by value, never by
 * foreign key, so deleting any of them keeps the audit trail intact.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('agent_idp_providers', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('tenant').notNullable();
    t.text('name').notNullable();
    // entra | google | keycloak | custom
    t.text('kind').notNullable();
    t.text('issuer').notNullable();
    t.text('discovery_url');
    t.text('jwks_uri');
    // The `aud` value tokens must carry (for most IdPs the tenant's canonical MCP URL).
    t.text('audience').notNullable();
    // Which claim names the agent: sub, azp, client_id, appid, oid…
    t.text('subject_claim').notNullable().defaultTo('sub');
    t.jsonb('allowed_algorithms').notNullable().defaultTo(JSON.stringify(['RS256', 'PS256', 'ES256']));
    t.integer('clock_skew_seconds').notNullable().defaultTo(60);
    // any (JWT or at+jwt) | at+jwt (strict RFC 9068)
    t.text('token_type').notNullable().defaultTo('any');
    // Preset inputs (Entra directory id, Keycloak realm URL…), kept to edit the provider later.
    t.jsonb('settings').notNullable().defaultTo('{}');
    t.boolean('active').notNullable().defaultTo(true);
    t.text('created_by');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['tenant', 'issuer']);
  });

  await knex.schema.createTable('agents', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('tenant').notNullable();
    t.text('name').notNullable();
    t.text('description').notNullable().defaultTo('');
    t.uuid('idp_id').references('id').inTable('agent_idp_providers').onDelete('RESTRICT');
    // The binding to the IdP's identity: issuer + the value of the IdP's subject claim.
    t.text('issuer');
    t.text('subject');
    t.boolean('active').notNullable().defaultTo(true);
    t.text('created_by');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('last_seen_at', { useTz: true });
    t.index(['tenant']);
  });
  // One active agent per (tenant, issuer, subject).
  await knex.raw(
    'create unique index agents_active_binding on agents (tenant, issuer, subject) where active and issuer is not null and subject is not null',
  );

  await knex.schema.createTable('roles', (t) => {
    t.uuid('id').primary().defaultTo(knex.raw('gen_random_uuid()'));
    t.text('tenant').notNullable();
    t.text('name').notNullable();
    t.text('description').notNullable().defaultTo('');
    // Permission patterns: tickets:read, tickets:*, *
    t.jsonb('permissions').notNullable().defaultTo('[]');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.unique(['tenant', 'name']);
  });

  await knex.schema.createTable('agent_roles', (t) => {
    t.text('tenant').notNullable();
    t.uuid('agent_id').notNullable().references('id').inTable('agents').onDelete('CASCADE');
    t.uuid('role_id').notNullable().references('id').inTable('roles').onDelete('CASCADE');
    t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
    t.primary(['agent_id', 'role_id']);
    t.index(['tenant', 'role_id']);
  });

  await knex.schema.createTable('mcp_agent_audit', (t) => {
    t.bigIncrements('id').primary();
    t.text('tenant').notNullable();
    t.timestamp('occurred_at', { useTz: true }).notNullable();
    // Who: by value, no foreign keys.
    t.text('principal_kind');
    t.text('principal_id');
    t.text('principal_label');
    t.uuid('agent_id');
    t.uuid('key_id');
    t.text('issuer');
    t.text('subject');
    // What
    t.text('action').notNullable();
    t.text('target');
    t.text('decision').notNullable();
    t.text('reason');
    t.text('outcome').notNullable();
    t.text('arguments_digest');
    t.jsonb('arguments');
    t.double('latency_ms');
    t.text('request_id').notNullable();
    t.text('client_address');
    t.jsonb('details');
    t.index(['tenant', 'occurred_at', 'id']);
    t.index(['tenant', 'agent_id', 'occurred_at']);
    t.index(['tenant', 'target', 'occurred_at']);
  });

  await knex.schema.alterTable('api_keys', (t) => {
    t.uuid('agent_id').references('id').inTable('agents').onDelete('CASCADE');
    t.index(['agent_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (t) => t.dropColumn('agent_id'));
  for (const table of ['mcp_agent_audit', 'agent_roles', 'roles', 'agents', 'agent_idp_providers']) {
    await knex.schema.dropTableIfExists(table);
  }
}
