import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import { GENESIS_HASH, chainHash, contentOfRow } from '../src/plugins/ee/audit/audit-chain.js';
import { ensurePartition, monthStart } from '../src/plugins/ee/audit/audit-partitions.js';

const COLUMNS = `
  id bigserial not null,
  event_id uuid not null,
  tenant text not null,
  seq bigint not null,
  prev_hash text not null,
  hash text not null,
  occurred_at timestamptz not null,
  principal_kind text,
  principal_id text,
  principal_label text,
  agent_id uuid,
  key_id uuid,
  issuer text,
  subject text,
  action text not null,
  target text,
  decision text not null,
  reason text,
  outcome text not null,
  arguments_digest text,
  arguments jsonb,
  latency_ms double precision,
  request_id text not null,
  client_address text,
  details jsonb,
  primary key (id, occurred_at)`;

const COPIED = [
  'id', 'tenant', 'occurred_at', 'principal_kind', 'principal_id', 'principal_label', 'agent_id', 'key_id', 'issuer', 'subject',
  'action', 'target', 'decision', 'reason', 'outcome', 'arguments_digest', 'arguments', 'latency_ms', 'request_id', 'client_address', 'details',
];

/**
 * The audit trail becomes evidence: `mcp_agent_audit` is rebuilt as a table partitioned by month,
 * every row gets an event id and its place in its tenant's hash chain, and the chain heads and
 * signed checkpoints get their tables. Existing rows are copied (oldest first per tenant, chained in
 * that order) and keep their ids.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('alter table mcp_agent_audit rename to mcp_agent_audit_unpartitioned');
  await knex.raw('alter table mcp_agent_audit_unpartitioned rename constraint mcp_agent_audit_pkey to mcp_agent_audit_unpartitioned_pkey');
  await knex.raw('alter sequence mcp_agent_audit_id_seq rename to mcp_agent_audit_unpartitioned_id_seq');
  await knex.raw(`create table mcp_agent_audit (${COLUMNS}) partition by range (occurred_at)`);
  await knex.raw('create unique index mcp_agent_audit_event on mcp_agent_audit (event_id, occurred_at)');
  await knex.raw('create index mcp_agent_audit_tenant_seq on mcp_agent_audit (tenant, seq, id)');
  await knex.raw('create index mcp_agent_audit_tenant_time on mcp_agent_audit (tenant, occurred_at, id)');
  await knex.raw('create index mcp_agent_audit_tenant_agent on mcp_agent_audit (tenant, agent_id, occurred_at)');
  await knex.raw('create index mcp_agent_audit_tenant_target on mcp_agent_audit (tenant, target, occurred_at)');

  await knex.schema.createTable('mcp_audit_chain_heads', (t) => {
    t.text('tenant').primary();
    t.bigInteger('seq').notNullable();
    t.text('hash').notNullable();
  });
  await knex.schema.createTable('mcp_audit_checkpoints', (t) => {
    t.text('tenant').notNullable();
    t.integer('index').notNullable();
    t.bigInteger('seq').notNullable();
    t.text('hash').notNullable();
    t.timestamp('signed_at', { useTz: true }).notNullable();
    t.text('key_id').notNullable();
    t.text('signature').notNullable();
    t.primary(['tenant', 'index']);
    t.index(['tenant', 'seq']);
  });

  // Partitions for every month the old rows span, and for this month.
  const span = (await knex('mcp_agent_audit_unpartitioned').min('occurred_at as min').max('occurred_at as max').first()) as { min: Date | null; max: Date | null };
  const months = [monthStart(new Date())];
  if (span.min && span.max) {
    for (let month = monthStart(new Date(span.min)); month <= new Date(span.max); month = new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1, 1))) months.push(month);
  }
  for (const month of months) await ensurePartition(knex, month);

  const tenants = (await knex('mcp_agent_audit_unpartitioned').distinct('tenant')) as { tenant: string }[];
  for (const { tenant } of tenants) {
    let seq = 0;
    let prevHash = GENESIS_HASH;
    let after: { occurred_at: Date; id: string } | undefined;
    for (;;) {
      const q = knex('mcp_agent_audit_unpartitioned').select(COPIED).where({ tenant });
      if (after) q.andWhereRaw('(occurred_at, id) > (?, ?)', [after.occurred_at, after.id]);
      const rows = (await q.orderBy([{ column: 'occurred_at' }, { column: 'id' }]).limit(1000)) as Record<string, unknown>[];
      if (rows.length === 0) break;
      const chained = rows.map((row) => {
        seq += 1;
        const full: Record<string, unknown> = { ...row, event_id: randomUUID(), seq, prev_hash: prevHash };
        full.hash = chainHash(prevHash, contentOfRow(full));
        prevHash = full.hash as string;
        return {
          ...full,
          arguments: row.arguments == null ? null : JSON.stringify(row.arguments),
          details: row.details == null ? null : JSON.stringify(row.details),
        };
      });
      await knex('mcp_agent_audit').insert(chained);
      const last = rows[rows.length - 1]!;
      after = { occurred_at: last.occurred_at as Date, id: String(last.id) };
    }
    await knex('mcp_audit_chain_heads').insert({ tenant, seq, hash: prevHash });
  }
  await knex.raw(`select setval('mcp_agent_audit_id_seq', greatest((select max(id) from mcp_agent_audit), 1))`);
  await knex.raw('drop table mcp_agent_audit_unpartitioned');
}

export async function down(): Promise<void> {
  throw new Error('The audit chain migration cannot be undone: dropping the chain would destroy evidence.');
}
