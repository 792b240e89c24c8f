import type { Knex } from 'knex';

/**
 * The arguments of a held call and the result of its run are kept as JSON text: they are whatever
 * the client sent and the tool returned, and `jsonb` refuses some of it (the escapes `\u0000` and
 * lone surrogates). Both are only ever read back whole; the identical retry is matched by digest.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table mcp_approvals alter column arguments type text using arguments::text`);
  await knex.raw(`alter table mcp_approvals alter column result type text using result::text`);
}

export async function down(knex: Knex): Promise<void> {
  // Text jsonb cannot hold is dropped rather than failing the downgrade: `{}` for arguments, no result.
  const unstorable = `~ '\\\\u0000|\\\\u[dD][89a-fA-F]'`;
  await knex.raw(`alter table mcp_approvals alter column arguments type jsonb using (case when arguments ${unstorable} then '{}' else arguments end)::jsonb`);
  await knex.raw(`alter table mcp_approvals alter column result type jsonb using (case when result ${unstorable} then null else result end)::jsonb`);
}
