import type { PluginDefinition } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { enterpriseEdition } from '@gatehouse-mcp/engine/ee';

export type FleetEdition = 'community' | 'enterprise';

/** The edition plugin a fleet instance runs. */
export function editionPlugin(edition: FleetEdition): PluginDefinition {
  return edition === 'community' ? communityEdition() : enterpriseEdition();
}
