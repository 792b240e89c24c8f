import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { inject, injectable } from 'inversify';
import type { Knex } from 'knex';
import { Database } from '../ports/database.js';
import { assertTenant } from '../db/tenant-db.js';
import { ConfigError } from '../errors.js';
import { unstorableText } from '../db/storable-text.js';

/** An API key as stored (never its secret). */
export interface ApiKeyRecord {
  readonly id: string;
  readonly tenant: string;
  readonly name: string;
  readonly prefix: string;
  readonly scopes: readonly string[];
  readonly createdBy: string | null;
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
  readonly revokedAt: Date | null;
  readonly lastUsedAt: Date | null;
  /** Columns added by other plugins (e.g. the agent a key is bound to), by column name. */
  readonly extra: Readonly<Record<string, unknown>>;
}

export interface CreateApiKeyInput {
  readonly tenant: string;
  readonly name: string;
  readonly scopes?: readonly string[];
  readonly expiresAt?: Date | null;
  readonly createdBy?: string | null;
  /** Extra column values (for plugins that extend `api_keys`). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

export type ApiKeyCheck =
  | { readonly status: 'valid'; readonly key: ApiKeyRecord }
  | { readonly status: 'expired' | 'revoked'; readonly key: ApiKeyRecord }
  | { readonly status: 'unknown' | 'malformed' };

interface ApiKeyRow {
  id: string;
  tenant: string;
  name: string;
  prefix: string;
  secret_hash: string;
  scopes: string[] | string;
  created_by: string | null;
  created_at: Date | string;
  expires_at: Date | string | null;
  revoked_at: Date | string | null;
  last_used_at: Date | string | null;
  [column: string]: unknown;
}

/** Keys look like `ghk_<prefix>_<secret>`; the prefix is the lookup handle, the whole key is hashed. */
const KEY_FORMAT = /^ghk_([A-Za-z0-9]{12})_([A-Za-z0-9_-]{43})$/;
const SCOPE = /^[a-z][a-z0-9:._-]{0,63}$/;
const KNOWN_COLUMNS = new Set([
  'id', 'tenant', 'name', 'prefix', 'secret_hash', 'scopes', 'created_by', 'created_at', 'expires_at', 'revoked_at', 'last_used_at',
]);
const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function randomPrefix(): string {
  const bytes = randomBytes(12);
  let out = '';
  for (const byte of bytes) out += ALPHANUMERIC[byte % ALPHANUMERIC.length];
  return out;
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

const toDate = (value: Date | string | null): Date | null => (value === null ? null : new Date(value));

function toRecord(row: ApiKeyRow): ApiKeyRecord {
  const extra: Record<string, unknown> = {};
  for (const [column, value] of Object.entries(row)) if (!KNOWN_COLUMNS.has(column)) extra[column] = value;
  return {
    id: row.id,
    tenant: row.tenant,
    name: row.name,
    prefix: row.prefix,
    scopes: typeof row.scopes === 'string' ? (JSON.parse(row.scopes) as string[]) : row.scopes,
    createdBy: row.created_by,
    createdAt: new Date(row.created_at),
    expiresAt: toDate(row.expires_at),
    revokedAt: toDate(row.revoked_at),
    lastUsedAt: toDate(row.last_used_at),
    extra,
  };
}

/**
 * API keys in `api_keys`: high-entropy secrets shown once, stored as SHA-256, looked up by a
 * public prefix and compared in constant time.
 */
@injectable()
export class ApiKeyStore {
  private readonly revocationListeners = new Set<(id: string) => void>();

  constructor(@inject(Database) private readonly db: Database) {}

  /** Be told when a key is revoked through this store (so caches can forget it at once). */
  onRevoke(listener: (id: string) => void): void {
    this.revocationListeners.add(listener);
  }

  /** Create a key. The returned `secret` is the only copy: it cannot be recovered later. */
  async create(input: CreateApiKeyInput): Promise<{ key: ApiKeyRecord; secret: string }> {
    assertTenant(input.tenant);
    const name = input.name.trim();
    if (name.length === 0 || name.length > 200) throw new ConfigError('An API key needs a name of 1-200 characters.');
    const unstorable = unstorableText(name);
    if (unstorable !== undefined) throw new ConfigError(`The API key name ${unstorable}.`);
    const scopes = [...(input.scopes ?? ['mcp'])];
    for (const scope of scopes) if (!SCOPE.test(scope)) throw new ConfigError(`Scope "${scope}" is invalid.`);
    if (input.expiresAt && Number.isNaN(input.expiresAt.getTime())) throw new ConfigError('The expiry date is invalid.');
    const prefix = randomPrefix();
    const secret = `ghk_${prefix}_${randomBytes(32).toString('base64url')}`;
    const [row] = (await this.db.knex('api_keys')
      .insert({
        ...input.extra,
        tenant: input.tenant,
        name,
        prefix,
        secret_hash: sha256(secret).toString('hex'),
        scopes: JSON.stringify(scopes),
        created_by: input.createdBy ?? null,
        expires_at: input.expiresAt ?? null,
      })
      .returning('*')) as ApiKeyRow[];
    return { key: toRecord(row!), secret };
  }

  async list(tenant: string, filter: Readonly<Record<string, unknown>> = {}): Promise<ApiKeyRecord[]> {
    const rows = (await this.db.read(() => this.db.forTenant(tenant).table<ApiKeyRow>('api_keys').where(filter).orderBy('created_at', 'desc'))) as ApiKeyRow[];
    return rows.map(toRecord);
  }

  async get(tenant: string, id: string): Promise<ApiKeyRecord | undefined> {
    if (!isUuid(id)) return undefined;
    const row = (await this.db.read(() => this.db.forTenant(tenant).table<ApiKeyRow>('api_keys').where({ id }).first())) as ApiKeyRow | undefined;
    return row ? toRecord(row) : undefined;
  }

  /** Revoke a key of `tenant`. Returns false when the tenant has no such key. */
  async revoke(tenant: string, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    const count = await this.db.forTenant(tenant).table('api_keys').where({ id }).whereNull('revoked_at').update({ revoked_at: this.db.knex.fn.now() });
    if (count > 0) {
      for (const listener of this.revocationListeners) listener(id);
      return true;
    }
    return (await this.get(tenant, id)) !== undefined;
  }

  /** Check a presented key. One indexed lookup; the hash comparison is constant-time. */
  async check(presented: string): Promise<ApiKeyCheck> {
    const match = KEY_FORMAT.exec(presented);
    if (!match) return { status: 'malformed' };
    const row = (await this.db.read(() => this.db.knex('api_keys').where({ prefix: match[1] }).first())) as ApiKeyRow | undefined;
    if (!row) return { status: 'unknown' };
    const expected = Buffer.from(row.secret_hash, 'hex');
    const actual = sha256(presented);
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return { status: 'unknown' };
    const key = toRecord(row);
    if (key.revokedAt) return { status: 'revoked', key };
    if (key.expiresAt && key.expiresAt.getTime() <= Date.now()) return { status: 'expired', key };
    return { status: 'valid', key };
  }

  /** Record use of keys (batched by the caller); a recorded time never moves back. */
  async touch(ids: readonly string[], at: Date, trx?: Knex.Transaction): Promise<void> {
    if (ids.length === 0) return;
    const knex = trx ?? this.db.knex;
    await knex('api_keys').whereRaw('id = any(?::uuid[])', [[...ids]]).update({ last_used_at: knex.raw('greatest(last_used_at, ?)', [at]) });
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function isUuid(value: string): boolean {
  return UUID.test(value);
}
