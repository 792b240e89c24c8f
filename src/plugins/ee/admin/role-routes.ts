import { ArrayMaxSize, IsArray, IsOptional, IsString, Length, Matches, MaxLength } from 'class-validator';
import { inject, injectable } from 'inversify';
import { json, type RouteContribution, type RouteDefinition } from '../../../core/index.js';
import { PERMISSION_PATTERN } from '../rbac/permission-pattern.js';
import { RoleNameTakenError } from '../rbac/rbac-errors.js';
import { RoleStore, type Role } from '../rbac/role-store.js';
import { AdminGuard } from './admin-guard.js';
import { conflict as nameTaken } from './store-failure.js';
import { notFound, pathId, validated } from './validation.js';

const PERMISSION_MESSAGE = 'Each permission must look like resource:action, resource:* or * (no spaces).';
const NAME = /^\S(?:.*\S)?$/;

export class CreateRoleDto {
  @IsString()
  @Length(1, 100)
  @Matches(NAME, { message: 'Name must not start or end with spaces.' })
  name!: string;

  @IsOptional()
  @IsString()
  @MaxLength(1000)
  description?: string;

  @IsArray()
  @ArrayMaxSize(200)
  @IsString({ each: true })
  @Matches(PERMISSION_PATTERN, { each: true, message: PERMISSION_MESSAGE })
  permissions!: string[];
}

export class UpdateRoleDto {
  @IsOptional()
  @IsString()
  @Length(1, 100)
  @Matches(NAME, { message: 'Name must not start or end with spaces.' })
  name?: string;

  @IsOptional()
  @IsString()
  @MaxLength(1000)
  description?: string;

  @IsOptional()
  @IsArray()
  @ArrayMaxSize(200)
  @IsString({ each: true })
  @Matches(PERMISSION_PATTERN, { each: true, message: PERMISSION_MESSAGE })
  permissions?: string[];
}

export function roleJson(role: Role): Record<string, unknown> {
  return {
    id: role.id,
    name: role.name,
    description: role.description,
    permissions: role.permissions,
    createdAt: role.createdAt.toISOString(),
    updatedAt: role.updatedAt.toISOString(),
  };
}

function conflict(error: unknown): never {
  if (error instanceof RoleNameTakenError) throw nameTaken(error.message, 'name');
  throw error;
}

/** `/api/v1/mcp/roles`: the tenant's roles and the permission patterns they grant. */
@injectable()
export class RoleRoutes implements RouteContribution {
  constructor(
    @inject(AdminGuard) private readonly guard: AdminGuard,
    @inject(RoleStore) private readonly roles: RoleStore,
  ) {}

  routes(): RouteDefinition[] {
    return [
      {
        method: 'GET',
        path: '/api/v1/mcp/roles',
        handler: async (req) => {
          const admin = await this.guard.admit(req);
          return json(200, { data: (await this.roles.list(admin.tenant)).map(roleJson) });
        },
      },
      {
        method: 'POST',
        path: '/api/v1/mcp/roles',
        handler: async (req) => {
          const admin = await this.guard.admitChange(req);
          const input = await validated(CreateRoleDto, await req.json());
          const role = await this.roles.create(admin.tenant, input).catch(conflict);
          this.guard.recordChange(req, admin, 'roles.create', role.id, { name: role.name, permissions: role.permissions });
          return json(201, { data: roleJson(role) });
        },
      },
      {
        method: 'GET',
        path: '/api/v1/mcp/roles/:id',
        handler: async (req) => {
          const admin = await this.guard.admit(req);
          const role = await this.roles.get(admin.tenant, pathId(req.params.id, 'role'));
          if (!role) throw notFound('role');
          return json(200, { data: roleJson(role) });
        },
      },
      {
        method: 'PATCH',
        path: '/api/v1/mcp/roles/:id',
        handler: async (req) => {
          const admin = await this.guard.admitChange(req);
          const id = pathId(req.params.id, 'role');
          const change = await validated(UpdateRoleDto, await req.json());
          const before = await this.roles.get(admin.tenant, id);
          if (!before) throw notFound('role');
          const role = await this.roles.update(admin.tenant, id, change).catch(conflict);
          if (!role) throw notFound('role');
          const changed: Record<string, unknown> = {};
          for (const field of ['name', 'description', 'permissions'] as const) {
            if (change[field] !== undefined && JSON.stringify(before[field]) !== JSON.stringify(role[field])) {
              changed[field] = { from: before[field], to: role[field] };
            }
          }
          this.guard.recordChange(req, admin, 'roles.update', role.id, { name: role.name, changed });
          return json(200, { data: roleJson(role) });
        },
      },
      {
        method: 'DELETE',
        path: '/api/v1/mcp/roles/:id',
        handler: async (req) => {
          const admin = await this.guard.admitChange(req);
          const id = pathId(req.params.id, 'role');
          const role = await this.roles.get(admin.tenant, id);
          if (!role || !(await this.roles.delete(admin.tenant, id))) throw notFound('role');
          this.guard.recordChange(req, admin, 'roles.delete', id, { name: role.name, permissions: role.permissions });
          return json(200, { data: { id, deleted: true } });
        },
      },
    ];
  }
}
