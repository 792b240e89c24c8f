import { inject, injectable } from 'inversify';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Policy } from '../ports/policy.js';
import { ToolCatalog, ToolCatalogToken } from '../tools/tool-catalog.js';
import { isToolResult, type ToolContext, type ToolReturn } from '../tools/define-tool.js';
import { invalidParams } from './jsonrpc.js';
import type { CallContext } from './call-context.js';
import { HandlerContextFactory } from './handler-context-factory.js';
import { GovernedCalls, describeIssues } from './governed-call.js';

const noProgress = async (): Promise<void> => {};

const errorResult = (text: string): CallToolResult => ({ isError: true, content: [{ type: 'text', text }] });

function toCallResult(value: ToolReturn): CallToolResult {
  if (isToolResult(value)) return { ...value } as CallToolResult;
  if (typeof value === 'string') return { content: [{ type: 'text', text: value }] };
  if (value === undefined || value === null) return { content: [] };
  const text = JSON.stringify(value);
  if (Array.isArray(value)) return { content: [{ type: 'text', text }] };
  return { content: [{ type: 'text', text }], structuredContent: value as Record<string, unknown> };
}

/**
 * authorize → validate → execute → audit, around every `tools/call` (the shared sequence of
 * `GovernedCall`). Authentication happened before (the principal is in the call context). Policy
 * denials, invalid arguments and handler failures — whatever the handler throws — are tool
 * results with `isError: true`; an unknown tool is a protocol error.
 */
@injectable()
export class ToolCallPipeline {
  constructor(
    @inject(ToolCatalogToken) private readonly catalog: ToolCatalog,
    @inject(Policy) private readonly policy: Policy,
    @inject(GovernedCalls) private readonly governed: GovernedCalls,
    @inject(HandlerContextFactory) private readonly contexts: HandlerContextFactory,
  ) {}

  async call(params: Record<string, unknown> | undefined, call: CallContext): Promise<CallToolResult> {
    const name = params?.name;
    const args = params?.arguments ?? {};
    if (typeof name !== 'string') throw invalidParams('tools/call needs a "name" string.');
    const { principal } = call;
    const governed = this.governed.begin(call, 'tools/call', name, args);

    const entry = this.catalog.get(name);
    if (!entry) {
      // Same answer whether the tool does not exist or is hidden from this caller.
      const decision = await governed.decide({ kind: 'tool', name, permission: undefined });
      governed.record('refused', decision.allow ? 'allowed' : 'denied', 'unknown tool');
      throw invalidParams(`Unknown tool: ${name}`);
    }
    const { tool } = entry;
    const refusal = await governed.authorize({ kind: 'tool', name, permission: tool.permission });
    if (refusal) return errorResult(refusal.message);
    const valid = governed.validate(tool.input, name);
    if (!valid.ok) return errorResult(valid.refusal.message);

    const progressToken = (params?._meta as { progressToken?: unknown } | undefined)?.progressToken;
    const context: ToolContext = Object.assign(this.contexts.create(call, { tool: name }), {
      progress: this.contexts.progress(call, progressToken) ?? noProgress,
      requestClient: (method, requestParams) => this.contexts.requestClient(call, method, requestParams),
      resourceUpdated: (uri) => this.contexts.resourceUpdated(principal.tenant, uri),
      authorize: async (request) => this.policy.decide(principal, request),
      auditTarget: (actual, extra) => {
        governed.target = actual;
        governed.details = extra ? { tool: name, ...extra } : { tool: name };
      },
    } satisfies Partial<ToolContext>);

    const ran = await governed.execute(async () => toCallResult(await tool.handler(valid.data, context)), name);
    if (!ran.ok) return errorResult(ran.failure.message);
    const result = ran.value;
    if (tool.output && !result.isError) {
      const checked = tool.output.safeParse(result.structuredContent);
      if (!checked.success) {
        const failure = governed.internalFailure('output schema mismatch', name, { tool: name, issues: describeIssues(checked.error.issues) });
        return errorResult(failure.message);
      }
    }
    governed.record(result.isError ? 'error' : 'success', 'allowed', undefined);
    return result;
  }
}
