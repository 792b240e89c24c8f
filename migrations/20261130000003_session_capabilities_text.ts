import type { Knex } from 'knex';

/**
 * A session's client capabilities are kept as JSON text: they are whatever the client sent in
 * `initialize`, and `jsonb` refuses some of it (the escapes `\u0000` and lone surrogates). They are
 * only ever read back whole. Instances still running the previous version write JSON text too.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table mcp_sessions alter column client_capabilities drop default`);
  await knex.raw(`alter table mcp_sessions alter column client_capabilities type text using client_capabilities::text`);
  await knex.raw(`alter table mcp_sessions alter column client_capabilities set default '{}'`);
}

export async function down(knex: Knex): Promise<void> {
  // Capabilities jsonb cannot hold are dropped to `{}` rather than failing the downgrade.
  await knex.raw(`alter table mcp_sessions alter column client_capabilities drop default`);
  await knex.raw(`alter table mcp_sessions alter column client_capabilities type jsonb using (case when client_capabilities ~ '\\\\u0000|\\\\u[dD][89a-fA-F]' then '{}' else client_capabilities end)::jsonb`);
  await knex.raw(`alter table mcp_sessions alter column client_capabilities set default '{}'::jsonb`);
}
