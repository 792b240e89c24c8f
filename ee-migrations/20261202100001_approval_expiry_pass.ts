import type { Knex } from 'knex';

/**
 * The run of "expire due requests" that expired a request. A run that lost its connection runs
 * again and finds the rows an earlier attempt expired (that commit may have happened with its
 * answer lost) by this id, so each expiry is audited once whichever attempt committed it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('mcp_approvals', (t) => {
    t.uuid('expiry_pass');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('mcp_approvals', (t) => {
    t.dropColumn('expiry_pass');
  });
}
