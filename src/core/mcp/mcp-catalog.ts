import { BootError } from '../errors.js';
import type { PluginDefinition } from '../kernel/plugin.js';
import type { ResourceDefinition } from '../resources/define-resource.js';
import type { PromptDefinition } from '../prompts/define-prompt.js';

export interface ResourceEntry {
  readonly resource: ResourceDefinition;
  readonly pluginId: string;
}

export interface PromptEntry {
  readonly prompt: PromptDefinition;
  readonly pluginId: string;
}

/** Every resource, resource template and prompt of the engine. Built once at boot; read-only afterwards. */
export class McpCatalog {
  readonly fixed: readonly ResourceEntry[];
  readonly templates: readonly ResourceEntry[];
  private readonly byUri: ReadonlyMap<string, ResourceEntry>;
  private readonly resourcesByName: ReadonlyMap<string, ResourceEntry>;
  private readonly promptsByName: ReadonlyMap<string, PromptEntry>;

  constructor(
    readonly resources: readonly ResourceEntry[],
    readonly prompts: readonly PromptEntry[],
  ) {
    this.fixed = resources.filter((entry) => entry.resource.uri !== undefined);
    this.templates = resources.filter((entry) => entry.resource.uriTemplate !== undefined);
    this.byUri = new Map(this.fixed.map((entry) => [entry.resource.uri!, entry]));
    this.resourcesByName = new Map(resources.map((entry) => [entry.resource.name, entry]));
    this.promptsByName = new Map(prompts.map((entry) => [entry.prompt.name, entry]));
  }

  /** The resource serving `uri`: a fixed resource first, else the first template that matches. */
  resolve(uri: string): { entry: ResourceEntry; params: Record<string, string> } | undefined {
    const fixed = this.byUri.get(uri);
    if (fixed) return { entry: fixed, params: {} };
    for (const entry of this.templates) {
      const params = entry.resource.match(uri);
      if (params) return { entry, params };
    }
    return undefined;
  }

  template(uriTemplate: string): ResourceEntry | undefined {
    return this.templates.find((entry) => entry.resource.uriTemplate === uriTemplate);
  }

  resourceNamed(name: string): ResourceEntry | undefined {
    return this.resourcesByName.get(name);
  }

  prompt(name: string): PromptEntry | undefined {
    return this.promptsByName.get(name);
  }

  static fromPlugins(plugins: readonly PluginDefinition[]): McpCatalog {
    const resources: ResourceEntry[] = [];
    const prompts: PromptEntry[] = [];
    const names = new Map<string, string>();
    const uris = new Map<string, string>();
    const promptNames = new Map<string, string>();
    const claim = (map: Map<string, string>, key: string, pluginId: string, what: string): void => {
      const owner = map.get(key);
      if (owner !== undefined) {
        throw new BootError(owner === pluginId ? `${what} is defined twice by plugin "${pluginId}".` : `${what} is defined by both plugin "${owner}" and plugin "${pluginId}".`);
      }
      map.set(key, pluginId);
    };
    for (const plugin of plugins) {
      for (const resource of plugin.resources ?? []) {
        claim(names, resource.name, plugin.id, `Resource "${resource.name}"`);
        const uri = resource.uri ?? resource.uriTemplate!;
        claim(uris, uri, plugin.id, `Resource URI "${uri}"`);
        resources.push({ resource, pluginId: plugin.id });
      }
      for (const prompt of plugin.prompts ?? []) {
        claim(promptNames, prompt.name, plugin.id, `Prompt "${prompt.name}"`);
        prompts.push({ prompt, pluginId: plugin.id });
      }
    }
    return new McpCatalog(resources, prompts);
  }
}

export const McpCatalogToken = Symbol.for('gatehouse.McpCatalog');
