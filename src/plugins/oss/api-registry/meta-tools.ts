import {
  PermissionDeniedError,
  ToolError,
  clipClientText,
  defineTool,
  mayAttempt,
  type PolicyRequest,
  z,
  type ToolAnnotations,
  type ToolContext,
  type ToolDefinition,
  type ToolResult,
} from '../../../core/index.js';
import { TOOL_NAME } from '../../../core/index.js';
import type { ApiCatalog } from './api-catalog.js';
import type { ApiDispatcher } from './api-dispatcher.js';
import type { ApiOperation } from './api-operation.js';
import { buildRequest, type CallArguments } from './request-builder.js';

export interface MetaToolOptions {
  readonly prefix: string;
  readonly catalog: ApiCatalog;
  readonly dispatcher: ApiDispatcher;
  readonly permission: string | undefined;
}

/** The policy target of an operation: the same for calls, search, describe and the registry endpoint. */
export function operationTarget(operation: ApiOperation): PolicyRequest {
  return {
    kind: 'operation',
    name: operation.id,
    permission: operation.permission,
    ...(operation.requiresApproval ? { approval: { required: true, approvers: operation.approvers } } : {}),
  };
}

export function operationAnnotations(operation: ApiOperation): ToolAnnotations {
  const safe = operation.method === 'GET' || operation.method === 'HEAD' || operation.method === 'OPTIONS';
  return {
    title: operation.displayName,
    readOnlyHint: safe,
    destructiveHint: operation.method === 'DELETE',
    idempotentHint: safe || operation.method === 'PUT' || operation.method === 'DELETE',
    openWorldHint: false,
  };
}

async function mayUse(ctx: ToolContext, operation: ApiOperation): Promise<boolean> {
  return mayAttempt(await ctx.authorize(operationTarget(operation)));
}

const argumentGroups = {
  path: z.record(z.string(), z.unknown()).optional().describe('Path parameters, e.g. { "ticketId": "…" }.'),
  query: z.record(z.string(), z.unknown()).optional().describe('Query parameters.'),
  headers: z.record(z.string(), z.unknown()).optional().describe('Header parameters the operation declares.'),
  cookies: z.record(z.string(), z.unknown()).optional().describe('Cookie parameters the operation declares.'),
  body: z.unknown().optional().describe('The request body (JSON).'),
};

/** Authorize → validate → approval (when needed) → dispatch, for one operation. */
async function callOperation(options: MetaToolOptions, operation: ApiOperation, raw: CallArguments, ctx: ToolContext): Promise<ToolResult> {
  const label = `${operation.id} (${operation.method} ${operation.path})`;
  ctx.auditTarget(operation.id, { method: operation.method, path: operation.path });
  const decision = await ctx.authorize(operationTarget(operation));
  if (!mayAttempt(decision)) throw new PermissionDeniedError(decision.reason);
  // Defined, not assigned: a `__proto__` key stays a key rather than setting the prototype.
  const args: Record<string, unknown> = Object.fromEntries(Object.entries(raw).filter(([, value]) => value !== undefined));
  // Header names are case-insensitive: accept any case for the ones the operation declares.
  if (args.headers && typeof args.headers === 'object') {
    const declared = new Map(operation.parameters.filter((p) => p.in === 'header').map((p) => [p.name.toLowerCase(), p.name]));
    args.headers = Object.fromEntries(Object.entries(args.headers).map(([k, v]) => [declared.get(k.toLowerCase()) ?? k, v]));
  }
  const problems = options.catalog.validator.check(operation, args);
  if (problems.length) throw new ToolError(`Invalid arguments for ${label}: ${problems.join('; ')}.`);
  // Valid arguments only: the policy decides again with them (conditions on the call), and a call
  // that needs approval is held (or runs with its approval) here.
  await ctx.authorizeCall({ ...operationTarget(operation), context: { arguments: args, at: new Date() } });
  const request = buildRequest(operation, args as CallArguments, options.dispatcher.baseOf(operation));
  return options.dispatcher.send({ operation, request, principal: ctx.principal, requestId: ctx.requestId, signal: ctx.signal, logger: ctx.logger });
}

function summaryOf(operation: ApiOperation, score?: number): Record<string, unknown> {
  return {
    operationId: operation.id,
    displayName: operation.displayName,
    method: operation.method,
    path: operation.path,
    ...(operation.summary ? { summary: operation.summary } : {}),
    tags: operation.tags,
    permission: operation.permission,
    ...(operation.requiresApproval ? { requiresApproval: true } : {}),
    ...(operation.deprecated ? { deprecated: true } : {}),
    ...(score === undefined ? {} : { score }),
  };
}

/** `<prefix>.search`, `<prefix>.describe` and `<prefix>.call`. */
export function metaTools(options: MetaToolOptions): ToolDefinition[] {
  const { prefix, catalog, permission } = options;
  const unknown = (id: string): ToolError => new ToolError(`Unknown operation "${clipClientText(id)}". Use ${prefix}.search to find operations.`);

  const search = defineTool({
    name: `${prefix}.search`,
    title: 'Search API operations',
    description:
      `Find operations of the API by what they do, e.g. "create a ticket" or "list open invoices". ` +
      `Returns the best matches (only operations you may use); then read one with ${prefix}.describe and run it with ${prefix}.call.`,
    permission,
    input: z.object({
      query: z.string().min(1).max(500).describe('What you want to do, in a few words.'),
      limit: z.number().int().min(1).max(50).default(10).describe('Most results to return (default 10).'),
      tag: z.string().optional().describe('Only operations with this tag.'),
    }),
    annotations: { readOnlyHint: true, openWorldHint: false },
    async handler({ query, limit, tag }, ctx) {
      const results: Record<string, unknown>[] = [];
      for (const hit of catalog.search.search(query)) {
        if (results.length >= limit) break;
        if (tag && !hit.operation.tags.some((t) => t.toLowerCase() === tag.toLowerCase())) continue;
        if (await mayUse(ctx, hit.operation)) results.push(summaryOf(hit.operation, hit.score));
      }
      return results.length
        ? { query, count: results.length, results }
        : { query, count: 0, results, hint: 'No operation matches. Try other words for the object you want to act on and the action (list, get, create, update, delete).' };
    },
  });

  const describe = defineTool({
    name: `${prefix}.describe`,
    title: 'Describe an API operation',
    description: `Everything about one operation found with ${prefix}.search: the arguments ${prefix}.call takes (path, query, headers, body), responses, examples and playbooks.`,
    permission,
    input: z.object({ operationId: z.string().min(1).describe(`The operationId from ${prefix}.search.`) }),
    annotations: { readOnlyHint: true, openWorldHint: false },
    async handler({ operationId }, ctx) {
      const operation = catalog.get(operationId);
      // An operation the caller may not use is as unknown to them as one that does not exist.
      if (!operation || !(await mayUse(ctx, operation))) throw unknown(operationId);
      return {
        ...summaryOf(operation),
        ...(operation.description ? { description: operation.description } : {}),
        requiresApproval: operation.requiresApproval,
        arguments: operation.inputSchema,
        ...(operation.requestBody ? { requestContentType: operation.requestBody.contentType } : {}),
        responses: operation.responses.map((r) => ({ status: r.status, ...(r.description ? { description: r.description } : {}), ...(r.contentType ? { contentType: r.contentType } : {}), ...(r.schema === undefined ? {} : { schema: r.schema }) })),
        examples: operation.examples,
        playbooks: operation.playbooks,
      };
    },
  });

  const call = defineTool({
    name: `${prefix}.call`,
    title: 'Call an API operation',
    description:
      `Run one operation found with ${prefix}.search. Arguments are checked against the operation's schema (see ${prefix}.describe) before anything is sent. ` +
      'Returns { status, headers, body }; HTTP errors come back as tool errors with the status and an excerpt of the body.',
    permission,
    input: z.strictObject({ operationId: z.string().min(1).describe(`The operationId from ${prefix}.search.`), ...argumentGroups }),
    annotations: { destructiveHint: true, openWorldHint: false },
    async handler({ operationId, ...args }, ctx) {
      const operation = catalog.get(operationId);
      if (!operation) throw unknown(operationId);
      return callOperation(options, operation, args, ctx);
    },
  });

  return [search, describe, call];
}

/** `<prefix>.<operationId>` with characters outside the tool-name alphabet replaced. */
export function directToolName(prefix: string, operation: ApiOperation): string {
  return `${prefix}.${operation.id.replace(/[^A-Za-z0-9._-]/g, '_')}`.slice(0, 128);
}

/** One tool per operation: the operation's own schema, permission and annotations. */
export function directTools(options: MetaToolOptions): ToolDefinition[] {
  return options.catalog.operations.map((operation) => {
    const name = directToolName(options.prefix, operation);
    if (!TOOL_NAME.test(name)) throw new ToolError(`Cannot make a tool name of operation "${operation.id}".`);
    const description = [operation.summary ?? operation.displayName, operation.description, `(${operation.method} ${operation.path})`].filter(Boolean).join(' ');
    const tool = defineTool({
      name,
      title: operation.displayName,
      description,
      permission: operation.permission,
      input: z.strictObject(argumentGroups),
      annotations: operationAnnotations(operation),
      handler: (args, ctx) => callOperation(options, operation, args, ctx),
    });
    // The wire schema is the operation's own (richer than the generic shape checked first).
    return Object.freeze({ ...tool, inputJsonSchema: operation.inputSchema as Record<string, unknown> });
  });
}
