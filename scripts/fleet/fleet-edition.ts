import type { PluginDefinition } from '@gatehouse-mcp/engine';

export type FleetEdition = 'community' | 'enterprise';

// A variable specifier keeps the Community Edition path free of the Enterprise plugin.
const EE_MODULE = '@gatehouse-mcp/engine/ee';

/** The edition plugin a fleet instance runs; the Enterprise plugin is loaded only when asked for. */
export async function editionPlugin(edition: FleetEdition): Promise<PluginDefinition> {
  if (edition === 'community') {
    const { communityEdition } = await import('@gatehouse-mcp/engine/oss');
    return communityEdition();
  }
  const { enterpriseEdition } = (await import(EE_MODULE)) as { enterpriseEdition(): PluginDefinition };
  return enterpriseEdition();
}
