import { sha256Hex } from './sha256.js';

/**
 * The audit hash chain, format version 1 (see docs/security.md, "Audit chain"). Every row of a
 * tenant carries `seq` (1, 2, 3… with no gap), `prev_hash` (the previous row's `hash`, or
 * {@link GENESIS_HASH} for seq 1) and
 *
 *     hash = hex(SHA-256(UTF-8(prev_hash + "\n" + canonical(row))))
 *
 * where `canonical(row)` is {@link canonicalJson} of the array `[CHAIN_FORMAT, ...CHAIN_FIELDS]`.
 */
export const CHAIN_FORMAT = 'gatehouse-audit/1';
export const CHECKPOINT_FORMAT = 'gatehouse-audit-checkpoint/1';
export const GENESIS_HASH = '0'.repeat(64);

/** The columns a row's hash covers, in this order. `id` (a storage locator) is not evidence. */
export const CHAIN_FIELDS = [
  'tenant', 'seq', 'event_id', 'occurred_at', 'principal_kind', 'principal_id', 'principal_label', 'agent_id', 'key_id',
  'issuer', 'subject', 'action', 'target', 'decision', 'reason', 'outcome', 'arguments_digest', 'arguments', 'latency_ms',
  'request_id', 'client_address', 'details',
] as const;

export type ChainField = (typeof CHAIN_FIELDS)[number];

/**
 * The hashed content of one row. Text columns are strings or null; `seq` a number; `occurred_at`
 * ISO 8601 UTC with milliseconds (`2026-11-30T04:05:06.789Z`); `arguments` and `details` the parsed
 * JSON values (or null); `latency_ms` a number or null.
 */
export type ChainContent = Record<ChainField, unknown>;

/** A chained row: its links, and the hash its content and `prevHash` give. */
export interface ChainRow {
  /** `chainHash(prevHash, content)` of the row as read: equal to `hash` unless the row was changed. */
  readonly computedHash: string;
  readonly seq: number;
  readonly prevHash: string;
  readonly hash: string;
  /** Where the row came from (a database id or an export line), for reports. */
  readonly locator?: string;
}

/** A signed statement "the chain of `tenant` had `hash` at `seq`". */
export interface Checkpoint {
  readonly tenant: string;
  /** 1 for the tenant's first checkpoint, then 2, 3… in signing order (a gap means one was deleted). */
  readonly index: number;
  readonly seq: number;
  readonly hash: string;
  /** ISO 8601 UTC with milliseconds. */
  readonly signedAt: string;
  readonly keyId: string;
  /** Ed25519 signature of {@link checkpointMessage}, base64url. */
  readonly signature: string;
}

/**
 * JSON with object keys sorted (by UTF-16 code units, as `Array.prototype.sort`) at every depth,
 * no whitespace, strings and numbers as `JSON.stringify` writes them.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    const keys = Object.keys(record)
      .filter((key) => record[key] !== undefined)
      .sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(record[key])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

export function canonicalContent(content: ChainContent): string {
  return canonicalJson([CHAIN_FORMAT, ...CHAIN_FIELDS.map((field) => content[field] ?? null)]);
}

export function chainHash(prevHash: string, content: ChainContent): string {
  return sha256Hex(`${prevHash}\n${canonicalContent(content)}`);
}

/** The bytes a checkpoint's signature covers. */
export function checkpointMessage(checkpoint: Omit<Checkpoint, 'signature'>): Buffer {
  const { tenant, index, seq, hash, signedAt, keyId } = checkpoint;
  return Buffer.from(canonicalJson([CHECKPOINT_FORMAT, tenant, index, seq, hash, signedAt, keyId]), 'utf8');
}

const textOrNull = (value: unknown): string | null => (value == null ? null : String(value));

/** The chain content of a database row (as the pg driver returns it). */
export function contentOfRow(row: Record<string, unknown>): ChainContent {
  const content = {} as Record<ChainField, unknown>;
  for (const field of CHAIN_FIELDS) content[field] = textOrNull(row[field]);
  content.seq = Number(row.seq);
  content.occurred_at = new Date(row.occurred_at as Date | string).toISOString();
  // jsonb columns arrive parsed.
  content.arguments = row.arguments ?? null;
  content.details = row.details ?? null;
  content.latency_ms = row.latency_ms == null ? null : Number(row.latency_ms);
  return content;
}

const canonicalText = (value: unknown): string => (value == null ? 'null' : JSON.stringify(String(value)));

/**
 * The hash of a row as it is written: `chainHash(prevHash, contentOfRow(row))` for the row at `seq`,
 * built straight into the canonical text (no intermediate content object). `json` holds the
 * {@link canonicalJson} text of the row's `arguments` and `details` values (see {@link canonicalJsonText}).
 */
export function rowHash(prevHash: string, row: Readonly<Partial<Record<ChainField, unknown>>>, seq: number, json: { readonly arguments: string; readonly details: string }): string {
  let canonical = `[${JSON.stringify(CHAIN_FORMAT)}`;
  for (const field of CHAIN_FIELDS) {
    switch (field) {
      case 'seq':
        canonical += `,${canonicalJson(seq)}`;
        break;
      case 'occurred_at':
        canonical += `,${JSON.stringify(new Date(row.occurred_at as Date | string).toISOString())}`;
        break;
      case 'arguments':
        canonical += `,${json.arguments}`;
        break;
      case 'details':
        canonical += `,${json.details}`;
        break;
      case 'latency_ms': {
        const value = row.latency_ms;
        canonical += `,${value == null ? 'null' : canonicalJson(Number(value))}`;
        break;
      }
      default:
        canonical += `,${canonicalText(row[field])}`;
    }
  }
  return sha256Hex(`${prevHash}\n${canonical}]`);
}

/** The {@link canonicalJson} text of the value that the JSON text `json` holds (`null` for none). */
export function canonicalJsonText(json: string | null): string {
  return json === null ? 'null' : canonicalJson(JSON.parse(json));
}

/**
 * A row of the database (as the pg driver returns it) as a {@link ChainRow}: its hash made straight
 * from its columns, as {@link rowHash} makes it when the row is written (the same text as
 * `chainHash(prev_hash, contentOfRow(row))`, without the content object).
 */
export function chainRowOf(row: Record<string, unknown>): ChainRow {
  const seq = Number(row.seq);
  const prevHash = String(row.prev_hash);
  const json = { arguments: canonicalJson(row.arguments ?? null), details: canonicalJson(row.details ?? null) };
  return { computedHash: rowHash(prevHash, row, seq, json), seq, prevHash, hash: String(row.hash), locator: `id ${String(row.id)}` };
}

/** A checkpoint row of `mcp_audit_checkpoints` as a {@link Checkpoint}. */
export function checkpointOfRow(row: Record<string, unknown>): Checkpoint {
  return {
    tenant: String(row.tenant),
    index: Number(row.index),
    seq: Number(row.seq),
    hash: String(row.hash),
    signedAt: new Date(row.signed_at as Date | string).toISOString(),
    keyId: String(row.key_id),
    signature: String(row.signature),
  };
}
