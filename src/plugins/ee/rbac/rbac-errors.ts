import { GatehouseError } from '../../../core/index.js';

/** A role with this name already exists in the tenant. */
export class RoleNameTakenError extends GatehouseError {
  constructor(readonly roleName: string) {
    super('role_name_taken', `A role named "${roleName}" already exists.`);
  }
}

/** Role ids that the tenant does not have (never says whether another tenant has them). */
export class UnknownRolesError extends GatehouseError {
  constructor(readonly roleIds: readonly string[]) {
    super('unknown_roles', `Unknown role id(s): ${roleIds.join(', ')}.`);
  }
}

/**
 * The agent whose roles were being replaced does not exist (any more): deleted before the
 * assignment could lock it. Nothing was assigned.
 */
export class UnknownAgentError extends GatehouseError {
  constructor(readonly agentId: string) {
    super('unknown_agent', 'No such agent.');
  }
}
