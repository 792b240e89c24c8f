import type { Knex } from 'knex';

/** The audit table: natively partitioned by month of `occurred_at` (UTC). */
export const AUDIT_TABLE = 'mcp_agent_audit';
export const CHAIN_HEADS_TABLE = 'mcp_audit_chain_heads';
export const CHECKPOINTS_TABLE = 'mcp_audit_checkpoints';

const PARTITION_NAME = /^mcp_agent_audit_y(\d{4})m(\d{2})$/;

/** The first instant (UTC) of the month holding `time`. */
export function monthStart(time: Date): Date {
  return new Date(Date.UTC(time.getUTCFullYear(), time.getUTCMonth(), 1));
}

function nextMonth(start: Date): Date {
  return new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
}

/** `mcp_agent_audit_y2026m11` for any time in November 2026 (UTC). */
export function partitionName(time: Date): string {
  return `${AUDIT_TABLE}_y${time.getUTCFullYear()}m${String(time.getUTCMonth() + 1).padStart(2, '0')}`;
}

/** Create the month partition holding `time` unless it exists (safe when several instances race). */
export async function ensurePartition(knex: Knex, time: Date, comment = ''): Promise<string> {
  const start = monthStart(time);
  const name = partitionName(start);
  try {
    await knex.raw(
      `${comment}create table if not exists ?? partition of ?? for values from ('${start.toISOString()}') to ('${nextMonth(start).toISOString()}')`,
      [name, AUDIT_TABLE],
    );
  } catch (error) {
    // Another instance created it between our check and our create.
    if (!['42P07', '23505'].includes(String((error as { code?: unknown }).code))) throw error;
  }
  return name;
}

export interface AuditPartition {
  readonly name: string;
  /** First instant of the month it holds. */
  readonly from: Date;
  /** First instant of the next month. */
  readonly to: Date;
}

/** The month partitions of the audit table, oldest first. */
export async function listPartitions(knex: Knex): Promise<AuditPartition[]> {
  const result = (await knex.raw(
    `select c.relname as name from pg_inherits i join pg_class c on c.oid = i.inhrelid where i.inhparent = to_regclass(?)`,
    [AUDIT_TABLE],
  )) as { rows: { name: string }[] };
  const partitions: AuditPartition[] = [];
  for (const { name } of result.rows) {
    const match = PARTITION_NAME.exec(name);
    if (!match) continue;
    const from = new Date(Date.UTC(Number(match[1]), Number(match[2]) - 1, 1));
    partitions.push({ name, from, to: nextMonth(from) });
  }
  return partitions.sort((a, b) => a.from.getTime() - b.from.getTime());
}
