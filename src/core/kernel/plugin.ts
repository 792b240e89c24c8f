import type { ContainerModuleLoadOptions } from 'inversify';
import type { RouteDefinition } from '../http/route.js';
import type { ToolDefinition } from '../tools/define-tool.js';
import type { ResourceDefinition } from '../resources/define-resource.js';
import type { PromptDefinition } from '../prompts/define-prompt.js';
import { ConfigError } from '../errors.js';

/** What an edition plugin may do with the container while it registers. */
export type PluginBinder = Pick<ContainerModuleLoadOptions, 'bind' | 'isBound' | 'onActivation' | 'onDeactivation'>;

export interface PluginSpec {
  /** Unique among the engine's plugins: `^[a-z0-9][a-z0-9-]*$`. Names the plugin in errors. */
  readonly id: string;
  readonly tools?: readonly ToolDefinition[];
  /** Resources and resource templates, made with `defineResource`. */
  readonly resources?: readonly ResourceDefinition[];
  /** Prompts, made with `definePrompt`. */
  readonly prompts?: readonly PromptDefinition[];
  readonly routes?: readonly RouteDefinition[];
  /** A directory of knex migrations (path or `file:` URL), applied with the plugin's own migration table. */
  readonly migrations?: string | URL;
  /**
   * Container bindings, for edition plugins and plugins with injected services. Plugin authors who
   * only contribute tools never need this.
   */
  readonly register?: (binder: PluginBinder) => void;
}

export interface PluginDefinition extends PluginSpec {
  readonly kind: 'gatehouse.plugin';
}

const PLUGIN_ID = /^[a-z0-9][a-z0-9-]{0,40}$/;

/**
 * Declare a plugin: an id plus what it contributes.
 *
 * ```ts
 * export const ticketsPlugin = () => definePlugin({ id: 'tickets', tools: [getTicket, createTicket] });
 * ```
 */
export function definePlugin(spec: PluginSpec): PluginDefinition {
  if (!PLUGIN_ID.test(spec.id)) {
    throw new ConfigError(`Plugin id "${spec.id}" is invalid: use lowercase letters, digits and hyphens.`);
  }
  for (const tool of spec.tools ?? []) {
    if (tool?.kind !== 'gatehouse.tool') {
      throw new ConfigError(`Plugin "${spec.id}" lists a tool that was not made with defineTool().`);
    }
  }
  for (const resource of spec.resources ?? []) {
    if (resource?.kind !== 'gatehouse.resource') throw new ConfigError(`Plugin "${spec.id}" lists a resource that was not made with defineResource().`);
  }
  for (const prompt of spec.prompts ?? []) {
    if (prompt?.kind !== 'gatehouse.prompt') throw new ConfigError(`Plugin "${spec.id}" lists a prompt that was not made with definePrompt().`);
  }
  return Object.freeze({ ...spec, kind: 'gatehouse.plugin' as const });
}
