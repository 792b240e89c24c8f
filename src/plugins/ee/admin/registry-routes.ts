import { inject, injectable } from 'inversify';
import { RegistryEntries, type RouteContribution, type RouteDefinition } from '../../../core/index.js';

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
    return [this.registry.route('enterprise', (entry) => ({ ...entry, allowed: true }))];
  }
}
