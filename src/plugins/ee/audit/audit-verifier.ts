import type { KeyObject } from 'node:crypto';
import { inject, injectable } from 'inversify';
import type { Knex } from 'knex';
import { Database } from '../../../core/index.js';
import { chainHash, chainRowOf, type ChainContent, type ChainRow, type Checkpoint } from './audit-chain.js';
import { AuditCheckpointer } from './audit-checkpointer.js';
import { AUDIT_TABLE } from './audit-partitions.js';
import { verifyChain, type ChainSource, type ChainVerification } from './chain-verifier.js';
import { pagesReadAhead } from './read-ahead.js';

export interface VerifyOptions {
  /** Verify the rows that occurred in [from, to) (widened to whole seq numbers) instead of the whole chain. */
  readonly from?: Date;
  readonly to?: Date;
  /** Public keys by key id; default: the engine's configured ones. */
  readonly keys?: ReadonlyMap<string, KeyObject>;
  /** Checkpoints published outward, which must all be in the database. */
  readonly published?: readonly Checkpoint[];
}

const PAGE = 2_000;

/** A tenant's chain read from the database in seq order, page by page. */
export function databaseChainSource(knex: Knex, tenant: string, range: { lo?: number; hi?: number }, checkpoints: readonly Checkpoint[], whole: boolean, published?: readonly Checkpoint[]): ChainSource {
  return {
    checkpoints,
    published,
    whole,
    async *pages() {
      // The next page is read while this one is hashed.
      const pages = pagesReadAhead<Record<string, unknown>>((after) => {
        const q = knex(AUDIT_TABLE).where({ tenant });
        const from = after ? [Number(after.seq), String(after.id)] : range.lo === undefined ? undefined : [range.lo - 1, '0'];
        if (from) q.andWhereRaw('(seq, id) > (?::bigint, ?::bigint)', from);
        if (range.hi !== undefined) q.andWhere('seq', '<=', range.hi);
        return q.orderBy([{ column: 'seq' }, { column: 'id' }]).limit(PAGE).then((rows) => rows as Record<string, unknown>[]);
      }, PAGE);
      for await (const rows of pages) yield rows.map(chainRowOf);
    },
    async findByPrevHash(hash) {
      const row = (await knex(AUDIT_TABLE).where({ tenant, prev_hash: hash }).first()) as Record<string, unknown> | undefined;
      return row ? chainRowOf(row) : undefined;
    },
  };
}

/** Verifies tenants' audit chains in the database (the admin API and `gatehouse audit verify --tenant`). */
@injectable()
export class AuditVerifier {
  constructor(
    @inject(Database) private readonly database: Database,
    @inject(AuditCheckpointer) private readonly checkpointer: AuditCheckpointer,
  ) {}

  async verify(tenant: string, options: VerifyOptions = {}): Promise<ChainVerification> {
    const knex = this.database.knex;
    const whole = !options.from && !options.to;
    const range: { lo?: number; hi?: number } = {};
    if (options.from) {
      const row = (await knex(AUDIT_TABLE).where({ tenant }).andWhere('occurred_at', '>=', options.from).min('seq as seq').first()) as { seq: string | null } | undefined;
      range.lo = row?.seq == null ? Number.MAX_SAFE_INTEGER : Number(row.seq);
    }
    if (options.to) {
      const row = (await knex(AUDIT_TABLE).where({ tenant }).andWhere('occurred_at', '<', options.to).max('seq as seq').first()) as { seq: string | null } | undefined;
      range.hi = row?.seq == null ? 0 : Number(row.seq);
    }
    const checkpoints = await this.checkpointer.list(tenant);
    const source = databaseChainSource(knex, tenant, range, checkpoints, whole, options.published);
    return verifyChain(tenant, source, options.keys ?? this.checkpointer.keys);
  }
}

/** The chain content of one exported event line (see `AuditEntry`). */
export function contentOfEntry(entry: Record<string, any>): ChainContent {
  return {
    tenant: entry.tenant ?? null,
    seq: entry.chain?.seq ?? null,
    event_id: entry.chain?.eventId ?? null,
    occurred_at: entry.occurredAt ?? null,
    principal_kind: entry.principal?.kind ?? null,
    principal_id: entry.principal?.id ?? null,
    principal_label: entry.principal?.label ?? null,
    agent_id: entry.agentId ?? null,
    key_id: entry.keyId ?? null,
    issuer: entry.issuer ?? null,
    subject: entry.subject ?? null,
    action: entry.action ?? null,
    target: entry.target ?? null,
    decision: entry.decision ?? null,
    reason: entry.reason ?? null,
    outcome: entry.outcome ?? null,
    arguments_digest: entry.argumentsDigest ?? null,
    arguments: entry.arguments ?? null,
    latency_ms: entry.latencyMs ?? null,
    request_id: entry.requestId ?? null,
    client_address: entry.clientAddress ?? null,
    details: entry.details ?? null,
  };
}

/** An audit export that {@link verifyExport} cannot read (a line that is not JSON, a record without chain fields). */
export class ExportFormatError extends Error {
  override readonly name = 'ExportFormatError';
}

/** The records of JSON Lines text with their line numbers (from 1); blank lines are skipped. */
function jsonLines(text: string): { value: Record<string, any>; line: number }[] {
  const records: { value: Record<string, any>; line: number }[] = [];
  text.split('\n').forEach((content, i) => {
    if (!content.trim()) return;
    try {
      records.push({ value: JSON.parse(content) as Record<string, any>, line: i + 1 });
    } catch {
      throw new ExportFormatError(`line ${i + 1} is not JSON`);
    }
  });
  return records;
}

/** Parse JSON Lines of checkpoints (an export's, or a published file's). */
export function parseCheckpointLines(text: string): Checkpoint[] {
  return jsonLines(text)
    .filter(({ value }) => value.type === 'checkpoint')
    .map(({ value: { type: _type, ...checkpoint } }) => checkpoint as Checkpoint);
}

/**
 * Verify an export (`GET /api/v1/mcp/audit/export?format=jsonl`) offline: every tenant chain in
 * it, with the checkpoints it carries. An export made without filters is checked as a whole chain.
 */
export async function verifyExport(text: string, keys: ReadonlyMap<string, KeyObject>, published?: readonly Checkpoint[]): Promise<ChainVerification[]> {
  const rows = new Map<string, ChainRow[]>();
  const checkpoints = new Map<string, Checkpoint[]>();
  let whole = true;
  let readAt: string | undefined;
  for (const { value, line } of jsonLines(text)) {
    if (value.type === 'checkpoint') {
      const { type: _type, ...checkpoint } = value;
      const list = checkpoints.get(String(value.tenant)) ?? [];
      list.push(checkpoint as Checkpoint);
      checkpoints.set(String(value.tenant), list);
    } else if (value.type === 'export') {
      whole = !value.filtered;
      if (typeof value.exportedAt === 'string' && !Number.isNaN(Date.parse(value.exportedAt))) readAt = value.exportedAt;
    } else {
      if (!value.chain || typeof value.chain.seq !== 'number') throw new ExportFormatError(`line ${line} carries no chain fields (export made before the audit chain existed?)`);
      const list = rows.get(String(value.tenant)) ?? [];
      const prevHash = String(value.chain.prevHash);
      list.push({ computedHash: chainHash(prevHash, contentOfEntry(value)), seq: value.chain.seq, prevHash, hash: String(value.chain.hash), locator: `line ${line}` });
      rows.set(String(value.tenant), list);
    }
  }
  const tenants = new Set([...rows.keys(), ...checkpoints.keys()]);
  const results: ChainVerification[] = [];
  for (const tenant of [...tenants].sort()) {
    const list = (rows.get(tenant) ?? []).sort((a, b) => a.seq - b.seq || Number(a.locator!.slice(5)) - Number(b.locator!.slice(5)));
    const source: ChainSource = {
      checkpoints: checkpoints.get(tenant) ?? [],
      published,
      whole,
      ...(readAt === undefined ? {} : { readAt }),
      async *pages() {
        yield list;
      },
      async findByPrevHash(hash) {
        return list.find((row) => row.prevHash === hash);
      },
    };
    results.push(await verifyChain(tenant, source, keys));
  }
  return results;
}
