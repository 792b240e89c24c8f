/**
 * Gatehouse: an embeddable, governed MCP server engine.
 *
 * The public API of the core. Every export here is a deliberate API decision: add with care.
 */
export { createEngine, type Engine, type ListenOptions, type ToolSummary } from './kernel/create-engine.js';
export { EngineConfig, type EngineOptions } from './kernel/config.js';
export { definePlugin, type PluginDefinition, type PluginSpec, type PluginBinder } from './kernel/plugin.js';
export { LifecycleContribution } from './kernel/lifecycle.js';
export { checkCount, checkDurationMs, MAX_DURATION_MS } from './kernel/option-checks.js';
export { ShutdownError } from './kernel/shutdown-steps.js';
export { BackgroundWork } from './fleet/background-work.js';
export { InstanceRegistry, type EngineInstance } from './fleet/instance-registry.js';

export {
  defineTool,
  toolResult,
  TOOL_NAME,
  type ToolAnnotations,
  type ToolContent,
  type ToolContext,
  type ToolDefinition,
  type ToolResult,
  type ToolReturn,
  type ToolSpec,
} from './tools/define-tool.js';
export { ToolCatalog, ToolCatalogToken, type ToolEntry } from './tools/tool-catalog.js';
export {
  defineResource,
  type ArgumentCompleter,
  type ResourceContent,
  type ResourceContext,
  type ResourceDefinition,
  type ResourceReturn,
  type ResourceSpec,
} from './resources/define-resource.js';
export { definePrompt, type PromptContent, type PromptDefinition, type PromptMessage, type PromptReturn, type PromptSpec } from './prompts/define-prompt.js';
export type { HandlerContext } from './mcp/handler-context.js';
export { MCP_LOG_LEVELS, type McpLogLevel } from './mcp/notification-levels.js';
export { SessionStore } from './mcp/session-store.js';

export type { Principal } from './ports/principal.js';
export { Authenticator, type AuthRequest, type AuthResult, type AuthFailure } from './ports/authenticator.js';
export { Policy, mayAttempt, type PolicyDecision, type PolicyRequest, type PolicyCallContext, type ApprovalDeclaration, type ApprovalNeed, type LimitReached } from './ports/policy.js';
export { PendingApprovals, APPROVALS_CHANGED, type ApprovalRequest, type ApprovalTicket, type ApprovalRecord, type ApprovalState } from './ports/pending-approvals.js';
export { canonicalArguments, argumentsDigest } from './approvals/canonical-arguments.js';
export { AuditSink, type AuditEvent, type AuditDecision, type AuditOutcome } from './ports/audit-sink.js';
export { Database, type TenantDb } from './ports/database.js';
export { ChangeFeed, type ChangeFeedState, type ChangePayload, type PublishOptions } from './ports/change-feed.js';
export { MigrationSource } from './ports/migrations.js';

export { RouteContribution, type RouteDefinition, type RouteMethod, type RouteRequest } from './http/route.js';
export { json, jsonError, type HttpRequest, type HttpResponse, type HttpBody } from './http/types.js';
export { negotiatedJson } from './http/negotiated-json.js';
export { acceptsGzip, accepts, isJsonContentType } from './http/content-negotiation.js';
export { mcpResourceUrl, tenantOrigin, bearerChallenge } from './http/request-auth.js';
export { TenantHostPattern } from './http/tenant-host.js';
export type { NodeHandler } from './http/node-adapter.js';
export { clientErrorHandler } from './http/client-error.js';
export { McpDispatcher } from './mcp/mcp-dispatcher.js';
export { RegistrySource, type RegistryEntry } from './registry/registry-source.js';
export { RegistryEntries, type RegistryListing } from './registry/registry-entries.js';

export { ApiKeyStore, isUuid, type ApiKeyRecord, type ApiKeyCheck, type CreateApiKeyInput } from './keys/api-key-store.js';
export { ApiKeyVerifier, API_KEYS_CHANGED } from './keys/api-key-verifier.js';

export { openDatabase, type DatabaseOptions } from './db/open-database.js';
export { runMigrations } from './db/migrator.js';
export { answeredByServer, connectionLost, readAttemptsFor, readSurvivingLostConnection } from './db/lost-connection.js';
export { queryInTurn } from './db/query-in-turn.js';
export { TENANT_ID, assertTenant } from './db/tenant-db.js';
export { storableJson, unstorableText } from './db/storable-text.js';

export { presentedCredential, type PresentedCredential, type MalformedCredential } from './http/presented-credential.js';
export { clipClientText, QUOTED_CLIENT_TEXT_MAX } from './client-text.js';
export { withoutByteOrderMark } from './http/json-body.js';
export { BoundedCache, approximateBytes, type BoundedCacheOptions } from './cache/bounded-cache.js';
export { Clock, systemClock } from './ports/clock.js';
export { Logger, PinoLogger, safeLog, type LogLevel, type LogDestination } from './log/logger.js';
export { Telemetry, INSTRUMENTATION_SCOPE } from './telemetry/telemetry.js';
export type { RequestObservation } from './telemetry/request-observation.js';
export type { MetricsOptions } from './telemetry/metrics-endpoint.js';
export { ReadinessCheck, type ReadinessResult } from './ports/readiness-check.js';
export {
  GatehouseError,
  BootError,
  ConfigError,
  ToolError,
  HttpError,
  PermissionDeniedError,
  ApprovalPendingError,
  AuditUnavailableError,
  DependencyUnavailableError,
  TenantRequiredError,
} from './errors.js';

export { z } from 'zod';
