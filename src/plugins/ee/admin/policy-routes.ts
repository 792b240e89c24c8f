import { IsBoolean, IsOptional, IsString, Length, Matches, MaxLength } from 'class-validator';
import { inject, injectable } from 'inversify';
import { HttpError, json, type HttpResponse, type RouteContribution, type RouteDefinition, type RouteRequest } from '../../../core/index.js';
import { PolicyEngine } from '../policies/policy-engine.js';
import type { PolicyProblem } from '../policies/policy-text.js';
import { PolicyNameTakenError, PolicyStore, TooManyPoliciesError, type StoredPolicy } from '../policies/policy-store.js';
import { AdminGuard } from './admin-guard.js';
import { conflict } from './store-failure.js';
import { notFound, pathId, validated } from './validation.js';

const NAME = /^\S(?:.*\S)?$/;

export class CreatePolicyDto {
  @IsString() @Length(1, 200) @Matches(NAME, { message: 'Name must not start or end with spaces.' }) name!: string;
  @IsOptional() @IsString() @MaxLength(2000) description?: string;
  @IsString() @Length(1, 10_000) text!: string;
  @IsOptional() @IsBoolean() enabled?: boolean;
}

export class UpdatePolicyDto {
  @IsOptional() @IsString() @Length(1, 200) @Matches(NAME, { message: 'Name must not start or end with spaces.' }) name?: string;
  @IsOptional() @IsString() @MaxLength(2000) description?: string;
  @IsOptional() @IsString() @Length(1, 10_000) text?: string;
  @IsOptional() @IsBoolean() enabled?: boolean;
}

export class ValidatePolicyDto {
  @IsString() @MaxLength(10_000) text!: string;
}

export function policyJson(policy: StoredPolicy): Record<string, unknown> {
  return {
    id: policy.id,
    name: policy.name,
    description: policy.description,
    text: policy.text,
    enabled: policy.enabled,
    version: policy.version,
    createdAt: policy.createdAt.toISOString(),
    updatedAt: policy.updatedAt.toISOString(),
    updatedBy: policy.updatedBy,
    lastError: policy.lastError,
  };
}

/** 400 naming each problem of the text with Cedar's message and where it is. */
function refused(problems: readonly PolicyProblem[]): HttpError {
  const details = problems.map((problem) => ({ field: 'text', ...problem }));
  return new HttpError(400, 'validation_failed', `Invalid policy: ${problems.map((problem) => problem.message).join('; ')}`, { details });
}

function storeConflict(error: unknown): never {
  if (error instanceof PolicyNameTakenError) throw conflict(error.message, 'name');
  if (error instanceof TooManyPoliciesError) throw new HttpError(400, 'validation_failed', error.message, { details: [{ field: 'name', message: error.message }] });
  throw error;
}

/**
 * `/api/v1/mcp/policies`: the tenant's Cedar policies. A text that does not parse or validate
 * against the schema generated from the tool catalog is refused with Cedar's messages; every change
 * increments the tenant's policy-set version and is audited with the diff.
 */
@injectable()
export class PolicyRoutes implements RouteContribution {
  constructor(
    @inject(AdminGuard) private readonly guard: AdminGuard,
    @inject(PolicyStore) private readonly store: PolicyStore,
    @inject(PolicyEngine) private readonly engine: PolicyEngine,
  ) {}

  routes(): RouteDefinition[] {
    const base = '/api/v1/mcp/policies';
    return [
      {
        method: 'GET',
        path: base,
        handler: async (req) => {
          const admin = await this.guard.admit(req);
          const { version, policies } = await this.store.list(admin.tenant);
          return json(200, { data: { version, policies: policies.map(policyJson) } });
        },
      },
      { method: 'POST', path: base, handler: (req) => this.create(req) },
      {
        method: 'POST',
        path: `${base}/validate`,
        handler: async (req) => {
          await this.guard.admit(req);
          const { text } = await validated(ValidatePolicyDto, await req.json());
          const errors = await this.engine.check(text);
          return json(200, { data: { valid: errors.length === 0, errors } });
        },
      },
      {
        method: 'GET',
        path: `${base}/schema`,
        handler: async (req) => {
          await this.guard.admit(req);
          const schema = await this.engine.schema();
          const tools = [...schema.actions.values()].map((action) => ({
            name: action.id,
            kind: action.target.kind,
            description: action.target.description,
            inputSchema: action.target.inputSchema,
          }));
          return json(200, { data: { cedarSchema: await this.engine.schemaText(), tools } });
        },
      },
      {
        method: 'GET',
        path: `${base}/:id`,
        handler: async (req) => {
          const admin = await this.guard.admit(req);
          const policy = await this.store.get(admin.tenant, pathId(req.params.id, 'policy'));
          if (!policy) throw notFound('policy');
          return json(200, { data: policyJson(policy) });
        },
      },
      {
        method: 'GET',
        path: `${base}/:id/history`,
        handler: async (req) => {
          const admin = await this.guard.admit(req);
          const history = await this.store.history(admin.tenant, pathId(req.params.id, 'policy'));
          if (!history.length) throw notFound('policy');
          return json(200, {
            data: {
              history: history.map((entry) => ({
                version: entry.version,
                change: entry.change,
                name: entry.name,
                description: entry.description,
                text: entry.text,
                enabled: entry.enabled,
                changedBy: entry.changedBy,
                changedAt: entry.changedAt.toISOString(),
                diff: entry.diff,
              })),
            },
          });
        },
      },
      { method: 'PATCH', path: `${base}/:id`, handler: (req) => this.update(req) },
      { method: 'DELETE', path: `${base}/:id`, handler: (req) => this.delete(req) },
    ];
  }

  private async create(req: RouteRequest): Promise<HttpResponse> {
    const admin = await this.guard.admitChange(req);
    const input = await validated(CreatePolicyDto, await req.json());
    const problems = await this.engine.check(input.text);
    if (problems.length) throw refused(problems);
    const { policy, diff } = await this.store.create(admin.tenant, input, admin.label).catch(storeConflict);
    this.guard.recordChange(req, admin, 'policies.create', policy.id, { name: policy.name, enabled: policy.enabled, version: policy.version, diff });
    return json(201, { data: policyJson(policy) });
  }

  private async update(req: RouteRequest): Promise<HttpResponse> {
    const admin = await this.guard.admitChange(req);
    const id = pathId(req.params.id, 'policy');
    const patch = await validated(UpdatePolicyDto, await req.json());
    if (patch.text !== undefined) {
      const problems = await this.engine.check(patch.text);
      if (problems.length) throw refused(problems);
    }
    const updated = await this.store.update(admin.tenant, id, patch, admin.label).catch(storeConflict);
    if (!updated) throw notFound('policy');
    const { before, policy, diff } = updated;
    const changed: Record<string, unknown> = {};
    for (const field of ['name', 'description', 'enabled'] as const) {
      if (before[field] !== policy[field]) changed[field] = { from: before[field], to: policy[field] };
    }
    this.guard.recordChange(req, admin, 'policies.update', policy.id, { name: policy.name, version: policy.version, changed, diff });
    return json(200, { data: policyJson(policy) });
  }

  private async delete(req: RouteRequest): Promise<HttpResponse> {
    const admin = await this.guard.admitChange(req);
    const id = pathId(req.params.id, 'policy');
    const policy = await this.store.delete(admin.tenant, id, admin.label);
    if (!policy) throw notFound('policy');
    this.guard.recordChange(req, admin, 'policies.delete', policy.id, { name: policy.name, text: policy.text });
    return { status: 204 };
  }
}
