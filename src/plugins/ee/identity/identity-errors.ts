import { GatehouseError } from '../../../core/index.js';

/** Input to the identity stores that cannot be accepted; `field` names the offending field. */
export class IdentityInputError extends GatehouseError {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('invalid_input', message);
  }
}

/**
 * A change that clashes with existing data: a second active agent for the same (issuer, subject),
 * a second provider with the same issuer, deleting a provider agents still use. Maps to HTTP 409.
 */
export class IdentityConflictError extends GatehouseError {
  constructor(
    message: string,
    /** The input field the clash is about (shown next to it in the admin forms), when there is one. */
    readonly field?: string,
  ) {
    super('conflict', message);
  }
}

/** PostgreSQL unique violation (both the server and the embedded database report 23505). */
export function isUniqueViolation(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === '23505';
}

/** PostgreSQL foreign-key violation (23503) or `ON DELETE RESTRICT` violation (23001). */
export function isForeignKeyViolation(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '23503' || code === '23001';
}

/**
 * Rows affected by a knex delete. The PostgreSQL client answers a number; the embedded
 * database's driver answers the raw result (`{ rowCount }`).
 */
export function affectedRows(result: unknown): number {
  if (typeof result === 'number') return result;
  const count = (result as { rowCount?: unknown; affectedRows?: unknown } | null)?.rowCount ?? (result as { affectedRows?: unknown } | null)?.affectedRows;
  return typeof count === 'number' ? count : 0;
}
