import { ConfigError, LifecycleContribution, RegistrySource, definePlugin, type PluginDefinition } from '../../../core/index.js';
import { ApiCatalog } from './api-catalog.js';
import { ApiDispatcher } from './api-dispatcher.js';
import { directTools, metaTools } from './meta-tools.js';
import { isSynchronousSource } from './openapi-loader.js';
import { OperationRegistrySource } from './operation-registry-source.js';
import type { ApiRegistryOptions } from './api-registry-options.js';

const DEFAULT_MAX_RESPONSE_BYTES = 256 * 1024;

function checkOptions(options: ApiRegistryOptions, id: string): void {
  if (!Array.isArray(options.documents) || options.documents.length === 0) {
    throw new ConfigError(`apiRegistry "${id}": "documents" must list at least one OpenAPI document.`);
  }
  const dispatch = options.dispatch as unknown as Partial<Record<string, unknown>> | undefined;
  if (!dispatch || (typeof dispatch.handler !== 'function' && typeof dispatch.baseUrl !== 'string')) {
    throw new ConfigError(`apiRegistry "${id}": "dispatch" needs a "handler" (in-process) or a "baseUrl" with a "serviceCredential" (HTTP).`);
  }
  if (typeof dispatch.baseUrl === 'string') {
    let url: URL;
    try {
      url = new URL(dispatch.baseUrl);
    } catch {
      throw new ConfigError(`apiRegistry "${id}": dispatch.baseUrl "${dispatch.baseUrl}" is not a URL.`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(`apiRegistry "${id}": dispatch.baseUrl must be http(s).`);
    const credential = dispatch.serviceCredential as unknown;
    const valid = typeof credential === 'string' ? credential.length > 0 : typeof credential === 'object' && credential !== null && 'header' in credential && 'value' in credential;
    if (!valid) throw new ConfigError(`apiRegistry "${id}": HTTP dispatch needs the host's "serviceCredential".`);
  }
  const max = options.maxResponseBytes;
  if (max !== undefined && (!Number.isInteger(max) || max <= 0)) throw new ConfigError(`apiRegistry "${id}": maxResponseBytes must be a positive integer.`);
}

/**
 * Expose a host's REST API, described by OpenAPI 3.0/3.1 documents, as governed MCP tools: a
 * small constant set of meta-tools — `<id>.search`, `<id>.describe`, `<id>.call` — instead of one
 * tool per endpoint (optionally those too, for small APIs). Each call is authorized against the
 * operation's own permission and audited under its operation id; the registry endpoint lists the
 * operations the caller may use. Calls go to the host's own `Request → Response` handler
 * in-process, or to its API over HTTP with the host's service credential.
 *
 * ```ts
 * apiRegistry({
 *   documents: [{ source: 'openapi.yaml', overrides: 'openapi.overrides.yaml' }],
 *   dispatch: { handler: (request) => app.fetch(request) },
 * });
 * ```
 *
 * Invalid documents or overrides throw {@link InvalidApiDocumentError} naming the document and the
 * JSON pointer of the problem: here for local documents, while the engine boots for remote ones.
 */
export function apiRegistry(options: ApiRegistryOptions): PluginDefinition {
  const id = options.id ?? 'api';
  checkOptions(options, id);
  const catalog = new ApiCatalog(options.documents);
  const remote = options.documents.some((d) => !isSynchronousSource(d.source));
  if (!remote) catalog.loadSync();
  const dispatcher = new ApiDispatcher(options.dispatch, options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES);
  const toolOptions = { prefix: id, catalog, dispatcher, permission: options.toolPermission ?? `${id}:use` };
  const tools = metaTools(toolOptions);

  if (options.directTools) {
    if (remote) {
      throw new ConfigError(
        `apiRegistry "${id}": direct tools need every document when the plugin is declared; fetch remote documents first with loadOpenApiDocument(url) and pass the object.`,
      );
    }
    const max = typeof options.directTools === 'object' ? options.directTools.max : Infinity;
    if (catalog.operations.length > max) {
      throw new ConfigError(`apiRegistry "${id}": ${catalog.operations.length} operations exceed directTools.max (${max}); use the meta-tools, or hide operations in the overrides.`);
    }
    tools.push(...directTools(toolOptions));
  }

  return definePlugin({
    id,
    tools,
    register({ bind }) {
      bind(RegistrySource).toConstantValue(new OperationRegistrySource(catalog, id, `${id}.call`));
      if (remote) bind(LifecycleContribution).toConstantValue({ start: () => catalog.load() });
    },
  });
}
