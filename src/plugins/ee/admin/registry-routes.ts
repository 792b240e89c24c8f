import { inject, injectable } from 'inversify';
import { RegistryEntries, negotiatedJson, type RouteContribution, type RouteDefinition } from '../../../core/index.js';

/**
 * `GET /api/v1/meta/mcp-registry` in the Enterprise Edition: the tools and registry operations the
 * caller may use — the same decision as `tools/list` and `tools/call`, so nothing the caller may not
 * use is revealed — each with the permission it needs. Admins see every agent's view through the
 * access check (`/api/v1/mcp/access-check`).
 */
@injectable()
export class EnterpriseRegistryRoutes implements RouteContribution {
  constructor(@inject(RegistryEntries) private readonly registry: RegistryEntries) {}

  routes(): RouteDefinition[] {
    return [
      {
        method: 'GET',
        path: '/api/v1/meta/mcp-registry',
        handler: async (req) => {
          const principal = await req.authenticate();
          const entries = (await this.registry.list(principal))
            .filter(({ decision }) => decision.allow)
            .map(({ entry }) => ({ ...entry, permission: entry.permission, allowed: true }));
          return negotiatedJson(req.header('accept-encoding'), 200, {
            data: { edition: 'enterprise', tenant: principal.tenant, count: entries.length, entries },
          });
        },
      },
    ];
  }
}
