import { inject, injectable } from 'inversify';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { AuditSink, type AuditEvent, type AuditOutcome } from '../ports/audit-sink.js';
import { Policy, type PolicyDecision, type PolicyRequest } from '../ports/policy.js';
import { Logger } from '../log/logger.js';
import { ApprovalPendingError, AuditUnavailableError, PermissionDeniedError, ToolError } from '../errors.js';
import { ApprovalGate } from '../approvals/approval-gate.js';
import { ToolCatalog, ToolCatalogToken } from '../tools/tool-catalog.js';
import { isToolResult, type ToolContext, type ToolReturn } from '../tools/define-tool.js';
import { invalidParams } from './jsonrpc.js';
import { callAuditEvent, type CallContext } from './call-context.js';
import { HandlerContextFactory } from './handler-context-factory.js';

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

/** A `tools/call` answered: the result, and the approval request when the call is being held. */
export interface ToolCallOutcome {
  readonly result: CallToolResult;
  readonly held?: ApprovalPendingError;
  /** The approved request this call consumed, if it ran with an approval. */
  readonly approvalId?: string;
}

/**
 * authorize → validate → (approval) → execute → audit, around every `tools/call`. Authentication happened
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
    @inject(ApprovalGate) private readonly gate: ApprovalGate,
  ) {}

  async call(params: Record<string, unknown> | undefined, call: CallContext): Promise<CallToolResult> {
    return (await this.run(params, call)).result;
  }

  /**
   * Run one call. With `claim`, a call that needs approval runs only by consuming that approved
   * request (a held MCP task being resumed) and is never held again.
   */
  async run(params: Record<string, unknown> | undefined, call: CallContext, claim?: string): Promise<ToolCallOutcome> {
    const started = performance.now();
    const name = params?.name;
    const args = params?.arguments ?? {};
    if (typeof name !== 'string') throw invalidParams('tools/call needs a "name" string.');
    const { principal } = call;
    let target = name;
    let details: Readonly<Record<string, unknown>> | undefined;
    let approvalId: string | undefined;
    const record = (outcome: AuditOutcome, decision: AuditEvent['decision'], reason: string | undefined): void => {
      const linked = approvalId === undefined ? details : { ...details, approvalId };
      this.audit.record(callAuditEvent(call, started, { action: 'tools/call', target, details: linked, decision, reason, outcome, arguments: args }));
    };
    const held = (error: ApprovalPendingError): ToolCallOutcome => {
      approvalId = error.approvalId;
      record('refused', 'needs-approval', `approval required (request ${error.approvalId})`);
      return { result: { isError: true, content: [{ type: 'text', text: error.message }] }, held: error };
    };
    const refusal = (error: PermissionDeniedError): ToolCallOutcome => {
      record('denied', 'denied', error.reason);
      return { result: { isError: true, content: [{ type: 'text', text: error.message }] } };
    };
    const gated = async (request: PolicyRequest, decision: PolicyDecision): Promise<void> => {
      approvalId = await this.gate.pass(call, { tool: name, target: { kind: request.kind, name: request.name }, arguments: args, claim }, decision);
    };

    const entry = this.catalog.get(name);
    const toolRequest: PolicyRequest = {
      kind: 'tool',
      name,
      permission: entry?.tool.permission,
      ...(entry?.tool.approval === 'required' ? { approval: { required: true, approvers: entry.tool.approvers ?? 1 } } : {}),
    };
    const decision = await this.policy.decide(principal, toolRequest);
    const attempt = decision.allow ? 'allowed' : decision.needsApproval ? 'needs-approval' : 'denied';
    if (!entry) {
      // Same answer whether the tool does not exist or is hidden from this caller.
      record('refused', attempt, 'unknown tool');
      throw invalidParams(`Unknown tool: ${name}`);
    }
    if (!decision.allow && !decision.needsApproval) {
      record('denied', 'denied', decision.reason);
      return { result: { isError: true, content: [{ type: 'text', text: `Permission denied: ${decision.reason}` }] } };
    }
    if (!this.audit.accepting()) throw new AuditUnavailableError();
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      record('refused', attempt, 'invalid arguments');
      return { result: { isError: true, content: [{ type: 'text', text: `Invalid arguments for ${name}: "arguments" must be an object.` }] } };
    }
    const { tool } = entry;
    const parsed = tool.input.safeParse(args);
    if (!parsed.success) {
      const detail = describeIssues(parsed.error.issues);
      record('refused', attempt, `invalid arguments: ${detail}`);
      return { result: { isError: true, content: [{ type: 'text', text: `Invalid arguments for ${name}: ${detail}` }] } };
    }
    if (decision.needsApproval) {
      try {
        await gated(toolRequest, decision);
      } catch (error) {
        if (error instanceof ApprovalPendingError) return held(error);
        if (error instanceof PermissionDeniedError) return refusal(error);
        throw error;
      }
    }

    const progressToken = (params?._meta as { progressToken?: unknown } | undefined)?.progressToken;
    const context: ToolContext = Object.assign(this.contexts.create(call, { tool: name }), {
      progress: this.contexts.progress(call, progressToken) ?? noProgress,
      requestClient: (method, requestParams) => this.contexts.requestClient(call, method, requestParams),
      resourceUpdated: (uri) => this.contexts.resourceUpdated(principal.tenant, uri),
      authorize: async (request) => this.policy.decide(principal, request),
      authorizeCall: async (request) => {
        const answer = await this.policy.decide(principal, request);
        if (answer.allow) return answer;
        if (!answer.needsApproval) throw new PermissionDeniedError(answer.reason);
        await gated(request, answer);
        return { allow: true, reason: `allowed with approval ${approvalId}` };
      },
      auditTarget: (actual, extra) => {
        target = actual;
        details = extra ? { tool: name, ...extra } : { tool: name };
      },
    } satisfies Partial<ToolContext>);

    try {
      const result = toCallResult(await tool.handler(parsed.data, context));
      if (tool.output && !result.isError) {
        const checked = tool.output.safeParse(result.structuredContent);
        if (!checked.success) {
          this.logger.error({ tool: name, requestId: call.requestId, issues: describeIssues(checked.error.issues) }, 'tool result does not match its output schema');
          record('failed', 'allowed', 'output schema mismatch');
          return { result: { isError: true, content: [{ type: 'text', text: `${name} failed with an internal error (request ${call.requestId}).` }] } };
        }
      }
      record(result.isError ? 'error' : 'success', 'allowed', approvalId === undefined ? undefined : `allowed with approval ${approvalId}`);
      return approvalId === undefined ? { result } : { result, approvalId };
    } catch (error) {
      if (error instanceof ApprovalPendingError) return held(error);
      if (error instanceof PermissionDeniedError) return refusal(error);
      if (error instanceof ToolError) {
        record('error', 'allowed', error.message);
        return { result: { isError: true, content: [{ type: 'text', text: error.message }] } };
      }
      this.logger.error({ err: error, tool: name, requestId: call.requestId }, 'tool handler failed');
      record('failed', 'allowed', call.signal.aborted ? 'aborted' : 'handler threw');
      return { result: { isError: true, content: [{ type: 'text', text: `${name} failed with an internal error (request ${call.requestId}).` }] } };
    }
  }
}
