import { AuditSink, checkCount, checkDurationMs, ConfigError, LifecycleContribution, PendingApprovals, Policy, RouteContribution, type PluginBinder } from '../../core/index.js';
import { AgentPermissions } from './contracts.js';
import { ApprovalRoutes } from './admin/approval-routes.js';
import { ApprovalSettings, DEFAULT_APPROVAL_SETTINGS } from './approvals/approval-settings.js';
import { ApprovalStore } from './approvals/approval-store.js';
import { ApprovalWebhook } from './approvals/approval-webhook.js';
import { AccessCheckRoutes } from './admin/access-check-routes.js';
import { AdminGuard } from './admin/admin-guard.js';
import { AgentRoutes } from './admin/agent-routes.js';
import { IdpRoutes } from './admin/idp-routes.js';
import { AdminSettings } from './admin/admin-settings.js';
import { AuditRoutes } from './admin/audit-routes.js';
import { EnterpriseRegistryRoutes } from './admin/registry-routes.js';
import { RoleRoutes } from './admin/role-routes.js';
import { AuditQuery } from './audit/audit-query.js';
import { AuditSinkSettings, DEFAULT_AUDIT_SINK_SETTINGS } from './audit/audit-sink-settings.js';
import { AuthFailureAggregator } from './audit/auth-failure-aggregator.js';
import { DbAuditSink } from './audit/db-audit-sink.js';
import { AuditCheckpointer } from './audit/audit-checkpointer.js';
import { AuditRetention, RetentionSettings } from './audit/audit-retention.js';
import { AuditVerifier } from './audit/audit-verifier.js';
import { CheckpointSettings, checkpointSettings, type CheckpointOptions } from './audit/checkpoint-settings.js';
import { CachedAgentPermissions } from './rbac/cached-agent-permissions.js';
import { RbacPolicy } from './rbac/rbac-policy.js';
import { DEFAULT_RBAC_SETTINGS, RbacSettings } from './rbac/rbac-settings.js';
import { RoleStore } from './rbac/role-store.js';
import { PolicyRoutes } from './admin/policy-routes.js';
import { AgentFacts } from './policies/agent-facts.js';
import { EnterprisePolicy } from './policies/enterprise-policy.js';
import { PolicyEngine } from './policies/policy-engine.js';
import { PolicySettings, policySettings } from './policies/policy-settings.js';
import { PolicyStore } from './policies/policy-store.js';
import { AgentRoleIds } from './limits/agent-role-ids.js';
import { LimitMeter } from './limits/limit-meter.js';
import { LimitStore } from './limits/limit-store.js';
import { MeteredPolicy } from './limits/metered-policy.js';
import { LimitRoutes } from './admin/limit-routes.js';

/** The governance part of `enterpriseEdition(options)`: what decides and what records. */
export interface GovernanceOptions {
  /**
   * The host's own admin authentication for the admin API; what it accepts is an admin of the
   * returned tenant. Returning undefined falls back to API keys with scope `admin`.
   */
  readonly adminAuthenticator?: AdminSettings['adminAuthenticator'];
  /**
   * Audit trail tuning (see {@link AuditSinkSettings}): batching, back-pressure bound, retry,
   * redaction; signed checkpoints of the hash chain; retention.
   */
  readonly audit?: Partial<AuditSinkSettings> & { readonly checkpoints?: CheckpointOptions; readonly retention?: RetentionOptions };
  /** RBAC tuning: how long an agent's grants are cached. */
  readonly rbac?: Partial<RbacSettings>;
  /** Approvals: how long a request waits (`ttlMs`, default 15 minutes), the admin UI link for webhooks. */
  readonly approvals?: Partial<ApprovalSettings>;
  /** Tenant policies (Cedar): the time zone of `context.time`, how long a compiled set is reused. */
  readonly policies?: Partial<PolicySettings>;
}

function approvalSettings(options: GovernanceOptions['approvals'] = {}): ApprovalSettings {
  if (typeof options !== 'object' || options === null) throw new ConfigError('enterpriseEdition(options): approvals must be an object.');
  for (const [name, value] of Object.entries(options)) {
    if (name === 'ttlMs' || name === 'webhookAttempts' || name === 'webhookRetryDelayMs' || name === 'webhookTimeoutMs') positive(value, `approvals.${name}`);
    else if (name === 'uiUrl') {
      if (typeof value !== 'string' || !URL.canParse(value)) throw new ConfigError('enterpriseEdition(options): approvals.uiUrl must be an absolute URL.');
    } else throw new ConfigError(`enterpriseEdition(options): unknown option "approvals.${name}".`);
  }
  return Object.freeze({ ...DEFAULT_APPROVAL_SETTINGS, ...options });
}


/** `audit.retention`: drop month partitions older than `olderThanDays`, daily when `daily` is true. */
export interface RetentionOptions {
  readonly olderThanDays?: number;
  readonly daily?: boolean;
}

const NUMERIC_AUDIT_SETTINGS = ['batchSize', 'flushIntervalMs', 'maxBuffered', 'retryDelayMs', 'maxRetryDelayMs', 'flushTimeoutMs', 'progressLogMs', 'intentTimeoutMs', 'maxArgumentBytes', 'authFailureWindowMs', 'authFailureKeysPerSource'] as const;

function retentionSettings(options: RetentionOptions = {}): RetentionSettings {
  if (typeof options !== 'object' || options === null) throw new ConfigError('enterpriseEdition(options): audit.retention must be an object.');
  for (const [name, value] of Object.entries(options)) {
    if (name === 'olderThanDays') positive(value, 'audit.retention.olderThanDays');
    else if (name === 'daily') {
      if (typeof value !== 'boolean') throw new ConfigError('enterpriseEdition(options): audit.retention.daily must be true or false.');
    } else throw new ConfigError(`enterpriseEdition(options): unknown option "audit.retention.${name}".`);
  }
  if (options.daily && options.olderThanDays === undefined) throw new ConfigError('enterpriseEdition(options): audit.retention.daily needs audit.retention.olderThanDays.');
  return Object.freeze({ olderThanDays: options.olderThanDays, daily: options.daily ?? false });
}

/** A numeric option: a duration in milliseconds when its name ends in `Ms`, else a count (items, attempts, days). */
function positive(value: unknown, name: string): void {
  const label = `enterpriseEdition(options): ${name}`;
  if (name.endsWith('Ms')) checkDurationMs(value, label);
  else checkCount(value, label);
}

function rbacSettings(options: GovernanceOptions['rbac'] = {}): RbacSettings {
  if (typeof options !== 'object' || options === null) throw new ConfigError('enterpriseEdition(options): rbac must be an object.');
  for (const [name, value] of Object.entries(options)) {
    if (name === 'tenantKeys') {
      if (value !== 'deny' && value !== 'allow') throw new ConfigError('enterpriseEdition(options): rbac.tenantKeys must be "deny" or "allow".');
      continue;
    }
    if (name !== 'permissionCacheTtlMs') throw new ConfigError(`enterpriseEdition(options): unknown option "rbac.${name}".`);
    positive(value, `rbac.${name}`);
  }
  return Object.freeze({ ...DEFAULT_RBAC_SETTINGS, ...options });
}

function auditSettings(options: GovernanceOptions['audit'] = {}): AuditSinkSettings {
  if (typeof options !== 'object' || options === null) throw new ConfigError('enterpriseEdition(options): audit must be an object.');
  const given = options as Record<string, unknown>;
  for (const [name, value] of Object.entries(given)) {
    if (name === 'checkpoints' || name === 'retention') continue;
    if (name === 'durableWrites') {
      if (typeof value !== 'boolean') throw new ConfigError('enterpriseEdition(options): audit.durableWrites must be true or false.');
      continue;
    }
    if (name === 'redaction') {
      const rule = value as { keys?: unknown; values?: unknown } | null;
      const ok =
        typeof value === 'function' ||
        (typeof rule === 'object' &&
          rule !== null &&
          (rule.keys === undefined || rule.keys instanceof RegExp) &&
          (rule.values === undefined || (Array.isArray(rule.values) && rule.values.every((item) => item instanceof RegExp))));
      if (!ok) throw new ConfigError('enterpriseEdition(options): audit.redaction must be a function or { keys?: RegExp, values?: RegExp[] }.');
      continue;
    }
    if (!(NUMERIC_AUDIT_SETTINGS as readonly string[]).includes(name)) throw new ConfigError(`enterpriseEdition(options): unknown option "audit.${name}".`);
    positive(value, `audit.${name}`);
  }
  const { checkpoints: _checkpoints, retention: _retention, ...sink } = given;
  const settings = { ...DEFAULT_AUDIT_SINK_SETTINGS, ...sink } as AuditSinkSettings;
  if (settings.batchSize > settings.maxBuffered) throw new ConfigError('enterpriseEdition(options): audit.batchSize must not exceed audit.maxBuffered.');
  return Object.freeze(settings);
}

/**
 * Bind the Enterprise policy (RBAC), the database audit sink, the agent-permission service, the
 * roles store and the governance routes (admin API, registry).
 */
export function registerGovernance(binder: PluginBinder, options: GovernanceOptions = {}): void {
  const { bind } = binder;
  if (options.adminAuthenticator !== undefined && typeof options.adminAuthenticator !== 'function') {
    throw new ConfigError('enterpriseEdition(options): adminAuthenticator must be a function (req) => Promise<{ tenant, label } | undefined>.');
  }
  bind(RbacSettings).toConstantValue(rbacSettings(options.rbac));
  bind(AuditSinkSettings).toConstantValue(auditSettings(options.audit));
  bind(CheckpointSettings).toConstantValue(checkpointSettings(options.audit?.checkpoints));
  bind(RetentionSettings).toConstantValue(retentionSettings(options.audit?.retention));
  bind(ApprovalSettings).toConstantValue(approvalSettings(options.approvals));
  bind(AdminSettings).toConstantValue(Object.freeze({ adminAuthenticator: options.adminAuthenticator }));

  bind(CachedAgentPermissions).toSelf();
  bind(AgentPermissions).toService(CachedAgentPermissions);
  bind(RoleStore).toSelf();
  bind(RbacPolicy).toSelf();
  bind(PolicySettings).toConstantValue(policySettings(options.policies));
  bind(PolicyEngine).toSelf();
  bind(AgentFacts).toSelf();
  bind(PolicyStore).toSelf();
  bind(EnterprisePolicy).toSelf();
  bind(LimitStore).toSelf();
  bind(AgentRoleIds).toSelf();
  bind(LimitMeter).toSelf();
  bind(LifecycleContribution).toService(LimitMeter);
  // Roles decide first, then the tenant's policies; what they let through is then counted against
  // rate limits and quotas.
  bind(MeteredPolicy).toSelf();
  bind(Policy).toService(MeteredPolicy);
  bind(DbAuditSink).toSelf();
  // Authentication failures pass through the aggregator; every other event goes straight to the sink.
  bind(AuthFailureAggregator).toSelf();
  bind(AuditSink).toService(AuthFailureAggregator);
  bind(AuditQuery).toSelf();
  bind(AuditCheckpointer).toSelf();
  bind(AuditRetention).toSelf();
  bind(AuditVerifier).toSelf();
  bind(LifecycleContribution).toService(DbAuditSink);
  bind(LifecycleContribution).toService(AuditCheckpointer);
  bind(LifecycleContribution).toService(AuditRetention);
  bind(ApprovalStore).toSelf();
  bind(PendingApprovals).toService(ApprovalStore);
  bind(ApprovalWebhook).toSelf();
  bind(LifecycleContribution).toService(ApprovalWebhook);

  bind(AdminGuard).toSelf();
  for (const routes of [RoleRoutes, AgentRoutes, IdpRoutes, AuditRoutes, AccessCheckRoutes, EnterpriseRegistryRoutes, ApprovalRoutes, LimitRoutes, PolicyRoutes]) bind(RouteContribution).to(routes);
}

export type { AuditSinkSettings } from './audit/audit-sink-settings.js';
export type { RbacSettings } from './rbac/rbac-settings.js';
export type { PolicySettings } from './policies/policy-settings.js';
export type { ApprovalSettings } from './approvals/approval-settings.js';
export type { HostAdmin } from './admin/admin-settings.js';
export type { AuditRedaction } from './audit/redaction.js';
export type { CheckpointOptions } from './audit/checkpoint-settings.js';
