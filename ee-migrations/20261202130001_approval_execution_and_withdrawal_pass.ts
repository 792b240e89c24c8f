import type { Knex } from 'knex';

/**
 * The use of a grant that executed a request, and the withdrawal that withdrew it. Each is one
 * conditional update run again when its connection is lost; the attempt that answers finds by this
 * id the row an earlier attempt changed (that commit may have happened with its answer lost), so
 * the call runs and the withdrawal is audited once, whichever attempt committed it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('mcp_approvals', (t) => {
    t.uuid('execution_pass');
    t.uuid('withdrawal_pass');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('mcp_approvals', (t) => {
    t.dropColumn('withdrawal_pass');
    t.dropColumn('execution_pass');
  });
}
