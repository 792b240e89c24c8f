/**
 * The API registry: a host's OpenAPI-described REST API as governed MCP tools, dispatched
 * in-process. See `docs/api-registry.md`.
 */
export { apiRegistry } from './api-registry.js';
export { principalOf, apiCallOf } from './api-dispatcher.js';
export { loadOpenApiDocument } from './openapi-loader.js';
export { InvalidApiDocumentError } from './api-document-error.js';
export type {
  ApiRegistryOptions,
  ApiDocumentOptions,
  ApiDocumentSource,
  ApiOverrides,
  ApiOperationOverride,
  ApiExample,
  ApiPlaybook,
  ApiDispatch,
  InProcessDispatch,
  HttpDispatch,
  ApiCallContext,
} from './api-registry-options.js';
export type { ApiOperation, ApiParameter, ApiRequestBody, ApiResponse, HttpMethod, ParameterLocation } from './api-operation.js';
