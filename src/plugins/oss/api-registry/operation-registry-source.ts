import type { RegistryEntry, RegistrySource } from '../../../core/index.js';
import type { ApiCatalog } from './api-catalog.js';
import { operationAnnotations } from './meta-tools.js';

/**
 * Contributes every operation to the registry endpoint as an `operation` entry. The endpoint
 * applies the edition's policy to each entry (`{ kind: 'operation', name, permission }`, the same
 * target `call` authorizes), so callers see only the operations they may use.
 */
export class OperationRegistrySource implements RegistrySource {
  private cached: readonly RegistryEntry[] | undefined;

  constructor(
    private readonly catalog: ApiCatalog,
    private readonly pluginId: string,
    private readonly callTool: string,
  ) {}

  entries(): readonly RegistryEntry[] {
    return (this.cached ??= this.catalog.operations.map((operation) => ({
      kind: 'operation' as const,
      name: operation.id,
      title: operation.displayName,
      description: operation.description ?? operation.summary ?? operation.displayName,
      inputSchema: operation.inputSchema as Record<string, unknown>,
      permission: operation.permission,
      annotations: { ...operationAnnotations(operation) },
      plugin: this.pluginId,
      extra: {
        tool: this.callTool,
        method: operation.method,
        path: operation.path,
        tags: operation.tags,
        requiresApproval: operation.requiresApproval,
        document: operation.document,
      },
    })));
  }
}
