import { inject, injectable } from 'inversify';
import { McpDispatcher, json, type RouteContribution, type RouteDefinition } from '../../core/index.js';

/** `GET /api/v1/meta/mcp-registry`: the tools the caller may use, readable with any valid credential. */
@injectable()
export class RegistryRoutes implements RouteContribution {
  constructor(@inject(McpDispatcher) private readonly dispatcher: McpDispatcher) {}

  routes(): RouteDefinition[] {
    return [
      {
        method: 'GET',
        path: '/api/v1/meta/mcp-registry',
        handler: async (req) => {
          const principal = await req.authenticate();
          const tools = (await this.dispatcher.visibleTools(principal)).map(({ tool, pluginId }) => ({
            name: tool.name,
            title: tool.title ?? null,
            description: tool.description,
            inputSchema: tool.inputJsonSchema,
            permission: tool.permission ?? null,
            annotations: tool.annotations ?? {},
            plugin: pluginId,
          }));
          return json(200, { data: { edition: 'community', tenant: principal.tenant, count: tools.length, tools } });
        },
      },
    ];
  }
}
