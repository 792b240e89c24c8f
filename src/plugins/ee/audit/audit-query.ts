import { inject, injectable } from 'inversify';
import type { Knex } from 'knex';
import { Database } from '../../../core/index.js';
import { AUDIT_TABLE } from './audit-partitions.js';
import { pagesReadAhead } from './read-ahead.js';

/** Filters of the audit views; every one optional. */
export interface AuditFilter {
  readonly agentId?: string;
  /** The tool (or other target) concerned. */
  readonly tool?: string;
  readonly action?: string;
  readonly decision?: string;
  readonly outcome?: string;
  /** Inclusive lower and exclusive upper bound of `occurred_at`. */
  readonly from?: Date;
  readonly to?: Date;
}

/** A position in the (occurred_at, id) descending order. */
export interface AuditCursor {
  readonly occurredAt: Date;
  readonly id: string;
}

/** An audit entry as the admin API shows it. */
export interface AuditEntry {
  readonly id: string;
  readonly tenant: string;
  readonly occurredAt: string;
  readonly principal: { readonly kind: string | null; readonly id: string | null; readonly label: string | null };
  readonly agentId: string | null;
  readonly keyId: string | null;
  readonly issuer: string | null;
  readonly subject: string | null;
  readonly action: string;
  readonly target: string | null;
  readonly decision: string;
  readonly reason: string | null;
  readonly outcome: string;
  readonly argumentsDigest: string | null;
  readonly arguments: unknown;
  readonly latencyMs: number | null;
  readonly requestId: string;
  readonly clientAddress: string | null;
  readonly details: unknown;
  /** The entry's place in its tenant's hash chain (see docs/security.md). */
  readonly chain: { readonly seq: number; readonly eventId: string; readonly prevHash: string; readonly hash: string };
}

type Row = Record<string, unknown>;

// jsonb columns arrive parsed (a JSON string value is a JS string, not JSON text to parse again).
const parsedJson = (value: unknown): unknown => value ?? null;
const str = (value: unknown): string | null => (value == null ? null : String(value));

function toEntry(row: Row): AuditEntry {
  return {
    id: String(row.id),
    tenant: String(row.tenant),
    occurredAt: new Date(row.occurred_at as Date | string).toISOString(),
    principal: { kind: str(row.principal_kind), id: str(row.principal_id), label: str(row.principal_label) },
    agentId: str(row.agent_id),
    keyId: str(row.key_id),
    issuer: str(row.issuer),
    subject: str(row.subject),
    action: String(row.action),
    target: str(row.target),
    decision: String(row.decision),
    reason: str(row.reason),
    outcome: String(row.outcome),
    argumentsDigest: str(row.arguments_digest),
    arguments: parsedJson(row.arguments),
    latencyMs: row.latency_ms == null ? null : Number(row.latency_ms),
    requestId: String(row.request_id),
    clientAddress: str(row.client_address),
    details: parsedJson(row.details),
    chain: { seq: Number(row.seq), eventId: String(row.event_id), prevHash: String(row.prev_hash), hash: String(row.hash) },
  };
}

export function encodeCursor(entry: Pick<AuditEntry, 'occurredAt' | 'id'>): string {
  return Buffer.from(JSON.stringify([entry.occurredAt, entry.id])).toString('base64url');
}

const MAX_BIGINT = 9_223_372_036_854_775_807n;
const CURSOR_MIN_TIME = new Date('0001-01-01T00:00:00.000Z').getTime();
const CURSOR_MAX_TIME = new Date('9999-12-31T23:59:59.999Z').getTime();

/** The cursor encoded in `value`, or undefined when it is not one (forged, truncated, out of range). */
export function decodeCursor(value: string): AuditCursor | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(value, 'base64url').toString('utf8')) as unknown;
    if (!Array.isArray(parsed) || parsed.length !== 2) return undefined;
    const [time, id] = parsed as unknown[];
    const occurredAt = new Date(String(time));
    const time_ = occurredAt.getTime();
    if (Number.isNaN(time_) || time_ < CURSOR_MIN_TIME || time_ > CURSOR_MAX_TIME) return undefined;
    // A bigint id: digits only, within PostgreSQL's bigint.
    if (typeof id !== 'string' || !/^\d{1,19}$/.test(id) || BigInt(id) > MAX_BIGINT) return undefined;
    return { occurredAt, id };
  } catch {
    return undefined;
  }
}

/** Reads one tenant's audit trail, newest first, by keyset pages. Never changes it. */
@injectable()
export class AuditQuery {
  constructor(@inject(Database) private readonly database: Database) {}

  /** One page of at most `limit` entries after `cursor`, and the cursor of the next page. */
  async page(tenant: string, filter: AuditFilter, limit: number, cursor?: AuditCursor): Promise<{ entries: AuditEntry[]; nextCursor: string | null }> {
    const rows = (await this.database.read(() => this.query(tenant, filter, cursor).limit(limit + 1))) as Row[];
    const entries = rows.slice(0, limit).map(toEntry);
    const nextCursor = rows.length > limit ? encodeCursor(entries[entries.length - 1]!) : null;
    return { entries, nextCursor };
  }

  /**
   * Every matching entry, a page at a time (never an empty page), so memory stays bounded however
   * long the trail is.
   */
  async *pages(tenant: string, filter: AuditFilter, pageSize = 500, signal?: AbortSignal): AsyncGenerator<readonly AuditEntry[]> {
    // The next page is read while this one is sent.
    const pages = pagesReadAhead<Row>((after) => {
      const page = () => this.query(tenant, filter, after && { occurredAt: new Date(after.occurred_at as Date | string), id: String(after.id) }).limit(pageSize);
      // The first page is read before anything is sent, so it survives a connection lost to a
      // database restart; a later page that fails ends the export as failed (nothing is skipped).
      return (after === undefined ? this.database.read(page) : Promise.resolve(page())) as Promise<Row[]>;
    }, pageSize, signal);
    for await (const rows of pages) yield rows.map(toEntry);
  }

  private query(tenant: string, filter: AuditFilter, cursor: AuditCursor | undefined): Knex.QueryBuilder {
    const q = this.database.forTenant(tenant).table(AUDIT_TABLE);
    if (filter.agentId) q.andWhere('agent_id', filter.agentId);
    if (filter.tool) {
      const tool = filter.tool;
      q.andWhere((w) => w.where('target', tool).orWhereRaw(`details->>'tool' = ?`, [tool]));
    }
    if (filter.action) q.andWhere('action', filter.action);
    if (filter.decision) q.andWhere('decision', filter.decision);
    if (filter.outcome) q.andWhere('outcome', filter.outcome);
    if (filter.from) q.andWhere('occurred_at', '>=', filter.from);
    if (filter.to) q.andWhere('occurred_at', '<', filter.to);
    if (cursor) q.andWhereRaw('(occurred_at, id) < (?::timestamptz, ?::bigint)', [cursor.occurredAt.toISOString(), cursor.id]);
    return q.orderBy([
      { column: 'occurred_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ]);
  }
}
