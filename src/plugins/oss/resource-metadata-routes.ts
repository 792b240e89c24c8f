import { inject, injectable } from 'inversify';
import { EngineConfig, TENANT_ID, json, jsonError, mcpResourceUrl, type RouteContribution, type RouteDefinition, type RouteRequest } from '../../core/index.js';
import { API_KEY_HINT } from './api-key-authenticator.js';

const PRM_PREFIX = '/.well-known/oauth-protected-resource';
const NO_STORE = { 'cache-control': 'no-store' };

/**
 * Protected Resource Metadata (RFC 9728) for the Community Edition, which takes API keys and uses
 * no authorization server. OAuth clients (mcp-remote, the MCP Inspector) look this document up
 * after a 401; it answers with an empty `authorization_servers` list and says how to send a key,
 * instead of a 404 that sends them on to dynamic client registration.
 */
@injectable()
export class ResourceMetadataRoutes implements RouteContribution {
  constructor(@inject(EngineConfig) private readonly config: EngineConfig) {}

  routes(): readonly RouteDefinition[] {
    return [
      { method: 'GET', path: `${PRM_PREFIX}${this.config.mcpPath}`, handler: (req: RouteRequest) => this.document(req.tenantHint) },
      // Registered with its full path: the engine's `/t/<tenant>` prefix handling does not apply under `/.well-known`.
      {
        method: 'GET',
        path: `${PRM_PREFIX}/t/:tenant${this.config.mcpPath}`,
        handler: (req: RouteRequest) =>
          TENANT_ID.test(req.params.tenant ?? '') ? this.document(req.params.tenant) : jsonError(404, 'not_found', 'No protected resource here.', { headers: NO_STORE }),
      },
    ];
  }

  private document(tenant: string | undefined) {
    return json(
      200,
      {
        resource: mcpResourceUrl(this.config, tenant),
        authorization_servers: [],
        bearer_methods_supported: ['header'],
        resource_name: this.config.serverInfo.name,
        authentication: 'api-key',
        description: API_KEY_HINT,
      },
      NO_STORE,
    );
  }
}
