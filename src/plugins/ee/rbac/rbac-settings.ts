/** Settings of the RBAC services, from `enterpriseEdition({ rbac })`. */
export interface RbacSettings {
  /**
   * How long an agent's grants are reused from cache. Role changes made through this process apply
   * at once; changes made by another instance apply within this delay. Default 10 s.
   */
  readonly permissionCacheTtlMs: number;
}

export const RbacSettings = Symbol.for('gatehouse.ee.RbacSettings');

export const DEFAULT_RBAC_SETTINGS: RbacSettings = Object.freeze({ permissionCacheTtlMs: 10_000 });
