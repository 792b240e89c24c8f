/** Settings of the RBAC services, from `enterpriseEdition({ rbac })`. */
export interface RbacSettings {
  /**
   * How long an agent's grants are reused from cache. Role changes made through this process apply
   * at once; changes made by another instance apply within this delay. Default 10 s.
   */
  readonly permissionCacheTtlMs: number;
  /**
   * What a tenant API key with scope `mcp` that is not bound to an agent may do. `deny` (default):
   * nothing — every caller of a governed tool is an agent with roles. `allow`: every tool of its
   * tenant, as in the Community Edition (for a migration period; such calls are still audited).
   */
  readonly tenantKeys: 'deny' | 'allow';
}

export const RbacSettings = Symbol.for('gatehouse.ee.RbacSettings');

export const DEFAULT_RBAC_SETTINGS: RbacSettings = Object.freeze({ permissionCacheTtlMs: 10_000, tenantKeys: 'deny' });
