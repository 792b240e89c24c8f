import { inject, injectable } from 'inversify';
import { RegistryEntries, json, type RouteContribution, type RouteDefinition } from '../../../core/index.js';

/**
 * `GET /api/v1/meta/mcp-registry` in the Enterprise Edition: every tool and registry operation,
 * each with the permission it needs and whether the caller holds it (and, when not, why).
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
          const entries = (await this.registry.list(principal)).map(({ entry, decision }) => ({
            ...entry,
            permission: entry.permission,
            allowed: decision.allow,
            ...(decision.allow ? {} : { reason: decision.reason }),
          }));
          return json(200, {
            data: {
              edition: 'enterprise',
              tenant: principal.tenant,
              count: entries.length,
              allowedCount: entries.filter((entry) => entry.allowed).length,
              entries,
            },
          });
        },
      },
    ];
  }
}
