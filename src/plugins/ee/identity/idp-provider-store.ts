import { inject, injectable } from 'inversify';
import { Database, isUuid } from '../../../core/index.js';
import { CredentialCache } from './credential-cache.js';
import { IdentityConflictError, IdentityInputError, affectedRows, isForeignKeyViolation, isUniqueViolation } from './identity-errors.js';
import { IDP_KINDS, checkAlgorithms, checkIdpUrl, checkSubjectClaim, resolvePreset, type IdpKind, type IdpPresetInput } from './idp-presets.js';
import { TenantUrls } from './tenant-urls.js';

/** A trusted identity provider of one tenant. */
export interface IdpProvider {
  readonly id: string;
  readonly tenant: string;
  readonly name: string;
  readonly kind: IdpKind;
  readonly issuer: string;
  readonly discoveryUrl: string | null;
  readonly jwksUri: string | null;
  /** The `aud` value tokens must carry. */
  readonly audience: string;
  readonly subjectClaim: string;
  readonly allowedAlgorithms: readonly string[];
  readonly clockSkewSeconds: number;
  /** `any`: `typ` JWT or at+jwt; `at+jwt`: RFC 9068 access tokens only. */
  readonly tokenType: 'any' | 'at+jwt';
  /** Position in the tenant's resource metadata and lists: lower first, then oldest first. */
  readonly listOrder: number;
  readonly settings: Readonly<Record<string, string>>;
  readonly active: boolean;
  readonly createdBy: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface CreateIdpProviderInput extends IdpPresetInput {
  readonly name: string;
  /** Default: the tenant's canonical MCP URL. */
  readonly audience?: string;
  /** Default 60. */
  readonly clockSkewSeconds?: number;
  /** Default `any`. */
  readonly tokenType?: 'any' | 'at+jwt';
  /** Default 0; lower is listed first in the resource metadata. */
  readonly listOrder?: number;
  readonly createdBy?: string | null;
}

/** Fields that may change. Preset inputs (`directoryId`, `realmUrl`, `issuer`) re-resolve the issuer. */
export type UpdateIdpProviderInput = Partial<Omit<CreateIdpProviderInput, 'kind' | 'createdBy'>>;

interface IdpRow {
  id: string;
  tenant: string;
  name: string;
  kind: IdpKind;
  issuer: string;
  discovery_url: string | null;
  jwks_uri: string | null;
  audience: string;
  subject_claim: string;
  allowed_algorithms: string[] | string;
  clock_skew_seconds: number;
  token_type: 'any' | 'at+jwt';
  list_order: number;
  settings: Record<string, string> | string;
  active: boolean;
  created_by: string | null;
  created_at: Date | string;
  updated_at: Date | string;
}

const TABLE = 'agent_idp_providers';

/** The form field each preset derives the issuer from. */
const PRESET_FIELD: Readonly<Record<IdpKind, string | undefined>> = { entra: 'directoryId', keycloak: 'realmUrl', custom: 'issuer', google: undefined };
const parse = <T>(value: T | string): T => (typeof value === 'string' ? (JSON.parse(value) as T) : value);

function toProvider(row: IdpRow): IdpProvider {
  return {
    id: row.id,
    tenant: row.tenant,
    name: row.name,
    kind: row.kind,
    issuer: row.issuer,
    discoveryUrl: row.discovery_url,
    jwksUri: row.jwks_uri,
    audience: row.audience,
    subjectClaim: row.subject_claim,
    allowedAlgorithms: parse(row.allowed_algorithms),
    clockSkewSeconds: row.clock_skew_seconds,
    tokenType: row.token_type,
    listOrder: row.list_order ?? 0,
    settings: parse(row.settings),
    active: row.active,
    createdBy: row.created_by,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function checkName(value: unknown): string {
  if (typeof value !== 'string' || value.trim().length === 0 || value.trim().length > 200) throw new IdentityInputError('name', 'name must have 1-200 characters.');
  return value.trim();
}

function checkAudience(value: unknown): string {
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > 2000) throw new IdentityInputError('audience', 'audience must be a non-empty string (a URL or an application id URI).');
  return value.trim();
}

function checkSkew(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 300) throw new IdentityInputError('clockSkewSeconds', 'clockSkewSeconds must be an integer from 0 to 300.');
  return value;
}

function checkListOrder(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 1000) throw new IdentityInputError('listOrder', 'listOrder must be an integer from 0 to 1000.');
  return value;
}

function checkTokenType(value: unknown): 'any' | 'at+jwt' {
  if (value !== 'any' && value !== 'at+jwt') throw new IdentityInputError('tokenType', 'tokenType must be "any" (JWT or at+jwt) or "at+jwt".');
  return value;
}

/**
 * The tenant's trusted identity providers (`agent_idp_providers`). Every method is scoped to one
 * tenant; an id of another tenant is "not found".
 */
@injectable()
export class IdpProviderStore {
  constructor(
    @inject(Database) private readonly db: Database,
    @inject(TenantUrls) private readonly urls: TenantUrls,
    @inject(CredentialCache) private readonly cache: CredentialCache,
  ) {}

  async create(tenant: string, input: CreateIdpProviderInput): Promise<IdpProvider> {
    if (!(IDP_KINDS as readonly unknown[]).includes(input.kind)) throw new IdentityInputError('kind', `kind must be one of ${IDP_KINDS.join(', ')}.`);
    const preset = resolvePreset(input);
    const row = {
      name: checkName(input.name),
      kind: preset.kind,
      issuer: preset.issuer,
      discovery_url: preset.discoveryUrl ?? null,
      jwks_uri: preset.jwksUri ?? null,
      audience: input.audience === undefined ? this.urls.resource(tenant) : checkAudience(input.audience),
      subject_claim: preset.subjectClaim,
      allowed_algorithms: JSON.stringify(preset.allowedAlgorithms),
      clock_skew_seconds: input.clockSkewSeconds === undefined ? 60 : checkSkew(input.clockSkewSeconds),
      token_type: input.tokenType === undefined ? 'any' : checkTokenType(input.tokenType),
      list_order: input.listOrder === undefined ? 0 : checkListOrder(input.listOrder),
      settings: JSON.stringify(preset.settings),
      created_by: input.createdBy ?? null,
    };
    try {
      const [created] = await this.db.forTenant(tenant).insert<IdpRow>(TABLE, row);
      this.cache.invalidateTenant(tenant);
      return toProvider(created!);
    } catch (error) {
      if (isUniqueViolation(error)) throw new IdentityConflictError(`This tenant already trusts the issuer ${preset.issuer}: edit that provider instead of adding it twice.`, PRESET_FIELD[preset.kind]);
      throw error;
    }
  }

  async list(tenant: string, filter: { active?: boolean } = {}): Promise<IdpProvider[]> {
    const rows = await this.db.read(() => {
      const query = this.db.forTenant(tenant).table<IdpRow>(TABLE).orderBy('list_order').orderBy('created_at').orderBy('id');
      if (filter.active !== undefined) query.where('active', filter.active);
      return query;
    });
    return (rows as IdpRow[]).map(toProvider);
  }

  async get(tenant: string, id: string): Promise<IdpProvider | undefined> {
    if (!isUuid(id)) return undefined;
    const row = (await this.db.read(() => this.db.forTenant(tenant).table<IdpRow>(TABLE).where({ id }).first())) as IdpRow | undefined;
    return row ? toProvider(row) : undefined;
  }

  /** The tenant's active providers, cached for the credential cache lifetime (hot path). */
  async activeProviders(tenant: string): Promise<readonly IdpProvider[]> {
    const key = `idps:${tenant}`;
    const cached = this.cache.get<readonly IdpProvider[]>(key);
    if (cached) return cached;
    const providers = await this.list(tenant, { active: true });
    this.cache.set(tenant, key, providers);
    return providers;
  }

  async update(tenant: string, id: string, patch: UpdateIdpProviderInput): Promise<IdpProvider | undefined> {
    return this.db.forTenant(tenant).transaction(async (db) => {
      if (!isUuid(id)) return undefined;
      const current = (await db.table<IdpRow>(TABLE).where({ id }).forUpdate().first()) as IdpRow | undefined;
      if (!current) return undefined;
      const existing = toProvider(current);
      const changes: Record<string, unknown> = {};
      if (patch.name !== undefined) changes.name = checkName(patch.name);
      if (patch.audience !== undefined) changes.audience = checkAudience(patch.audience);
      if (patch.clockSkewSeconds !== undefined) changes.clock_skew_seconds = checkSkew(patch.clockSkewSeconds);
      if (patch.tokenType !== undefined) changes.token_type = checkTokenType(patch.tokenType);
      if (patch.listOrder !== undefined) changes.list_order = checkListOrder(patch.listOrder);
      const presetTouched = ['directoryId', 'tokenVersion', 'realmUrl', 'issuer', 'jwksUri', 'subjectClaim', 'allowedAlgorithms'].some(
        (field) => (patch as Record<string, unknown>)[field] !== undefined,
      );
      if (presetTouched) {
        const preset = resolvePreset({
          kind: existing.kind,
          directoryId: patch.directoryId ?? existing.settings.directoryId,
          tokenVersion: patch.tokenVersion ?? (existing.settings.tokenVersion as 'v1' | 'v2' | undefined),
          realmUrl: patch.realmUrl ?? existing.settings.realmUrl,
          issuer: patch.issuer ?? existing.issuer,
          jwksUri: patch.jwksUri ?? existing.jwksUri ?? undefined,
          subjectClaim: patch.subjectClaim === undefined ? existing.subjectClaim : checkSubjectClaim(patch.subjectClaim),
          allowedAlgorithms: patch.allowedAlgorithms === undefined ? existing.allowedAlgorithms : checkAlgorithms(patch.allowedAlgorithms),
        });
        Object.assign(changes, {
          issuer: preset.issuer,
          discovery_url: preset.discoveryUrl ?? null,
          jwks_uri: preset.jwksUri ?? null,
          subject_claim: preset.subjectClaim,
          allowed_algorithms: JSON.stringify(preset.allowedAlgorithms),
          settings: JSON.stringify(preset.settings),
        });
        if (patch.jwksUri !== undefined && patch.jwksUri !== '') changes.jwks_uri = checkIdpUrl(patch.jwksUri, 'jwksUri');
      }
      changes.updated_at = new Date();
      try {
        const [row] = (await db.table<IdpRow>(TABLE).where({ id }).update(changes).returning('*')) as IdpRow[];
        // Agents carry the issuer of their binding; keep them with their provider.
        if (changes.issuer !== undefined && changes.issuer !== existing.issuer) {
          await db.table('agents').where({ idp_id: id }).update({ issuer: changes.issuer, updated_at: new Date() });
        }
        this.cache.invalidateTenant(tenant);
        return toProvider(row!);
      } catch (error) {
        if (isUniqueViolation(error)) throw new IdentityConflictError('Another provider or agent of this tenant already uses that issuer and subject.');
        throw error;
      }
    });
  }

  /** Stop (or resume) trusting the provider. Its tokens are refused from then on. */
  async setActive(tenant: string, id: string, active: boolean): Promise<IdpProvider | undefined> {
    if (!isUuid(id)) return undefined;
    const [row] = (await this.db.forTenant(tenant).table<IdpRow>(TABLE).where({ id }).update({ active, updated_at: new Date() }).returning('*')) as IdpRow[];
    this.cache.invalidateTenant(tenant);
    return row ? toProvider(row) : undefined;
  }

  deactivate(tenant: string, id: string): Promise<IdpProvider | undefined> {
    return this.setActive(tenant, id, false);
  }

  /** Delete the provider. Refused while agents are bound to it (delete or rebind them first). */
  async delete(tenant: string, id: string): Promise<boolean> {
    if (!isUuid(id)) return false;
    try {
      const count = affectedRows(await this.db.forTenant(tenant).table(TABLE).where({ id }).delete());
      this.cache.invalidateTenant(tenant);
      return count > 0;
    } catch (error) {
      if (isForeignKeyViolation(error)) throw new IdentityConflictError('Agents are still bound to this provider; delete or rebind them first, or deactivate the provider.');
      throw error;
    }
  }
}
