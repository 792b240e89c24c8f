import { AuditSink, Policy, type Authenticator, type PluginBinder } from '../../core/index.js';
import { AgentPermissions } from './contracts.js';
import { AdminSettings } from './admin/admin-settings.js';
import { AuditSinkSettings, DEFAULT_AUDIT_SINK_SETTINGS } from './audit/audit-sink-settings.js';
import { DbAuditSink } from './audit/db-audit-sink.js';
import { CachedAgentPermissions } from './rbac/cached-agent-permissions.js';
import { RbacPolicy } from './rbac/rbac-policy.js';
import { DEFAULT_RBAC_SETTINGS, RbacSettings } from './rbac/rbac-settings.js';
import { RoleStore } from './rbac/role-store.js';

/** The governance part of `enterpriseEdition(options)`: what decides and what records. */
export interface GovernanceOptions {
  /**
   * An authenticator of the host for the admin API (its principals are admins of their tenant).
   * Without it, the admin API accepts API keys with scope `admin` only.
   */
  readonly adminAuthenticator?: Authenticator;
  /** Audit trail tuning: batching, back-pressure bound, retry, redaction. */
  readonly audit?: Partial<AuditSinkSettings>;
  /** RBAC tuning: how long an agent's grants are cached. */
  readonly rbac?: Partial<RbacSettings>;
}

/**
 * Bind the Enterprise policy (RBAC), the database audit sink, the agent-permission service, the
 * roles store and the governance routes (admin API, registry).
 */
export function registerGovernance(binder: PluginBinder, options: GovernanceOptions = {}): void {
  const { bind } = binder;
  bind(RbacSettings).toConstantValue(Object.freeze({ ...DEFAULT_RBAC_SETTINGS, ...options.rbac }));
  bind(AuditSinkSettings).toConstantValue(Object.freeze({ ...DEFAULT_AUDIT_SINK_SETTINGS, ...options.audit }));
  bind(AdminSettings).toConstantValue(Object.freeze({ adminAuthenticator: options.adminAuthenticator }));

  bind(CachedAgentPermissions).toSelf();
  bind(AgentPermissions).toService(CachedAgentPermissions);
  bind(RoleStore).toSelf();
  bind(RbacPolicy).toSelf();
  bind(Policy).toService(RbacPolicy);
  bind(DbAuditSink).toSelf();
  bind(AuditSink).toService(DbAuditSink);
}

export type { AuditSinkSettings } from './audit/audit-sink-settings.js';
export type { RbacSettings } from './rbac/rbac-settings.js';
export type { AuditRedaction } from './audit/redaction.js';
