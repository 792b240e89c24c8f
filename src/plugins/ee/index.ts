import { definePlugin, type PluginDefinition } from '../../core/index.js';
import { registerAdminUi } from './admin-ui/register-admin-ui.js';
import { registerGovernance } from './governance.js';
import { resolveEnterpriseOptions, type EnterpriseOptions } from './identity/enterprise-options.js';
import { registerIdentity } from './identity/register-identity.js';

/** The directory of the Enterprise tables' migrations (applied with their own migration table). */
export const EE_MIGRATIONS = new URL('../../../ee-migrations/', import.meta.url);

/**
 * The Enterprise edition: agents authenticated by each tenant's own identity providers, per-agent
 * roles, a durable audit trail, per-tenant Protected Resource Metadata and the admin API.
 *
 * ```ts
 * const engine = await createEngine({
 *   publicUrl: 'https://mcp.example.com',
 *   plugins: [enterpriseEdition({ tenancy: 'path' }), ticketsPlugin()],
 * });
 * ```
 *
 * Options are validated when this is called; a mistake throws a `ConfigError` naming the option.
 */
export function enterpriseEdition(options: EnterpriseOptions = {}): PluginDefinition {
  const settings = resolveEnterpriseOptions(options);
  const { adminAuthenticator, audit, rbac, approvals, policies } = options;
  return definePlugin({
    id: 'enterprise-edition',
    migrations: EE_MIGRATIONS,
    register(binder) {
      registerIdentity(binder, settings);
      registerGovernance(binder, { adminAuthenticator, audit, rbac, approvals, policies });
      registerAdminUi(binder);
    },
  });
}

export { resolveEnterpriseOptions, type EnterpriseOptions, type EnterpriseSettings } from './identity/enterprise-options.js';
export { registerIdentity } from './identity/register-identity.js';
export { AgentAuthenticator, normaliseAudience } from './identity/agent-authenticator.js';
export { AgentStore, type Agent, type CreateAgentInput, type UpdateAgentInput } from './identity/agent-store.js';
export { IdpProviderStore, type IdpProvider, type CreateIdpProviderInput, type UpdateIdpProviderInput } from './identity/idp-provider-store.js';
export { IDP_KINDS, ASYMMETRIC_ALGORITHMS, resolvePreset, type IdpKind, type IdpPresetInput, type ResolvedPreset } from './identity/idp-presets.js';
export { IdentityConflictError, IdentityInputError } from './identity/identity-errors.js';
export { JwksCache, KeySourceError, IssuerMismatchError, UnusableKeyError } from './identity/jwks-cache.js';
export { OutboundRefusedError } from './outbound-fetch.js';
export { CredentialCache } from './identity/credential-cache.js';
export { TenantUrls, PRM_PREFIX } from './identity/tenant-urls.js';
export { AGENT_KIND, AGENT_KEY_SCOPE, ADMIN_SCOPE, AgentPermissions, type AgentAttributes } from './contracts.js';
export { auditCommand, auditOptionsFromEnvironment, describeVerification, AuditUsageError, type AuditCommandFlags } from './audit/audit-command.js';
export { AuditVerifier, verifyExport, ExportFormatError, type VerifyOptions } from './audit/audit-verifier.js';
export { AuditRetention, type PruneResult } from './audit/audit-retention.js';
export { AuditCheckpointer } from './audit/audit-checkpointer.js';
export { verifyChain, keyRing, keyIdOf, type ChainVerification, type ChainBreak, type ChainBreakReason } from './audit/chain-verifier.js';
export { canonicalJson, chainHash, GENESIS_HASH, CHAIN_FIELDS, type Checkpoint } from './audit/audit-chain.js';
export type { CheckpointOptions } from './audit/checkpoint-settings.js';
export { ApprovalStore } from './approvals/approval-store.js';
export { PolicyStore, PolicyNameTakenError, TooManyPoliciesError, type StoredPolicy, type PolicyHistoryEntry, type PolicyInput } from './policies/policy-store.js';
export { PolicyEngine, type PolicyVerdict } from './policies/policy-engine.js';
export { ApprovalDecisionError } from './approvals/approval-errors.js';
export type { Approval, ApprovalStep } from './approvals/approval-record.js';
