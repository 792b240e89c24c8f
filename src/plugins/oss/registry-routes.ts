import { inject, injectable } from 'inversify';
import { RegistryEntries, negotiatedJson, type RouteContribution, type RouteDefinition } from '../../core/index.js';

/**
 * `GET /api/v1/meta/mcp-registry`: what the caller may use (tools and registry operations),
 * readable with any valid credential of the tenant; gzip-compressed when the client accepts it.
 */
@injectable()
export class RegistryRoutes implements RouteContribution {
  constructor(@inject(RegistryEntries) private readonly registry: RegistryEntries) {}

  routes(): RouteDefinition[] {
    return [
      {
        method: 'GET',
        path: '/api/v1/meta/mcp-registry',
        handler: async (req) => {
          const principal = await req.authenticate();
          const entries = (await this.registry.list(principal)).filter(({ decision }) => decision.allow).map(({ entry }) => entry);
          return negotiatedJson(req.header('accept-encoding'), 200, { data: { edition: 'community', tenant: principal.tenant, count: entries.length, entries } });
        },
      },
    ];
  }
}
