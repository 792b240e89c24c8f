import { inject, injectable } from 'inversify';
import { RegistryEntries, json, type RouteContribution, type RouteDefinition } from '../../core/index.js';

/**
 * `GET /api/v1/meta/mcp-registry`: what the caller may use (tools and registry operations),
 * readable with any valid credential of the tenant.
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
          return json(200, { data: { edition: 'community', tenant: principal.tenant, count: entries.length, entries } });
        },
      },
    ];
  }
}
