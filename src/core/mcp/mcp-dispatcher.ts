import { inject, injectable } from 'inversify';
import { Policy, mayAttempt } from '../ports/policy.js';
import { EngineConfig } from '../kernel/config.js';
import { ToolCatalog, ToolCatalogToken, type ToolEntry } from '../tools/tool-catalog.js';
import { ToolCallPipeline } from './tool-call-pipeline.js';
import type { Tool } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, LATEST_PROTOCOL_VERSION, ProtocolError, SUPPORTED_PROTOCOL_VERSIONS, checkRequestParams, invalidParams, jsonKind, objectParam, type JsonRpcRequest } from './jsonrpc.js';
import type { CallContext } from './call-context.js';
import type { Principal } from '../ports/principal.js';
import { McpCatalog, McpCatalogToken, type PromptEntry, type ResourceEntry } from './mcp-catalog.js';
import { CatalogPipeline } from './catalog-pipeline.js';
import { ClientExchange } from './client-exchange.js';
import { SessionStore, principalKey } from './session-store.js';
import { isMcpLogLevel } from './notification-levels.js';
import { ApprovalTasks } from './approval-tasks.js';
import { clipClientText } from '../client-text.js';

type Handler = (params: Record<string, unknown> | undefined, call: CallContext) => Promise<unknown> | unknown;

function toWireTool({ tool }: ToolEntry, tasks: boolean): Tool {
  const wire: Record<string, unknown> = { name: tool.name, description: tool.description, inputSchema: tool.inputJsonSchema };
  if (tool.title) wire.title = tool.title;
  if (tool.outputJsonSchema) wire.outputSchema = tool.outputJsonSchema;
  if (tool.annotations) wire.annotations = tool.annotations;
  // A call that waits for approval can be held as a task.
  if (tasks && tool.approval === 'required') wire.execution = { taskSupport: 'optional' };
  return wire as Tool;
}

function toWireResource({ resource }: ResourceEntry): Record<string, unknown> {
  const wire: Record<string, unknown> = resource.uri !== undefined ? { uri: resource.uri, name: resource.name } : { uriTemplate: resource.uriTemplate, name: resource.name };
  if (resource.title) wire.title = resource.title;
  if (resource.description) wire.description = resource.description;
  if (resource.mimeType) wire.mimeType = resource.mimeType;
  if (resource.uri !== undefined && resource.size !== undefined) wire.size = resource.size;
  if (resource.annotations) wire.annotations = resource.annotations;
  return wire;
}

function toWirePrompt({ prompt }: PromptEntry): Record<string, unknown> {
  const wire: Record<string, unknown> = { name: prompt.name };
  if (prompt.title) wire.title = prompt.title;
  if (prompt.description) wire.description = prompt.description;
  if (prompt.argumentList.length) wire.arguments = prompt.argumentList;
  return wire;
}

/**
 * The task a `tools/call` asks to be run as (MCP tasks): undefined when it asks for none. A `task`
 * that is not an object, or whose `ttl` is not a number, is refused (-32602) rather than ignored.
 */
function taskOf(params: Record<string, unknown> | undefined): Record<string, unknown> | undefined {
  const task = objectParam(params, 'task', 'tools/call');
  const ttl = task?.ttl;
  if (ttl !== undefined && !(typeof ttl === 'number' && Number.isFinite(ttl))) {
    throw invalidParams(`Invalid params for tools/call: "task.ttl" must be a number (milliseconds), not ${jsonKind(ttl)}.`);
  }
  return task;
}

function encodeCursor(offset: number): string {
  return Buffer.from(JSON.stringify({ o: offset })).toString('base64url');
}

function decodeCursor(cursor: unknown): number {
  if (cursor === undefined) return 0;
  if (typeof cursor === 'string') {
    try {
      const { o } = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { o?: unknown };
      if (typeof o === 'number' && Number.isInteger(o) && o >= 0) return o;
    } catch {
      // fall through
    }
  }
  throw invalidParams('Invalid cursor.');
}

/**
 * MCP method dispatch for one already-authenticated request. Long-lived and stateless: each
 * request costs what its method costs, with no per-request server or transport objects.
 */
@injectable()
export class McpDispatcher {
  private readonly handlers: ReadonlyMap<string, Handler>;
  private readonly wireTools: ReadonlyMap<string, Tool>;

  constructor(
    @inject(ToolCatalogToken) private readonly catalog: ToolCatalog,
    @inject(Policy) private readonly policy: Policy,
    @inject(ToolCallPipeline) private readonly pipeline: ToolCallPipeline,
    @inject(EngineConfig) private readonly config: EngineConfig,
    @inject(McpCatalogToken) private readonly mcpCatalog: McpCatalog,
    @inject(CatalogPipeline) private readonly catalogPipeline: CatalogPipeline,
    @inject(ClientExchange) private readonly exchange: ClientExchange,
    @inject(SessionStore) private readonly sessions: SessionStore,
    @inject(ApprovalTasks) private readonly tasks: ApprovalTasks,
  ) {
    this.wireTools = new Map(catalog.entries.map((entry) => [entry.tool.name, toWireTool(entry, tasks.available)]));
    const wireResources = new Map(mcpCatalog.resources.map((entry) => [entry, toWireResource(entry)]));
    const wirePrompts = new Map(mcpCatalog.prompts.map((entry) => [entry, toWirePrompt(entry)]));
    const handlers: [string, Handler][] = [
      ['initialize', (params) => this.initialize(params)],
      ['ping', () => ({})],
      ['tools/list', (params, call) => this.listTools(params, call.principal)],
      ['tools/call', (params, call) => (taskOf(params) !== undefined && tasks.available ? tasks.call(params, call) : this.pipeline.call(params, call))],
      ['logging/setLevel', (params, call) => this.setLevel(params, call)],
    ];
    if (tasks.available) {
      handlers.push(
        ['tasks/get', (params, call) => tasks.get(params, call)],
        ['tasks/result', (params, call) => tasks.result(params, call)],
        ['tasks/cancel', (params, call) => tasks.cancel(params, call)],
      );
    }
    if (mcpCatalog.resources.length) {
      handlers.push(
        ['resources/list', (params, call) => this.page(params, call.principal, 'resources', mcpCatalog.fixed, 'resource', (entry) => entry.resource, wireResources)],
        ['resources/templates/list', (params, call) => this.page(params, call.principal, 'resourceTemplates', mcpCatalog.templates, 'resource', (entry) => entry.resource, wireResources)],
        ['resources/read', (params, call) => this.catalogPipeline.read(params, call)],
      );
      if (sessions.enabled) {
        handlers.push(
          ['resources/subscribe', (params, call) => this.catalogPipeline.subscribe(params, call, true)],
          ['resources/unsubscribe', (params, call) => this.catalogPipeline.subscribe(params, call, false)],
        );
      }
    }
    if (mcpCatalog.prompts.length) {
      handlers.push(
        ['prompts/list', (params, call) => this.page(params, call.principal, 'prompts', mcpCatalog.prompts, 'prompt', (entry) => entry.prompt, wirePrompts)],
        ['prompts/get', (params, call) => this.catalogPipeline.getPrompt(params, call)],
      );
    }
    if (mcpCatalog.prompts.length || mcpCatalog.templates.length) {
      handlers.push(['completion/complete', (params, call) => this.catalogPipeline.complete(params, call)]);
    }
    this.handlers = new Map(handlers);
  }

  /** Methods whose handlers run plugin code: cancellable, and worth streaming notifications for. */
  static runsHandlers(method: string): boolean {
    return method === 'tools/call' || method === 'resources/read' || method === 'prompts/get' || method === 'completion/complete' || method === 'tasks/result';
  }

  private async setLevel(params: Record<string, unknown> | undefined, call: CallContext): Promise<unknown> {
    const level = params?.level;
    if (!isMcpLogLevel(level)) throw invalidParams('logging/setLevel needs a "level" of debug, info, notice, warning, error, critical, alert or emergency.');
    if (call.session) await this.sessions.update(call.session, { logLevel: level });
    else this.exchange.setLevel(principalKey(call.principal), level);
    return {};
  }

  private async page<E, W>(
    params: Record<string, unknown> | undefined,
    principal: Principal,
    key: string,
    entries: readonly E[],
    kind: 'resource' | 'prompt',
    target: (entry: E) => { name: string; permission?: string },
    wire: ReadonlyMap<E, W>,
  ): Promise<unknown> {
    const offset = decodeCursor(params?.cursor);
    const visible: E[] = [];
    for (const entry of entries) {
      const { name, permission } = target(entry);
      if ((await this.policy.decide(principal, { kind, name, permission })).allow) visible.push(entry);
    }
    const end = offset + this.config.pageSize;
    const items = visible.slice(offset, end).map((entry) => wire.get(entry)!);
    return end < visible.length ? { [key]: items, nextCursor: encodeCursor(end) } : { [key]: items };
  }

  /**
   * Answer one request; rejects with {@link ProtocolError} for JSON-RPC errors. Never throws: a
   * handler's own promise is handed on as it is, without another around it.
   */
  dispatch(request: JsonRpcRequest, call: CallContext): Promise<unknown> {
    const handler = this.handlers.get(request.method);
    if (!handler) return Promise.reject(new ProtocolError(ErrorCode.MethodNotFound, `Method not found: ${clipClientText(request.method)}`));
    try {
      checkRequestParams(request.method, request.params);
      const result = handler(request.params, call);
      return result instanceof Promise ? result : Promise.resolve(result);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Only what the engine really serves. */
  private get capabilities(): Record<string, unknown> {
    const { resources, prompts, templates } = this.mcpCatalog;
    const capabilities: Record<string, unknown> = { tools: { listChanged: false }, logging: {} };
    if (resources.length) capabilities.resources = { subscribe: this.sessions.enabled, listChanged: false };
    if (prompts.length) capabilities.prompts = { listChanged: false };
    if (prompts.length || templates.length) capabilities.completions = {};
    if (this.tasks.available) capabilities.tasks = { cancel: {}, requests: { tools: { call: {} } } };
    return capabilities;
  }

  private initialize(params: Record<string, unknown> | undefined): unknown {
    const requested = params?.protocolVersion;
    if (typeof requested !== 'string') throw invalidParams('initialize needs a "protocolVersion" string.');
    objectParam(params, 'capabilities', 'initialize');
    objectParam(params, 'clientInfo', 'initialize');
    return {
      protocolVersion: SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION,
      capabilities: this.capabilities,
      serverInfo: this.config.serverInfo,
      ...(this.config.instructions ? { instructions: this.config.instructions } : {}),
    };
  }

  /** The tools this principal may call, in registration order — the same decision as tools/call. */
  async visibleTools(principal: Principal): Promise<ToolEntry[]> {
    const visible: ToolEntry[] = [];
    for (const entry of this.catalog.entries) {
      const { tool } = entry;
      const approval = tool.approval === 'required' ? { approval: { required: true, approvers: tool.approvers ?? 1 } } : {};
      const decision = await this.policy.decide(principal, { kind: 'tool', name: tool.name, permission: tool.permission, ...approval });
      if (mayAttempt(decision)) visible.push(entry);
    }
    return visible;
  }

  private async listTools(params: Record<string, unknown> | undefined, principal: Principal): Promise<unknown> {
    const offset = decodeCursor(params?.cursor);
    const visible = await this.visibleTools(principal);
    const end = offset + this.config.pageSize;
    const tools = visible.slice(offset, end).map((entry) => this.wireTools.get(entry.tool.name)!);
    return end < visible.length ? { tools, nextCursor: encodeCursor(end) } : { tools };
  }
}
