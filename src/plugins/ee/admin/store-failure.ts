import { HttpError } from '../../../core/index.js';
import { IdentityConflictError, IdentityInputError } from '../identity/identity-errors.js';
import { RoleNameTakenError, UnknownAgentError, UnknownRolesError } from '../rbac/rbac-errors.js';
import { humanMessage } from './field-messages.js';
import { invalid, notFound } from './validation.js';

/** 409, with the field the clash is about so a form can show it there. */
export function conflict(message: string, field?: string): HttpError {
  return new HttpError(409, 'conflict', message, field ? { details: [{ field, message: humanMessage(field, message) }] } : {});
}

/**
 * Map store errors to the admin API's answers: 400 with the field, 404 for the object addressed
 * when it was deleted meanwhile, 409 for conflicts.
 */
export function storeFailure(error: unknown): never {
  if (error instanceof UnknownAgentError) throw notFound('agent');
  if (error instanceof IdentityInputError) throw invalid([{ field: error.field, message: error.message }]);
  if (error instanceof UnknownRolesError) throw invalid([{ field: 'roleIds', message: error.message }]);
  if (error instanceof RoleNameTakenError) throw conflict(error.message, 'name');
  if (error instanceof IdentityConflictError) throw conflict(error.message, error.field);
  throw error;
}
