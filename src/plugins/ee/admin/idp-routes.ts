import { ArrayMaxSize, IsArray, IsIn, IsInt, IsOptional, IsString, Length, Max, MaxLength, Min } from 'class-validator';
import { inject, injectable } from 'inversify';
import { HttpError, json, type RouteContribution, type RouteDefinition, type RouteRequest, type HttpResponse, type Principal } from '../../../core/index.js';
import { IDP_KINDS, presetProblems, type PresetProblem } from '../identity/idp-presets.js';
import { IdpProviderStore, type IdpProvider } from '../identity/idp-provider-store.js';
import { IssuerMismatchError, JwksCache } from '../identity/jwks-cache.js';
import { AdminGuard } from './admin-guard.js';
import { storeFailure } from './store-failure.js';
import { invalid, invalidWith, notFound, pathId, validated, type FieldError, hostileInputProblems } from './validation.js';

/**
 * Validate an IdP body and its preset inputs together, so the form shows every problem at once
 * (an empty name does not hide that "common" is not a directory id).
 */
async function validatedIdp<T extends object>(dto: new () => T, plain: unknown, presetOf: (plain: Record<string, unknown>) => PresetProblem[]): Promise<T> {
  const hostile = hostileInputProblems(plain);
  if (hostile.length) throw invalid(hostile);
  const body = typeof plain === 'object' && plain !== null && !Array.isArray(plain) ? (plain as Record<string, unknown>) : undefined;
  let shape: FieldError[] = [];
  let input: T | undefined;
  try {
    input = await validated(dto, plain);
  } catch (error) {
    const details = error instanceof HttpError && error.status === 400 && Array.isArray(error.details) ? (error.details as FieldError[]) : undefined;
    if (!details || !body) throw error;
    shape = details;
  }
  const meaning = body ? presetOf(body).filter((problem) => !shape.some((found) => found.field === problem.field)) : [];
  if (shape.length || meaning.length) throw invalidWith(shape, meaning);
  return input!;
}

class IdpFieldsDto {
  @IsOptional() @IsString() @MaxLength(100) directoryId?: string;
  @IsOptional() @IsIn(['v1', 'v2'], { message: 'tokenVersion must be v1 or v2' }) tokenVersion?: 'v1' | 'v2';
  @IsOptional() @IsString() @MaxLength(2000) realmUrl?: string;
  @IsOptional() @IsString() @MaxLength(2000) issuer?: string;
  @IsOptional() @IsString() @MaxLength(2000) jwksUri?: string;
  @IsOptional() @IsString() @MaxLength(64) subjectClaim?: string;
  @IsOptional() @IsArray() @ArrayMaxSize(20) @IsString({ each: true }) allowedAlgorithms?: string[];
  @IsOptional() @IsString() @MaxLength(2000) audience?: string;
  @IsOptional() @IsInt() @Min(0) @Max(300) clockSkewSeconds?: number;
  @IsOptional() @IsIn(['any', 'at+jwt'], { message: 'tokenType must be "any" or "at+jwt"' }) tokenType?: 'any' | 'at+jwt';
  @IsOptional() @IsInt() @Min(0) @Max(1000) listOrder?: number;
}

export class CreateIdpDto extends IdpFieldsDto {
  @IsString() @Length(1, 200) name!: string;
  @IsIn(IDP_KINDS as unknown as string[], { message: `kind must be one of ${IDP_KINDS.join(', ')}` }) kind!: (typeof IDP_KINDS)[number];
}

export class UpdateIdpDto extends IdpFieldsDto {
  @IsOptional() @IsString() @Length(1, 200) name?: string;
}

export function idpJson(idp: IdpProvider): Record<string, unknown> {
  return {
    id: idp.id,
    name: idp.name,
    kind: idp.kind,
    issuer: idp.issuer,
    discoveryUrl: idp.discoveryUrl,
    jwksUri: idp.jwksUri,
    audience: idp.audience,
    subjectClaim: idp.subjectClaim,
    allowedAlgorithms: idp.allowedAlgorithms,
    clockSkewSeconds: idp.clockSkewSeconds,
    tokenType: idp.tokenType,
    listOrder: idp.listOrder,
    settings: idp.settings,
    active: idp.active,
    createdBy: idp.createdBy,
    createdAt: idp.createdAt.toISOString(),
    updatedAt: idp.updatedAt.toISOString(),
  };
}

const TRACKED: readonly (keyof IdpProvider)[] = ['name', 'issuer', 'discoveryUrl', 'jwksUri', 'audience', 'subjectClaim', 'allowedAlgorithms', 'clockSkewSeconds', 'tokenType', 'listOrder', 'active'];

function changes(before: IdpProvider, after: IdpProvider): Record<string, unknown> {
  const changed: Record<string, unknown> = {};
  for (const field of TRACKED) {
    if (JSON.stringify(before[field]) !== JSON.stringify(after[field])) changed[field] = { from: before[field], to: after[field] };
  }
  return changed;
}

/** `/api/v1/mcp/idp-providers`: the identity providers the tenant trusts. */
@injectable()
export class IdpRoutes implements RouteContribution {
  constructor(
    @inject(AdminGuard) private readonly guard: AdminGuard,
    @inject(IdpProviderStore) private readonly idps: IdpProviderStore,
    @inject(JwksCache) private readonly jwks: JwksCache,
  ) {}

  routes(): RouteDefinition[] {
    const base = '/api/v1/mcp/idp-providers';
    return [
      {
        method: 'GET',
        path: base,
        handler: async (req) => {
          const admin = await this.guard.admit(req);
          return json(200, { data: (await this.idps.list(admin.tenant)).map(idpJson) });
        },
      },
      {
        method: 'POST',
        path: base,
        handler: async (req) => {
          const admin = await this.guard.admitChange(req);
          const input = await validatedIdp(CreateIdpDto, await req.json(), (body) => presetProblems(body));
          const idp = await this.idps.create(admin.tenant, { ...input, createdBy: admin.label }).catch(storeFailure);
          this.guard.recordChange(req, admin, 'idp-providers.create', idp.id, { name: idp.name, kind: idp.kind, issuer: idp.issuer, audience: idp.audience });
          return json(201, { data: idpJson(idp) });
        },
      },
      {
        method: 'GET',
        path: `${base}/:id`,
        handler: async (req) => {
          const admin = await this.guard.admit(req);
          return json(200, { data: idpJson(await this.existing(admin, req)) });
        },
      },
      {
        method: 'PATCH',
        path: `${base}/:id`,
        handler: async (req) => {
          const admin = await this.guard.admitChange(req);
          const before = await this.existing(admin, req);
          const patch = await validatedIdp(UpdateIdpDto, await req.json(), (body) => presetProblems({ ...body, kind: before.kind }, true));
          const idp = await this.idps.update(admin.tenant, before.id, patch).catch(storeFailure);
          if (!idp) throw notFound('identity provider');
          this.guard.recordChange(req, admin, 'idp-providers.update', idp.id, { name: idp.name, changed: changes(before, idp) });
          return json(200, { data: idpJson(idp) });
        },
      },
      { method: 'POST', path: `${base}/:id/deactivate`, handler: (req) => this.setActive(req, false) },
      { method: 'POST', path: `${base}/:id/activate`, handler: (req) => this.setActive(req, true) },
      {
        method: 'DELETE',
        path: `${base}/:id`,
        handler: async (req) => {
          const admin = await this.guard.admitChange(req);
          const idp = await this.existing(admin, req);
          // Of concurrent deletes, only the one that deleted the provider answers 200 and is audited.
          if (!(await this.idps.delete(admin.tenant, idp.id).catch(storeFailure))) throw notFound('identity provider');
          this.guard.recordChange(req, admin, 'idp-providers.delete', idp.id, { name: idp.name, issuer: idp.issuer });
          return json(200, { data: { id: idp.id, deleted: true } });
        },
      },
      {
        method: 'POST',
        path: `${base}/:id/test`,
        handler: async (req) => {
          const admin = await this.guard.admit(req);
          const idp = await this.existing(admin, req);
          const started = Date.now();
          try {
            const found = await this.jwks.probe(idp);
            return json(200, {
              data: {
                ok: true,
                issuer: idp.issuer,
                discovery: idp.jwksUri ? 'not needed (JWKS URL configured)' : 'ok',
                jwksUri: found.jwksUri,
                keyIds: found.keyIds,
                keyCount: found.keyIds.length,
                elapsedMs: Date.now() - started,
              },
            });
          } catch (error) {
            const err = error as Error & { cause?: unknown };
            const cause = err.cause instanceof Error ? err.cause.message : undefined;
            const mismatch = error instanceof IssuerMismatchError ? { discoveredIssuer: error.discovered } : {};
            return json(200, { data: { ok: false, issuer: idp.issuer, error: err.message, ...mismatch, ...(cause ? { cause } : {}), elapsedMs: Date.now() - started } });
          }
        },
      },
    ];
  }

  private async existing(admin: Principal, req: RouteRequest): Promise<IdpProvider> {
    const idp = await this.idps.get(admin.tenant, pathId(req.params.id, 'identity provider'));
    if (!idp) throw notFound('identity provider');
    return idp;
  }

  private async setActive(req: RouteRequest, active: boolean): Promise<HttpResponse> {
    const admin = await this.guard.admitChange(req);
    const before = await this.existing(admin, req);
    const idp = await this.idps.setActive(admin.tenant, before.id, active).catch(storeFailure);
    if (!idp) throw notFound('identity provider');
    if (before.active !== active) {
      this.guard.recordChange(req, admin, active ? 'idp-providers.activate' : 'idp-providers.deactivate', idp.id, { name: idp.name, changed: { active: { from: before.active, to: active } } });
    }
    return json(200, { data: idpJson(idp) });
  }
}
