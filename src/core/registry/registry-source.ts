import type { Principal } from '../ports/principal.js';

/**
 * One thing a caller can use through the engine, as listed by the registry endpoint
 * (`GET /api/v1/meta/mcp-registry`): a tool, or an operation reachable through a tool (such as an
 * API operation behind a generic "call" tool).
 */
export interface RegistryEntry {
  readonly kind: 'tool' | 'operation';
  readonly name: string;
  readonly title: string | null;
  readonly description: string;
  /** JSON Schema of the input. */
  readonly inputSchema: Record<string, unknown>;
  readonly permission: string | null;
  readonly annotations: Readonly<Record<string, unknown>>;
  /** The plugin that contributed it. */
  readonly plugin: string;
  /** Anything else worth showing (tags, the tool that reaches an operation…). */
  readonly extra?: Readonly<Record<string, unknown>>;
}

/**
 * A contribution of registry entries beyond the engine's tools. The registry endpoint of the
 * loaded edition asks every source, then applies the edition's policy to each entry's permission.
 */
export interface RegistrySource {
  entries(principal: Principal): Promise<readonly RegistryEntry[]> | readonly RegistryEntry[];
}

export const RegistrySource = Symbol.for('gatehouse.RegistrySource');
