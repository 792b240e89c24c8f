import { pointerToken } from './api-document-error.js';
import { schemaProblem } from './argument-validator.js';
import { DocumentRefs, SchemaInliner, isObject, type Json, type JsonObject } from './schema-inliner.js';
import type { ApiOperation, ApiParameter, ApiRequestBody, ApiResponse, HttpMethod, ParameterLocation } from './api-operation.js';
import type { ApiExample, ApiOperationOverride, ApiOverrides } from './api-registry-options.js';
import type { LoadedDocument } from './openapi-loader.js';

const METHODS: readonly HttpMethod[] = ['GET', 'PUT', 'POST', 'DELETE', 'OPTIONS', 'HEAD', 'PATCH', 'TRACE'];
const LOCATIONS: readonly ParameterLocation[] = ['path', 'query', 'header', 'cookie'];
/** OpenAPI: header parameters with these names "SHALL be ignored". */
const IGNORED_HEADERS = new Set(['accept', 'content-type', 'authorization']);
const ACTIONS: Record<HttpMethod, string> = {
  GET: 'read', HEAD: 'read', OPTIONS: 'read', TRACE: 'read', POST: 'write', PUT: 'write', PATCH: 'write', DELETE: 'delete',
};
const EXTENSION = {
  permission: 'x-gatehouse-permission',
  requiresApproval: 'x-gatehouse-requires-approval',
  approvalRequired: 'x-approval-required',
  approvers: 'x-gatehouse-approvers',
  displayName: 'x-gatehouse-display-name',
  keywords: 'x-gatehouse-keywords',
} as const;

/** `Support Tickets` → `support-tickets`. */
function slug(text: string): string {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1-$2')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

function staticSegments(path: string): string[] {
  return path.split('/').filter((segment) => segment && !segment.includes('{'));
}

/** `GET /tickets/{id}/comments` → `get_tickets_by_id_comments`. */
export function derivedOperationId(method: HttpMethod, path: string): string {
  const parts = path
    .split('/')
    .filter(Boolean)
    .map((segment) => (segment.startsWith('{') && segment.endsWith('}') ? `by_${segment.slice(1, -1)}` : segment))
    .map((segment) => segment.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, ''))
    .filter(Boolean);
  return [method.toLowerCase(), ...parts].join('_');
}

/** `tickets:read` from the first tag (or the first path segment that is not a version) and the method. */
export function derivedPermission(method: HttpMethod, path: string, tags: readonly string[]): string {
  const segment = staticSegments(path).find((s) => !/^v\d+(\.\d+)*$/i.test(s) && s.toLowerCase() !== 'api');
  const resource = (tags[0] && slug(tags[0])) || (segment && slug(segment)) || 'api';
  return `${resource}:${ACTIONS[method]}`;
}

function humanise(id: string): string {
  const words = id.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_.-]+/g, ' ').trim().toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() ? value.trim() : undefined;
}

/** Prefer JSON: `application/json`, then any `…+json`/`…/json`, then the first declared type. */
function pickMediaType(content: Record<string, unknown>): string | undefined {
  const types = Object.keys(content);
  return (
    types.find((t) => t.toLowerCase().split(';')[0]!.trim() === 'application/json') ??
    types.find((t) => /[/+]json\b/i.test(t)) ??
    types[0]
  );
}

interface Context {
  readonly refs: DocumentRefs;
  readonly openapi30: boolean;
}

function checkSchema(ctx: Context, schema: Json, pointer: string): void {
  const problem = schemaProblem(schema);
  if (problem) ctx.refs.fail(`${pointer}${problem.at}`, `invalid schema: ${problem.message}`);
}

const newInliner = (ctx: Context): SchemaInliner => new SchemaInliner(ctx.refs, ctx.openapi30, (schema, pointer) => checkSchema(ctx, schema, pointer));

function checkedSchema(ctx: Context, inliner: SchemaInliner, schema: unknown, pointer: string): Json {
  const inlined = inliner.inline(schema, pointer);
  checkSchema(ctx, inlined, pointer);
  return inlined;
}

function readParameter(ctx: Context, inliner: SchemaInliner, raw: unknown, pointer: string): ApiParameter {
  const { value, pointer: at } = ctx.refs.follow(raw, pointer, 'a parameter');
  const name = text(value.name);
  if (!name) ctx.refs.fail(at, 'a parameter needs a "name"');
  const location = value.in as ParameterLocation;
  if (!LOCATIONS.includes(location)) ctx.refs.fail(`${at}/in`, `parameter "${name}" has "in": ${JSON.stringify(value.in)}; expected one of ${LOCATIONS.join(', ')}`);
  if (location === 'path' && value.required !== true) ctx.refs.fail(`${at}/required`, `path parameter "${name}" must have "required": true`);
  let schema: Json;
  if (value.schema !== undefined) {
    schema = checkedSchema(ctx, inliner, value.schema, `${at}/schema`);
  } else if (isObject(value.content) && Object.keys(value.content).length === 1) {
    const [type, media] = Object.entries(value.content)[0]!;
    schema = isObject(media) && media.schema !== undefined ? checkedSchema(ctx, inliner, media.schema, `${at}/content/${pointerToken(type)}/schema`) : {};
  } else {
    ctx.refs.fail(at, `parameter "${name}" needs a "schema" (or a "content" with exactly one media type)`);
  }
  const style = text(value.style) ?? (location === 'query' || location === 'cookie' ? 'form' : 'simple');
  return {
    name,
    in: location,
    required: value.required === true,
    description: text(value.description),
    schema,
    style,
    explode: typeof value.explode === 'boolean' ? value.explode : style === 'form',
    deprecated: value.deprecated === true,
  };
}

function readRequestBody(ctx: Context, inliner: SchemaInliner, raw: unknown, pointer: string): { body: ApiRequestBody; examples: ApiExample[] } {
  const { value, pointer: at } = ctx.refs.follow(raw, pointer, 'a request body');
  if (!isObject(value.content) || Object.keys(value.content).length === 0) ctx.refs.fail(`${at}/content`, 'a request body needs a non-empty "content"');
  const contentType = pickMediaType(value.content)!;
  const mediaAt = `${at}/content/${pointerToken(contentType)}`;
  const media = value.content[contentType];
  if (!isObject(media)) ctx.refs.fail(mediaAt, 'a media type must be an object');
  const schema = media.schema === undefined ? undefined : checkedSchema(ctx, inliner, media.schema, `${mediaAt}/schema`);
  const examples: ApiExample[] = [];
  if (media.example !== undefined) examples.push({ title: 'Example request', arguments: { body: structuredClone(media.example) } });
  if (isObject(media.examples)) {
    for (const [name, entry] of Object.entries(media.examples)) {
      const { value: example } = ctx.refs.follow(entry, `${mediaAt}/examples/${pointerToken(name)}`, 'an example');
      if (example.value !== undefined) {
        examples.push({ title: text(example.summary) ?? name, description: text(example.description), arguments: { body: structuredClone(example.value) } });
      }
    }
  }
  return { body: { required: value.required === true, contentType, description: text(value.description), schema }, examples };
}

function readResponses(ctx: Context, raw: unknown, pointer: string): ApiResponse[] {
  if (raw === undefined) {
    if (ctx.openapi30) ctx.refs.fail(pointer, 'an operation needs "responses"');
    return [];
  }
  if (!isObject(raw)) ctx.refs.fail(pointer, '"responses" must be an object');
  const responses: ApiResponse[] = [];
  for (const [status, entry] of Object.entries(raw)) {
    const entryAt = `${pointer}/${pointerToken(status)}`;
    if (!/^([1-5](\d\d|XX)|default)$/.test(status)) {
      if (status.startsWith('x-')) continue;
      ctx.refs.fail(entryAt, `"${status}" is not a response status code`);
    }
    const { value, pointer: at } = ctx.refs.follow(entry, entryAt, 'a response');
    let contentType: string | undefined;
    let schema: Json | undefined;
    if (isObject(value.content) && Object.keys(value.content).length) {
      contentType = pickMediaType(value.content)!;
      const media = value.content[contentType];
      if (isObject(media) && media.schema !== undefined) {
        const inliner = newInliner(ctx);
        schema = inliner.finish(checkedSchema(ctx, inliner, media.schema, `${at}/content/${pointerToken(contentType)}/schema`));
      }
    }
    responses.push({ status, description: text(value.description), contentType, schema });
  }
  return responses;
}

function objectSchema(parameters: readonly ApiParameter[]): JsonObject {
  const properties: JsonObject = {};
  for (const p of parameters) {
    const schema = p.schema;
    properties[p.name] = p.description && isObject(schema) && !schema.description ? { ...schema, description: p.description } : schema;
  }
  const required = parameters.filter((p) => p.required).map((p) => p.name);
  return { type: 'object', properties, ...(required.length ? { required } : {}), additionalProperties: false };
}

function inputSchemaOf(parameters: readonly ApiParameter[], body: ApiRequestBody | undefined): JsonObject {
  const properties: JsonObject = {};
  const required: string[] = [];
  const groups: [string, ParameterLocation][] = [['path', 'path'], ['query', 'query'], ['headers', 'header'], ['cookies', 'cookie']];
  for (const [key, location] of groups) {
    const group = parameters.filter((p) => p.in === location);
    if (!group.length) continue;
    properties[key] = objectSchema(group);
    if (group.some((p) => p.required)) required.push(key);
  }
  if (body) {
    const schema = body.schema ?? {};
    properties.body = body.description && isObject(schema) && !schema.description ? { ...schema, description: body.description } : schema;
    if (body.required) required.push('body');
  }
  return { type: 'object', properties, ...(required.length ? { required } : {}), additionalProperties: false };
}

function serverBase(ctx: Context, servers: unknown, pointer: string): string | undefined {
  if (servers === undefined) return undefined;
  if (!Array.isArray(servers)) ctx.refs.fail(pointer, '"servers" must be an array');
  const first = servers[0];
  if (!isObject(first)) return undefined;
  const url = text(first.url);
  if (url === undefined) ctx.refs.fail(`${pointer}/0/url`, 'a server needs a "url"');
  const variables = isObject(first.variables) ? first.variables : {};
  return url.replace(/\{([^}]+)\}/g, (_match, name: string) => {
    const variable = variables[name];
    const fallback = isObject(variable) ? variable.default : undefined;
    if (typeof fallback !== 'string') ctx.refs.fail(`${pointer}/0/variables`, `server variable "${name}" needs a string "default"`);
    return fallback;
  });
}

/** Every operation of one document, with its overrides applied. */
export function buildOperations(document: LoadedDocument, overrides: { label: string; content: ApiOverrides } | undefined, baseUrlOption: string | undefined): ApiOperation[] {
  const root = document.content;
  const refs: DocumentRefs = new DocumentRefs(document.label, root);
  const version = root.openapi;
  if (typeof version !== 'string' || !/^3\.[01]\.\d+/.test(version)) {
    refs.fail('#/openapi', `"openapi" must be a 3.0.x or 3.1.x version string (got ${JSON.stringify(version)})`);
  }
  const ctx: Context = { refs, openapi30: version.startsWith('3.0') };
  if (!isObject(root.info)) refs.fail('#/info', 'the document needs an "info" object');
  const paths = root.paths ?? {};
  if (!isObject(paths)) refs.fail('#/paths', '"paths" must be an object');
  if (root.paths === undefined && ctx.openapi30) refs.fail('#/paths', 'an OpenAPI 3.0 document needs "paths"');
  const documentBase = serverBase(ctx, root.servers, '#/servers');
  const curated = overrides?.content.operations ?? {};
  const used = new Set<string>();
  const operations: ApiOperation[] = [];

  for (const [path, rawItem] of Object.entries(paths)) {
    if (path.startsWith('x-')) continue;
    const itemPointer = `#/paths/${pointerToken(path)}`;
    if (!path.startsWith('/')) refs.fail(itemPointer, `path "${path}" must start with "/"`);
    const { value: item, pointer: itemAt } = refs.follow(rawItem, itemPointer, 'a path item');
    const templateNames = [...path.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]!);
    if (templateNames.some((name) => !name)) refs.fail(itemPointer, `path "${path}" has an empty "{}" parameter`);
    const common = item.parameters === undefined ? [] : item.parameters;
    if (!Array.isArray(common)) refs.fail(`${itemAt}/parameters`, '"parameters" must be an array');

    for (const method of METHODS) {
      const raw = item[method.toLowerCase()];
      if (raw === undefined) continue;
      const at = `${itemAt}/${method.toLowerCase()}`;
      if (!isObject(raw)) refs.fail(at, 'an operation must be an object');
      const inliner = newInliner(ctx);

      const own = raw.parameters === undefined ? [] : raw.parameters;
      if (!Array.isArray(own)) refs.fail(`${at}/parameters`, '"parameters" must be an array');
      const byKey = new Map<string, ApiParameter>();
      common.forEach((p, i) => {
        const parameter = readParameter(ctx, inliner, p, `${itemAt}/parameters/${i}`);
        byKey.set(`${parameter.in}:${parameter.name}`, parameter);
      });
      own.forEach((p, i) => {
        const parameter = readParameter(ctx, inliner, p, `${at}/parameters/${i}`);
        byKey.set(`${parameter.in}:${parameter.name}`, parameter);
      });
      const parameters = [...byKey.values()].filter((p) => !(p.in === 'header' && IGNORED_HEADERS.has(p.name.toLowerCase())));
      for (const name of templateNames) {
        if (!parameters.some((p) => p.in === 'path' && p.name === name)) refs.fail(at, `path parameter "{${name}}" of "${path}" is not declared`);
      }
      for (const p of parameters) {
        if (p.in === 'path' && !templateNames.includes(p.name)) refs.fail(`${at}/parameters`, `path parameter "${p.name}" does not appear in "${path}"`);
      }

      let requestBody: ApiRequestBody | undefined;
      const examples: ApiExample[] = [];
      if (raw.requestBody !== undefined) {
        const read = readRequestBody(ctx, inliner, raw.requestBody, `${at}/requestBody`);
        requestBody = read.body;
        examples.push(...read.examples);
      }
      const inputSchema = inliner.finish(inputSchemaOf(parameters, requestBody)) as JsonObject;
      const responses = readResponses(ctx, raw.responses, `${at}/responses`);

      if (raw.operationId !== undefined && !text(raw.operationId)) refs.fail(`${at}/operationId`, '"operationId" must be a non-empty string');
      const id = text(raw.operationId) ?? derivedOperationId(method, path);
      if (used.has(id)) refs.fail(at, `operation id "${id}" is used twice`);
      used.add(id);
      const override: ApiOperationOverride = curated[id] ?? {};
      if (override.hidden) continue;

      const tags = override.tags ?? (Array.isArray(raw.tags) ? raw.tags.filter((t): t is string => typeof t === 'string') : []);
      const extendedPermission = raw[EXTENSION.permission];
      if (extendedPermission !== undefined && !text(extendedPermission)) refs.fail(`${at}/${EXTENSION.permission}`, 'must be a non-empty string');
      const extendedApproval = raw[EXTENSION.requiresApproval];
      if (extendedApproval !== undefined && typeof extendedApproval !== 'boolean') refs.fail(`${at}/${EXTENSION.requiresApproval}`, 'must be a boolean');
      const approvalRequired = raw[EXTENSION.approvalRequired];
      if (approvalRequired !== undefined && typeof approvalRequired !== 'boolean') refs.fail(`${at}/${EXTENSION.approvalRequired}`, 'must be a boolean');
      const extendedApprovers = raw[EXTENSION.approvers];
      if (extendedApprovers !== undefined && extendedApprovers !== 1 && extendedApprovers !== 2) refs.fail(`${at}/${EXTENSION.approvers}`, 'must be 1 or 2');
      const keywords = raw[EXTENSION.keywords];
      const pathExample = Object.fromEntries(
        parameters.filter((p) => p.in === 'path' && isObject(p.schema) && p.schema.example !== undefined).map((p) => [p.name, (p.schema as JsonObject).example]),
      );
      const summary = override.summary ?? text(raw.summary);
      operations.push({
        id,
        document: document.label,
        method,
        path,
        baseUrl: baseUrlOption ?? serverBase(ctx, raw.servers, `${at}/servers`) ?? serverBase(ctx, item.servers, `${itemAt}/servers`) ?? documentBase ?? '',
        displayName: override.displayName ?? text(raw[EXTENSION.displayName]) ?? summary ?? humanise(id),
        summary,
        description: override.description ?? text(raw.description),
        tags,
        parameters,
        requestBody,
        responses,
        examples: [
          ...(override.examples ?? []),
          ...examples.map((e) => (Object.keys(pathExample).length ? { ...e, arguments: { path: pathExample, ...e.arguments } } : e)),
        ],
        playbooks: override.playbooks ?? [],
        permission: override.permission ?? text(extendedPermission) ?? derivedPermission(method, path, tags),
        requiresApproval: override.requiresApproval ?? (extendedApproval === true || approvalRequired === true),
        approvers: override.approvers ?? (extendedApprovers === 2 ? 2 : 1),
        deprecated: raw.deprecated === true,
        keywords: [...(override.keywords ?? []), ...(Array.isArray(keywords) ? keywords.filter((k): k is string => typeof k === 'string') : [])],
        inputSchema,
      });
    }
  }

  for (const id of Object.keys(curated)) {
    if (!used.has(id)) {
      const overrideRefs: DocumentRefs = new DocumentRefs(overrides!.label, overrides!.content as Record<string, unknown>);
      overrideRefs.fail(`#/operations/${pointerToken(id)}`, `no operation "${id}" in ${document.label}`);
    }
  }
  return operations;
}
