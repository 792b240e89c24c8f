import { HttpError } from '../../../core/index.js';
import { IdentityConflictError, IdentityInputError } from '../identity/identity-errors.js';
import { RoleNameTakenError, UnknownRolesError } from '../rbac/rbac-errors.js';
import { invalid } from './validation.js';

/** Map store errors to the admin API's answers: 400 with the field, 409 for conflicts. */
export function storeFailure(error: unknown): never {
  if (error instanceof IdentityInputError) throw invalid([{ field: error.field, message: error.message }]);
  if (error instanceof UnknownRolesError) throw invalid([{ field: 'roleIds', message: error.message }]);
  if (error instanceof IdentityConflictError || error instanceof RoleNameTakenError) throw new HttpError(409, 'conflict', error.message);
  throw error;
}
