import { inject, injectable, optional, multiInject } from 'inversify';
import type { Principal } from '../ports/principal.js';
import { Policy, mayAttempt, type PolicyDecision } from '../ports/policy.js';
import { ToolCatalog, ToolCatalogToken } from '../tools/tool-catalog.js';
import { RegistrySource, type RegistryEntry } from './registry-source.js';
import { negotiatedJson } from '../http/negotiated-json.js';
import type { RouteDefinition } from '../http/route.js';

export interface RegistryListing {
  readonly entry: RegistryEntry;
  readonly decision: PolicyDecision;
}

/**
 * Everything the registry endpoint can list: the engine's tools plus every {@link RegistrySource},
 * each with the policy's decision for the caller. Editions decide what to show.
 */
@injectable()
export class RegistryEntries {
  constructor(
    @inject(ToolCatalogToken) private readonly catalog: ToolCatalog,
    @inject(Policy) private readonly policy: Policy,
    @multiInject(RegistrySource) @optional() private readonly sources: readonly RegistrySource[] = [],
  ) {}

  async list(principal: Principal): Promise<RegistryListing[]> {
    const entries: RegistryEntry[] = this.catalog.entries.map(({ tool, pluginId }) => ({
      kind: 'tool',
      name: tool.name,
      title: tool.title ?? null,
      description: tool.description,
      inputSchema: tool.inputJsonSchema,
      permission: tool.permission ?? null,
      annotations: { ...tool.annotations },
      plugin: pluginId,
    }));
    for (const source of this.sources ?? []) entries.push(...(await source.entries(principal)));
    const listed: RegistryListing[] = [];
    for (const entry of entries) {
      const decision = await this.policy.decide(principal, { kind: entry.kind, name: entry.name, permission: entry.permission ?? undefined });
      listed.push({ entry, decision });
    }
    return listed;
  }

  /**
   * The registry endpoint, `GET /api/v1/meta/mcp-registry`, for an edition to contribute: what the
   * caller may use — the same decision as `tools/list` — as `{ data: { edition, tenant, count,
   * entries } }`, gzip-compressed when the client accepts it. `present` shapes each entry.
   */
  route(edition: string, present: (entry: RegistryEntry) => object = (entry) => entry): RouteDefinition {
    return {
      method: 'GET',
      path: '/api/v1/meta/mcp-registry',
      handler: async (req) => {
        const principal = await req.authenticate();
        const entries = (await this.list(principal)).filter(({ decision }) => mayAttempt(decision)).map(({ entry }) => present(entry));
        return negotiatedJson(req.header('accept-encoding'), 200, { data: { edition, tenant: principal.tenant, count: entries.length, entries } });
      },
    };
  }
}
