import type { RouteDefinition } from './route.js';
import { ConfigError } from '../errors.js';

interface CompiledRoute {
  readonly route: RouteDefinition;
  readonly pattern: RegExp;
  readonly names: readonly string[];
  readonly owner: string;
}

export type RouteMatch =
  | { readonly kind: 'found'; readonly route: RouteDefinition; readonly params: Record<string, string> }
  | { readonly kind: 'wrong-method'; readonly allow: readonly string[] }
  | { readonly kind: 'none' };

const SEGMENT = /^(?::[A-Za-z_][A-Za-z0-9_]*|[A-Za-z0-9._~-]+)$/;

/** Contributed routes, compiled once. Two plugins claiming the same method and path is a boot error. */
export class RouteTable {
  private readonly compiled: CompiledRoute[] = [];

  add(route: RouteDefinition, owner: string): void {
    if (!route.path.startsWith('/')) throw new ConfigError(`Route path "${route.path}" of plugin "${owner}" must start with "/".`);
    const names: string[] = [];
    const segments = route.path.split('/').slice(1);
    for (const segment of segments) {
      if (!SEGMENT.test(segment)) throw new ConfigError(`Route path "${route.path}" of plugin "${owner}" has an invalid segment "${segment}".`);
      if (segment.startsWith(':')) names.push(segment.slice(1));
    }
    const source = segments.map((segment) => (segment.startsWith(':') ? '([^/]+)' : segment.replace(/[.]/g, '\\.'))).join('/');
    const pattern = new RegExp(`^/${source}/?$`);
    const clash = this.compiled.find((other) => other.route.method === route.method && other.pattern.source === pattern.source);
    if (clash) {
      throw new ConfigError(`Route ${route.method} ${route.path} is contributed by both plugin "${clash.owner}" and plugin "${owner}".`);
    }
    this.compiled.push({ route, pattern, names, owner });
  }

  match(method: string, path: string): RouteMatch {
    const allow: string[] = [];
    for (const { route, pattern, names } of this.compiled) {
      const found = pattern.exec(path);
      if (!found) continue;
      if (route.method !== method && !(method === 'HEAD' && route.method === 'GET')) {
        allow.push(route.method);
        continue;
      }
      const params: Record<string, string> = {};
      names.forEach((name, index) => {
        params[name] = decodeURIComponent(found[index + 1]!);
      });
      return { kind: 'found', route, params };
    }
    return allow.length ? { kind: 'wrong-method', allow } : { kind: 'none' };
  }
}

export const RouteTableToken = Symbol.for('gatehouse.RouteTable');
