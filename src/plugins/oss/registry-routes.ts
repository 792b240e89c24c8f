import { inject, injectable } from 'inversify';
import { RegistryEntries, type RouteContribution, type RouteDefinition } from '../../core/index.js';

/**
 * `GET /api/v1/meta/mcp-registry`: what the caller may use (tools and registry operations),
 * readable with any valid credential of the tenant.
 */
@injectable()
export class RegistryRoutes implements RouteContribution {
  constructor(@inject(RegistryEntries) private readonly registry: RegistryEntries) {}

  routes(): RouteDefinition[] {
    return [this.registry.route('community')];
  }
}
