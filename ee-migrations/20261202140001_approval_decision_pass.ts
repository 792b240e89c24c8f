import type { Knex } from 'knex';

/**
 * The decision (an approval or a denial) that last changed an approval request. A decision is run
 * again when its connection is lost; the attempt that answers finds by this id that an earlier
 * attempt committed it (with its answer lost), so the decision is answered, audited and announced
 * once, whichever attempt committed it.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('mcp_approvals', (t) => {
    t.uuid('decision_pass');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('mcp_approvals', (t) => {
    t.dropColumn('decision_pass');
  });
}
