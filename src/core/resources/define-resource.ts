import { ConfigError } from '../errors.js';
import type { HandlerContext } from '../mcp/handler-context.js';

/** One content item of a resource: text or base64 binary. `uri` defaults to the URI that was read. */
export type ResourceContent =
  | { readonly uri?: string; readonly mimeType?: string; readonly text: string; readonly _meta?: Record<string, unknown> }
  | { readonly uri?: string; readonly mimeType?: string; readonly blob: string; readonly _meta?: Record<string, unknown> };

/**
 * What a resource handler returns: a string (one text item with the resource's `mimeType`), bytes
 * (one base64 `blob` item), one content item, or several.
 */
export type ResourceReturn = string | Uint8Array | ResourceContent | readonly ResourceContent[];

/** A handler may return `undefined` for "no such resource" (a template whose target does not exist). */
export type ResourceHandlerReturn = ResourceReturn | undefined;

/** The context of a resource read: the common handler context plus the URI being read. */
export interface ResourceContext extends HandlerContext {
  readonly uri: string;
}

/** Suggests values for one argument (a URI template variable or prompt argument) from what was typed so far. */
export type ArgumentCompleter = (
  value: string,
  context: { readonly arguments: Readonly<Record<string, string>>; readonly principal: HandlerContext['principal'] },
) => readonly string[] | Promise<readonly string[]>;

interface ResourceSpecBase {
  /** Unique across all plugins' resources; the policy sees it as the target name (kind `resource`). */
  readonly name: string;
  readonly title?: string;
  readonly description?: string;
  readonly mimeType?: string;
  /** The permission a caller needs; enforced by the loaded edition's policy, like a tool's. */
  readonly permission?: string;
  readonly annotations?: { readonly audience?: readonly ('user' | 'assistant')[]; readonly priority?: number; readonly lastModified?: string };
}

export interface FixedResourceSpec extends ResourceSpecBase {
  /** The resource's URI, e.g. `tickets://open`. */
  readonly uri: string;
  readonly uriTemplate?: undefined;
  /** Size in bytes, when known up front (shown in `resources/list`). */
  readonly size?: number;
  handler(params: Readonly<Record<string, string>>, ctx: ResourceContext): Promise<ResourceHandlerReturn> | ResourceHandlerReturn;
}

export interface TemplateResourceSpec extends ResourceSpecBase {
  readonly uri?: undefined;
  /**
   * An RFC 6570 level-1 URI template, e.g. `tickets://ticket/{id}`. Each `{name}` matches one
   * non-empty segment without `/`; the handler receives the decoded values.
   */
  readonly uriTemplate: string;
  /** Completion of template variables (`completion/complete` with `ref/resource`). */
  readonly complete?: Readonly<Record<string, ArgumentCompleter>>;
  handler(params: Readonly<Record<string, string>>, ctx: ResourceContext): Promise<ResourceHandlerReturn> | ResourceHandlerReturn;
}

export type ResourceSpec = FixedResourceSpec | TemplateResourceSpec;

/** A resource as the engine holds it. */
export type ResourceDefinition = ResourceSpec & {
  readonly kind: 'gatehouse.resource';
  /** For templates: matches a concrete URI, returning the variables, or undefined. */
  match(uri: string): Record<string, string> | undefined;
  readonly variables: readonly string[];
};

const RESOURCE_NAME = /^[A-Za-z0-9._:/-]{1,128}$/;
const URI = /^[A-Za-z][A-Za-z0-9+.-]*:\S*$/;
const VARIABLE = /\{([A-Za-z0-9_]+)\}/g;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function compileTemplate(template: string): { regex: RegExp; variables: string[] } {
  const variables: string[] = [];
  let pattern = '';
  let last = 0;
  for (const match of template.matchAll(VARIABLE)) {
    pattern += escapeRegExp(template.slice(last, match.index));
    pattern += '([^/?#]+)';
    variables.push(match[1]!);
    last = match.index! + match[0].length;
  }
  pattern += escapeRegExp(template.slice(last));
  if (/[{}]/.test(template.slice(last)) || variables.length === 0) {
    throw new ConfigError(`Resource template "${template}" must contain {name} variables and no other braces.`);
  }
  if (new Set(variables).size !== variables.length) throw new ConfigError(`Resource template "${template}" repeats a variable.`);
  return { regex: new RegExp(`^${pattern}$`), variables };
}

/**
 * Declare a resource (fixed `uri`) or a resource template (`uriTemplate`). Plain data plus a
 * handler, like {@link defineTool}:
 *
 * ```ts
 * export const ticketResource = defineResource({
 *   name: 'ticket',
 *   uriTemplate: 'tickets://ticket/{id}',
 *   mimeType: 'application/json',
 *   permission: 'tickets:read',
 *   async handler({ id }, ctx) { return JSON.stringify(await ctx.db.table('tickets').where({ id }).first()); },
 * });
 * ```
 */
export function defineResource(spec: ResourceSpec): ResourceDefinition {
  if (!RESOURCE_NAME.test(spec.name)) throw new ConfigError(`Resource name "${spec.name}" is invalid.`);
  if (typeof spec.handler !== 'function') throw new ConfigError(`Resource "${spec.name}": handler must be a function.`);
  if ((spec.uri === undefined) === (spec.uriTemplate === undefined)) {
    throw new ConfigError(`Resource "${spec.name}" needs exactly one of "uri" and "uriTemplate".`);
  }
  if (spec.uri !== undefined) {
    if (!URI.test(spec.uri)) throw new ConfigError(`Resource "${spec.name}": "${spec.uri}" is not a URI.`);
    const uri = spec.uri;
    return Object.freeze({ ...spec, kind: 'gatehouse.resource' as const, variables: [], match: (candidate: string) => (candidate === uri ? {} : undefined) });
  }
  const { regex, variables } = compileTemplate(spec.uriTemplate);
  for (const name of Object.keys(spec.complete ?? {})) {
    if (!variables.includes(name)) throw new ConfigError(`Resource "${spec.name}" completes "${name}", which is not a variable of its template.`);
  }
  return Object.freeze({
    ...spec,
    kind: 'gatehouse.resource' as const,
    variables,
    match(candidate: string) {
      const found = regex.exec(candidate);
      if (!found) return undefined;
      const params: Record<string, string> = {};
      try {
        variables.forEach((name, index) => (params[name] = decodeURIComponent(found[index + 1]!)));
      } catch {
        return undefined;
      }
      return params;
    },
  });
}
