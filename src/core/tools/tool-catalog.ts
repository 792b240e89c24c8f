import type { ToolDefinition } from './define-tool.js';

export interface ToolEntry {
  readonly tool: ToolDefinition;
  /** The plugin that contributed the tool. */
  readonly pluginId: string;
}

/** Every tool of the engine, in registration order. Built once at boot; read-only afterwards. */
export class ToolCatalog {
  private readonly byName: ReadonlyMap<string, ToolEntry>;

  constructor(readonly entries: readonly ToolEntry[]) {
    this.byName = new Map(entries.map((entry) => [entry.tool.name, entry]));
  }

  get(name: string): ToolEntry | undefined {
    return this.byName.get(name);
  }
}

export const ToolCatalogToken = Symbol.for('gatehouse.ToolCatalog');
