import { inject, injectable } from 'inversify';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AuditSink, type AuditEvent, type AuditOutcome } from '../ports/audit-sink.js';
import { Policy } from '../ports/policy.js';
import { Logger } from '../log/logger.js';
import { AuditUnavailableError, PermissionDeniedError, ToolError } from '../errors.js';
import { ToolCatalog, ToolCatalogToken } from '../tools/tool-catalog.js';
import { isToolResult, type ToolContext, type ToolReturn } from '../tools/define-tool.js';
import { invalidParams } from './jsonrpc.js';
import { callAuditEvent, type CallContext } from './call-context.js';
import { HandlerContextFactory } from './handler-context-factory.js';
import { Telemetry } from '../telemetry/telemetry.js';

const noProgress = async (): Promise<void> => {};

function describeIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues
    .slice(0, 10)
    .map((issue) => (issue.path.length ? `${issue.path.map(String).join('.')}: ${issue.message}` : issue.message))
    .join('; ');
}

function toCallResult(value: ToolReturn): CallToolResult {
  if (isToolResult(value)) return { ...value } as CallToolResult;
  if (typeof value === 'string') return { content: [{ type: 'text', text: value }] };
  if (value === undefined || value === null) return { content: [] };
  const text = JSON.stringify(value);
  if (Array.isArray(value)) return { content: [{ type: 'text', text }] };
  return { content: [{ type: 'text', text }], structuredContent: value as Record<string, unknown> };
}

/**
 * authorize → validate → execute → audit, around every `tools/call`. Authentication happened
 * before (the principal is in the call context). Policy denials, invalid arguments and handler
 * failures are tool results with `isError: true`; an unknown tool is a protocol error.
 */
@injectable()
export class ToolCallPipeline {
  constructor(
    @inject(ToolCatalogToken) private readonly catalog: ToolCatalog,
    @inject(Policy) private readonly policy: Policy,
    @inject(AuditSink) private readonly audit: AuditSink,
    @inject(HandlerContextFactory) private readonly contexts: HandlerContextFactory,
    @inject(Logger) private readonly logger: Logger,
    @inject(Telemetry) private readonly telemetry: Telemetry,
  ) {}

  async call(params: Record<string, unknown> | undefined, call: CallContext): Promise<CallToolResult> {
    const started = performance.now();
    const name = params?.name;
    const args = params?.arguments ?? {};
    if (typeof name !== 'string') throw invalidParams('tools/call needs a "name" string.');
    const { principal } = call;
    let target = name;
    let details: Readonly<Record<string, unknown>> | undefined;
    const record = (outcome: AuditOutcome, decision: AuditEvent['decision'], reason: string | undefined): void => {
      this.telemetry.toolCall(call.observation, principal.tenant, entry ? name : undefined, decision, outcome);
      this.audit.record(callAuditEvent(call, started, { action: 'tools/call', target, details, decision, reason, outcome, arguments: args }));
    };

    const entry = this.catalog.get(name);
    const decision = await this.telemetry.span('gatehouse.policy', call.observation, () => this.policy.decide(principal, { kind: 'tool', name, permission: entry?.tool.permission }));
    if (!entry) {
      // Same answer whether the tool does not exist or is hidden from this caller.
      record('refused', decision.allow ? 'allowed' : 'denied', 'unknown tool');
      throw invalidParams(`Unknown tool: ${name}`);
    }
    if (!decision.allow) {
      record('denied', 'denied', decision.reason);
      return { isError: true, content: [{ type: 'text', text: `Permission denied: ${decision.reason}` }] };
    }
    if (!this.audit.accepting()) throw new AuditUnavailableError();
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      record('refused', 'allowed', 'invalid arguments');
      return { isError: true, content: [{ type: 'text', text: `Invalid arguments for ${name}: "arguments" must be an object.` }] };
    }
    const { tool } = entry;
    const parsed = tool.input.safeParse(args);
    if (!parsed.success) {
      const detail = describeIssues(parsed.error.issues);
      record('refused', 'allowed', `invalid arguments: ${detail}`);
      return { isError: true, content: [{ type: 'text', text: `Invalid arguments for ${name}: ${detail}` }] };
    }

    const progressToken = (params?._meta as { progressToken?: unknown } | undefined)?.progressToken;
    const context: ToolContext = Object.assign(this.contexts.create(call, { tool: name }), {
      progress: this.contexts.progress(call, progressToken) ?? noProgress,
      requestClient: (method, requestParams) => this.contexts.requestClient(call, method, requestParams),
      resourceUpdated: (uri) => this.contexts.resourceUpdated(principal.tenant, uri),
      authorize: async (request) => this.policy.decide(principal, request),
      auditTarget: (actual, extra) => {
        target = actual;
        details = extra ? { tool: name, ...extra } : { tool: name };
      },
    } satisfies Partial<ToolContext>);

    try {
      const result = toCallResult(await this.telemetry.span('gatehouse.handler', call.observation, () => tool.handler(parsed.data, context)));
      if (tool.output && !result.isError) {
        const checked = tool.output.safeParse(result.structuredContent);
        if (!checked.success) {
          this.logger.error({ tool: name, requestId: call.requestId, issues: describeIssues(checked.error.issues) }, 'tool result does not match its output schema');
          record('failed', 'allowed', 'output schema mismatch');
          return { isError: true, content: [{ type: 'text', text: `${name} failed with an internal error (request ${call.requestId}).` }] };
        }
      }
      record(result.isError ? 'error' : 'success', 'allowed', undefined);
      return result;
    } catch (error) {
      if (error instanceof PermissionDeniedError) {
        record('denied', 'denied', error.reason);
        return { isError: true, content: [{ type: 'text', text: error.message }] };
      }
      if (error instanceof ToolError) {
        record('error', 'allowed', error.message);
        return { isError: true, content: [{ type: 'text', text: error.message }] };
      }
      this.logger.error({ err: error, tool: name, requestId: call.requestId }, 'tool handler failed');
      record('failed', 'allowed', call.signal.aborted ? 'aborted' : 'handler threw');
      return { isError: true, content: [{ type: 'text', text: `${name} failed with an internal error (request ${call.requestId}).` }] };
    }
  }
}
