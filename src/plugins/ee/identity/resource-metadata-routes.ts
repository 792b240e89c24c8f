import { inject, injectable } from 'inversify';
import { EngineConfig, TENANT_ID, json, jsonError, type RouteContribution, type RouteDefinition, type RouteRequest } from '../../../core/index.js';
import { EnterpriseSettings } from './enterprise-options.js';
import { IdpProviderStore } from './idp-provider-store.js';
import { PRM_PREFIX, TenantUrls } from './tenant-urls.js';

const NO_STORE = { 'cache-control': 'no-store' };

/**
 * Protected Resource Metadata (RFC 9728) at the path-suffixed well-known URL of each tenant's MCP
 * endpoint. A tenant's document lists only that tenant's active identity providers, in their
 * listing order (clients such as the SDK's client-credentials provider use the first); a tenant
 * without any gets an empty list. With a base path, the core also answers at the origin-root
 * location RFC 9728 defines (`/.well-known/oauth-protected-resource{basePath}/…`).
 */
@injectable()
export class ResourceMetadataRoutes implements RouteContribution {
  constructor(
    @inject(EngineConfig) private readonly config: EngineConfig,
    @inject(EnterpriseSettings) private readonly settings: EnterpriseSettings,
    @inject(TenantUrls) private readonly urls: TenantUrls,
    @inject(IdpProviderStore) private readonly idps: IdpProviderStore,
  ) {}

  routes(): readonly RouteDefinition[] {
    if (this.settings.tenancy === 'single') {
      return [{ method: 'GET', path: `${PRM_PREFIX}${this.config.mcpPath}`, handler: () => this.document(this.settings.tenant!) }];
    }
    if (this.settings.tenancy === 'host') {
      // Served at each tenant's own host; the engine derives the tenant from the Host header.
      return [{ method: 'GET', path: `${PRM_PREFIX}${this.config.mcpPath}`, handler: (req: RouteRequest) => this.document(req.tenantHint ?? '') }];
    }
    // Registered with its full path: the engine's `/t/<tenant>` prefix handling does not apply under `/.well-known`.
    return [{ method: 'GET', path: `${PRM_PREFIX}/t/:tenant${this.config.mcpPath}`, handler: (req: RouteRequest) => this.document(req.params.tenant ?? '') }];
  }

  private async document(tenant: string) {
    const notFound = jsonError(404, 'not_found', 'No protected resource here.', { headers: NO_STORE });
    if (!TENANT_ID.test(tenant)) return notFound;
    // A tenant without an active IdP (or one that does not exist: the two are not told apart)
    // answers with an empty list, so the 401 challenge always points at a document.
    const providers = await this.idps.activeProviders(tenant);
    return json(
      200,
      {
        resource: this.urls.resource(tenant),
        authorization_servers: [...new Set(providers.map((provider) => provider.issuer))],
        scopes_supported: ['mcp'],
        bearer_methods_supported: ['header'],
        resource_name: `${this.config.serverInfo.name} (${tenant})`,
      },
      NO_STORE,
    );
  }
}
