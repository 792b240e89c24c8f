import { Authenticator, LifecycleContribution, RouteContribution, type PluginBinder } from '../../../core/index.js';
import { AgentAuthenticator } from './agent-authenticator.js';
import { AgentStore } from './agent-store.js';
import { CredentialCache } from './credential-cache.js';
import { EnterpriseSettings } from './enterprise-options.js';
import { IdpFaultLog } from './idp-fault-log.js';
import { IdpProviderStore } from './idp-provider-store.js';
import { JwksCache } from './jwks-cache.js';
import { ResourceMetadataRoutes } from './resource-metadata-routes.js';
import { TenantUrls } from './tenant-urls.js';

/**
 * Bind the identity part of the Enterprise edition: the authenticator, the provider and agent
 * stores, the key and credential caches, and the Protected Resource Metadata routes. Needs
 * {@link AgentPermissions} bound by the governance part.
 */
export function registerIdentity(binder: PluginBinder, settings: EnterpriseSettings): void {
  const { bind } = binder;
  bind(EnterpriseSettings).toConstantValue(settings);
  bind(TenantUrls).toSelf();
  bind(CredentialCache).toSelf();
  bind(JwksCache).toSelf();
  bind(IdpFaultLog).toSelf();
  bind(IdpProviderStore).toSelf();
  bind(AgentStore).toSelf();
  bind(LifecycleContribution).toService(AgentStore);
  bind(AgentAuthenticator).toSelf();
  bind(Authenticator).toService(AgentAuthenticator);
  bind(ResourceMetadataRoutes).toSelf();
  bind(RouteContribution).toService(ResourceMetadataRoutes);
}
