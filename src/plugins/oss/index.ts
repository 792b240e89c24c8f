import { AuditSink, Authenticator, Policy, RouteContribution, definePlugin, type PluginDefinition } from '../../core/index.js';
import { ApiKeyAuthenticator } from './api-key-authenticator.js';
import { AllowAllPolicy } from './allow-all-policy.js';
import { NoopAuditSink } from './noop-audit-sink.js';
import { RegistryRoutes } from './registry-routes.js';
import { OAuthDiscoveryRoutes } from './oauth-discovery-routes.js';

/**
 * The Community Edition: tenant-bound API keys, an explicit allow-all policy and no audit trail.
 *
 * ```ts
 * const engine = await createEngine({ plugins: [communityEdition(), ticketsPlugin()] });
 * ```
 */
export function communityEdition(): PluginDefinition {
  return definePlugin({
    id: 'community-edition',
    register({ bind }) {
      bind(Authenticator).to(ApiKeyAuthenticator);
      bind(Policy).to(AllowAllPolicy);
      bind(AuditSink).to(NoopAuditSink);
      bind(RouteContribution).to(RegistryRoutes);
      bind(RouteContribution).to(OAuthDiscoveryRoutes);
    },
  });
}

export { ApiKeyAuthenticator, presentedKey } from './api-key-authenticator.js';
export { AllowAllPolicy } from './allow-all-policy.js';
export { NoopAuditSink } from './noop-audit-sink.js';
export { apiRegistry, principalOf, apiCallOf, loadOpenApiDocument, InvalidApiDocumentError, type ApiRegistryOptions, type ApiDocumentOptions, type ApiOverrides, type ApiOperationOverride, type ApiDispatch, type ApiCallContext, type ApiOperation } from './api-registry/index.js';
