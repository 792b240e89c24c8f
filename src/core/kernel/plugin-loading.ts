import { ContainerModule, type Container, type ServiceIdentifier } from 'inversify';
import { Authenticator } from '../ports/authenticator.js';
import { Policy } from '../ports/policy.js';
import { AuditSink } from '../ports/audit-sink.js';
import { BootError, GatehouseError } from '../errors.js';
import { ToolCatalog, type ToolEntry } from '../tools/tool-catalog.js';
import { RouteContribution } from '../http/route.js';
import { RouteTable } from '../http/route-table.js';
import type { PluginDefinition } from './plugin.js';

/** The ports an edition must provide, each exactly once. */
export const GOVERNANCE_PORTS: readonly [symbol, string][] = [
  [Authenticator, 'Authenticator'],
  [Policy, 'Policy'],
  [AuditSink, 'AuditSink'],
];

export function checkPlugins(plugins: readonly PluginDefinition[]): void {
  const seen = new Set<string>();
  for (const plugin of plugins) {
    if (plugin?.kind !== 'gatehouse.plugin') throw new BootError('Every entry of "plugins" must be made with definePlugin() (or an edition factory such as communityEdition()).');
    if (seen.has(plugin.id)) throw new BootError(`Plugin "${plugin.id}" is registered twice.`);
    seen.add(plugin.id);
  }
}

export function buildCatalog(plugins: readonly PluginDefinition[]): ToolCatalog {
  const owners = new Map<string, string>();
  const entries: ToolEntry[] = [];
  for (const plugin of plugins) {
    for (const tool of plugin.tools ?? []) {
      const owner = owners.get(tool.name);
      if (owner !== undefined) {
        throw new BootError(
          owner === plugin.id
            ? `Tool "${tool.name}" is defined twice by plugin "${plugin.id}".`
            : `Tool "${tool.name}" is defined by both plugin "${owner}" and plugin "${plugin.id}"; tool names must be unique.`,
        );
      }
      owners.set(tool.name, plugin.id);
      entries.push({ tool, pluginId: plugin.id });
    }
  }
  return new ToolCatalog(entries);
}

/** Load each plugin's bindings, recording which plugin bound which governance port. */
export async function loadPlugins(container: Container, plugins: readonly PluginDefinition[]): Promise<void> {
  const bindersOf = new Map<symbol, string[]>(GOVERNANCE_PORTS.map(([token]) => [token, []]));
  for (const plugin of plugins) {
    if (!plugin.register) continue;
    const module = new ContainerModule((options) => {
      plugin.register!({
        bind: ((token: ServiceIdentifier) => {
          bindersOf.get(token as symbol)?.push(plugin.id);
          return options.bind(token);
        }) as typeof options.bind,
        isBound: options.isBound,
        onActivation: options.onActivation,
        onDeactivation: options.onDeactivation,
      });
    });
    try {
      await container.load(module);
    } catch (error) {
      throw new BootError(`Plugin "${plugin.id}" failed to register: ${(error as Error).message}`, { cause: error });
    }
  }
  for (const [token, name] of GOVERNANCE_PORTS) {
    const binders = bindersOf.get(token)!;
    if (binders.length === 0) {
      throw new BootError(`No plugin provides ${name}. Register exactly one edition plugin, e.g. communityEdition() or enterpriseEdition(…).`);
    }
    if (binders.length > 1) {
      throw new BootError(`${name} is provided by more than one plugin (${binders.map((id) => `"${id}"`).join(', ')}); exactly one edition plugin may provide it.`);
    }
  }
}

export function resolveAtBoot<T>(container: Container, token: ServiceIdentifier<T>, what: string): T {
  try {
    return container.get(token);
  } catch (error) {
    throw new BootError(`Cannot build ${what}: ${(error as Error).message}`, { cause: error });
  }
}


/** Every plugin's routes and every route contribution, in one table; a clash is a boot error. */
export function collectRoutes(container: Container, plugins: readonly PluginDefinition[]): RouteTable {
  const routes = new RouteTable();
  try {
    for (const plugin of plugins) for (const route of plugin.routes ?? []) routes.add(route, plugin.id);
    const contributions = container.isBound(RouteContribution) ? container.getAll<RouteContribution>(RouteContribution) : [];
    for (const contribution of contributions) for (const route of contribution.routes()) routes.add(route, contribution.constructor.name);
  } catch (error) {
    throw error instanceof GatehouseError ? new BootError(error.message, { cause: error }) : error;
  }
  return routes;
}
