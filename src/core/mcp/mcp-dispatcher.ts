import { inject, injectable } from 'inversify';
import { ErrorCode, LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS, type Tool } from '@modelcontextprotocol/sdk/types.js';
import { Policy } from '../ports/policy.js';
import { EngineConfig } from '../kernel/config.js';
import { ToolCatalog, ToolCatalogToken, type ToolEntry } from '../tools/tool-catalog.js';
import { ToolCallPipeline } from './tool-call-pipeline.js';
import { ProtocolError, invalidParams, type JsonRpcRequest } from './jsonrpc.js';
import type { CallContext } from './call-context.js';
import type { Principal } from '../ports/principal.js';

type Handler = (params: Record<string, unknown> | undefined, call: CallContext) => Promise<unknown> | unknown;

function toWireTool({ tool }: ToolEntry): Tool {
  const wire: Record<string, unknown> = { name: tool.name, description: tool.description, inputSchema: tool.inputJsonSchema };
  if (tool.title) wire.title = tool.title;
  if (tool.outputJsonSchema) wire.outputSchema = tool.outputJsonSchema;
  if (tool.annotations) wire.annotations = tool.annotations;
  return wire as Tool;
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
  ) {
    this.wireTools = new Map(catalog.entries.map((entry) => [entry.tool.name, toWireTool(entry)]));
    this.handlers = new Map<string, Handler>([
      ['initialize', (params) => this.initialize(params)],
      ['ping', () => ({})],
      ['tools/list', (params, call) => this.listTools(params, call.principal)],
      ['tools/call', (params, call) => this.pipeline.call(params, call)],
    ]);
  }

  /** Answer one request; throws {@link ProtocolError} for JSON-RPC errors. */
  async dispatch(request: JsonRpcRequest, call: CallContext): Promise<unknown> {
    const handler = this.handlers.get(request.method);
    if (!handler) throw new ProtocolError(ErrorCode.MethodNotFound, `Method not found: ${request.method}`);
    return handler(request.params, call);
  }

  private initialize(params: Record<string, unknown> | undefined): unknown {
    const requested = params?.protocolVersion;
    if (typeof requested !== 'string') throw invalidParams('initialize needs a "protocolVersion" string.');
    return {
      protocolVersion: SUPPORTED_PROTOCOL_VERSIONS.includes(requested) ? requested : LATEST_PROTOCOL_VERSION,
      capabilities: { tools: { listChanged: false } },
      serverInfo: this.config.serverInfo,
      ...(this.config.instructions ? { instructions: this.config.instructions } : {}),
    };
  }

  /** The tools this principal may call, in registration order — the same decision as tools/call. */
  async visibleTools(principal: Principal): Promise<ToolEntry[]> {
    const visible: ToolEntry[] = [];
    for (const entry of this.catalog.entries) {
      const decision = await this.policy.decide(principal, { kind: 'tool', name: entry.tool.name, permission: entry.tool.permission });
      if (decision.allow) visible.push(entry);
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
