/**
 * Contracts shared by the Enterprise plugin's parts (identity, RBAC, audit, admin API).
 */

/** `Principal.kind` of an agent, however it authenticated. */
export const AGENT_KIND = 'agent';

/** Scope of an API key bound to an agent. Such keys are not Community Edition MCP keys (scope `mcp`). */
export const AGENT_KEY_SCOPE = 'agent';

/** Scope of an API key that may use the admin API. */
export const ADMIN_SCOPE = 'admin';

/** `Principal.attributes` of an agent principal. */
export interface AgentAttributes {
  readonly agentId: string;
  /** How it authenticated. */
  readonly credential: 'jwt' | 'api-key';
  /** For JWTs: the token's issuer and the value of the IdP's subject claim. */
  readonly issuer?: string;
  readonly subject?: string;
  readonly idpId?: string;
  /** For agent API keys: the key's id. */
  readonly keyId?: string;
  /** Permission patterns granted by the agent's roles (`tickets:read`, `tickets:*`, `*`), loaded at authentication. */
  readonly permissions: readonly string[];
}

/**
 * Loads the permission patterns an agent's roles grant (cached by the implementation; a cached
 * answer may be returned as it is, without a promise).
 */
export interface AgentPermissions {
  permissionsOf(tenant: string, agentId: string): readonly string[] | Promise<readonly string[]>;
  /** Forget cached grants (after a role or assignment change). */
  invalidate(tenant: string, agentId?: string): void;
}

export const AgentPermissions = Symbol.for('gatehouse.ee.AgentPermissions');
