import { inject, injectable } from 'inversify';
import { EngineConfig, TENANT_ID, json, jsonError, mcpResourceUrl, type RouteContribution, type RouteDefinition, type RouteRequest } from '../../core/index.js';
import { API_KEY_HINT } from './api-key-authenticator.js';

const PRM_PREFIX = '/.well-known/oauth-protected-resource';
const NO_STORE = { 'cache-control': 'no-store' };

/**
 * What OAuth clients find when they look for an authorization server at a Community Edition engine,
 * which takes API keys and uses none. After a 401, clients built on the MCP SDK (mcp-remote, the
 * MCP Inspector) read the Protected Resource Metadata (RFC 9728): it lists no authorization server
 * and says how to send a key. Finding none, the SDK falls back to registering a client at the
 * server's own `/register` (RFC 7591); that answers with an OAuth error whose description the
 * client shows, instead of a 404 about registration.
 */
@injectable()
export class OAuthDiscoveryRoutes implements RouteContribution {
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
      // RFC 7591 error shape (a flat `error` string), the one OAuth clients parse and display.
      {
        method: 'POST',
        path: '/register',
        handler: () => json(400, { error: 'invalid_client_metadata', error_description: `This server does not register OAuth clients. ${API_KEY_HINT}` }, NO_STORE),
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
