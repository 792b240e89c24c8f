import type { Knex } from 'knex';

/**
 * The principal of an admin browser session is kept as JSON text: its label comes from the host's
 * admin authenticator (a name from its single sign-on, say), and `jsonb` refuses some text (the
 * escapes `\u0000` and lone surrogates). It is only ever read back whole.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`alter table admin_sessions alter column principal type text using principal::text`);
}

export async function down(knex: Knex): Promise<void> {
  // Sessions jsonb cannot hold end (their admins sign in again) rather than failing the downgrade.
  await knex.raw(`delete from admin_sessions where principal ~ '\\\\u0000|\\\\u[dD][89a-fA-F]'`);
  await knex.raw(`alter table admin_sessions alter column principal type jsonb using principal::jsonb`);
}
