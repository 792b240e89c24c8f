import { inject, injectable, optional, multiInject } from 'inversify';
import type { Principal } from '../ports/principal.js';
import { Policy, type PolicyDecision } from '../ports/policy.js';
import { ToolCatalog, ToolCatalogToken } from '../tools/tool-catalog.js';
import { RegistrySource, type RegistryEntry } from './registry-source.js';

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
}
