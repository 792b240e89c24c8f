import { inject, injectable } from 'inversify';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Policy, type PolicyCallContext, type PolicyDecision, type PolicyRequest } from '../ports/policy.js';
import { ApprovalPendingError, PermissionDeniedError } from '../errors.js';
import { ApprovalGate } from '../approvals/approval-gate.js';
import { ToolCatalog, ToolCatalogToken } from '../tools/tool-catalog.js';
import { isToolResult, type ToolContext, type ToolReturn } from '../tools/define-tool.js';
import { LimitExceededError, invalidParams, objectParam } from './jsonrpc.js';
import type { CallContext } from './call-context.js';
import { clipClientText } from '../client-text.js';
import { HandlerContextFactory } from './handler-context-factory.js';
import { GovernedCalls, describeIssues } from './governed-call.js';
import { UnsendableAnswer, jsonProblem, toolResultProblem } from './sendable-answer.js';

const noProgress = async (): Promise<void> => {};

const resultOf = (outcome: ToolCallOutcome): CallToolResult => outcome.result;

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';

/** The call's facts for the policy: when, from where, and the checked arguments (built without spreads: this runs on every call). */
function callFacts(call: CallContext, args: Readonly<Record<string, unknown>> | undefined): PolicyCallContext {
  const facts: { at: Date; clientAddress?: string; arguments?: Readonly<Record<string, unknown>> } = { at: new Date() };
  if (call.clientAddress !== undefined) facts.clientAddress = call.clientAddress;
  if (args !== undefined) facts.arguments = args;
  return facts;
}

/**
 * The policy request of a `tools/call` about to run, as one object: the attempt is what metered
 * limits count (listings and finer-grained checks never are).
 */
function toolCallRequest(name: string, tool: { readonly permission?: string; readonly approval?: string; readonly approvers?: number }, context: PolicyCallContext): PolicyRequest {
  return tool.approval === 'required'
    ? { kind: 'tool', name, permission: tool.permission, approval: { required: true, approvers: tool.approvers ?? 1 }, attempt: true, context }
    : { kind: 'tool', name, permission: tool.permission, attempt: true, context };
}

/** A handler's own request with call facts: the caller's address is the call's, whatever it says. */
function withCallFacts(call: CallContext, request: PolicyRequest): PolicyRequest {
  if (!request.context) return request;
  const { clientAddress: _ignored, ...given } = request.context;
  return { ...request, context: { ...given, ...(call.clientAddress === undefined ? {} : { clientAddress: call.clientAddress }) } };
}

const errorResult = (text: string): CallToolResult => ({ isError: true, content: [{ type: 'text', text }] });

/**
 * The wire result of what a handler returned. A value that cannot be sent as it is (a BigInt, a
 * circular object, content blocks the protocol does not allow) throws `UnsendableAnswer`.
 */
function toCallResult(value: ToolReturn): CallToolResult {
  if (isToolResult(value)) {
    const result = { ...value } as CallToolResult;
    const problem = toolResultProblem(result);
    if (problem !== undefined) throw new UnsendableAnswer(problem);
    return result;
  }
  if (typeof value === 'string') return { content: [{ type: 'text', text: value }] };
  if (value === undefined || value === null) return { content: [] };
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch {
    throw new UnsendableAnswer(jsonProblem(value, 'result') ?? 'the result cannot be written as JSON');
  }
  if (typeof text !== 'string') throw new UnsendableAnswer('the result is neither text, an object nor a list');
  // Only an object is structured content; a number or a list is sent as its JSON text.
  if (Array.isArray(value) || typeof value !== 'object') return { content: [{ type: 'text', text }] };
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
 * authorize → validate → (approval) → execute → audit, around every `tools/call` (the shared sequence of
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
    @inject(ApprovalGate) private readonly gate: ApprovalGate,
  ) {}

  call(params: Record<string, unknown> | undefined, call: CallContext): Promise<CallToolResult> {
    return this.run(params, call).then(resultOf);
  }

  /**
   * Run one call. A call that needs approval runs only by consuming an approved grant for exactly
   * this call; otherwise it is held (`held`) or refused. With `claim`, only that approved request
   * may be consumed (a held MCP task being resumed) and the call is never held again.
   */
  async run(params: Record<string, unknown> | undefined, call: CallContext, claim?: string): Promise<ToolCallOutcome> {
    const name = params?.name;
    if (typeof name !== 'string') throw invalidParams('tools/call needs a "name" string.');
    // Arguments that are not an object break the request's schema: a protocol error, not a tool's.
    const args = objectParam(params, 'arguments', 'tools/call') ?? {};
    const { principal } = call;
    const governed = this.governed.begin(call, 'tools/call', name, args);
    try {
      let approvalId: string | undefined;
      const link = (id: string): void => {
        approvalId = id;
        governed.details = { ...governed.details, approvalId: id };
      };
      const gated = async (request: PolicyRequest, decision: PolicyDecision): Promise<void> =>
        link(await this.gate.pass(call, { tool: name, target: { kind: request.kind, name: request.name }, arguments: args, claim }, decision));
      // Held for approval, or refused by it: recorded, and answered as an isError result.
      const settled = (error: unknown): ToolCallOutcome | undefined => {
        if (error instanceof ApprovalPendingError) {
          link(error.approvalId);
          governed.record('refused', 'needs-approval', `approval required (request ${error.approvalId})`);
          return { result: errorResult(error.message), held: error };
        }
        if (error instanceof PermissionDeniedError) {
          governed.record('denied', 'denied', error.reason);
          return { result: errorResult(error.message) };
        }
        return undefined;
      };

      const entry = this.catalog.get(name);
      if (!entry) {
        // Same answer whether the tool does not exist or is hidden from this caller.
        const decision = await governed.decide({ kind: 'tool', name, permission: undefined });
        // The name is the client's: the audit row and the answer quote it clipped.
        governed.target = clipClientText(name);
        governed.record('refused', decision.allow ? 'allowed' : 'denied', 'unknown tool');
        throw invalidParams(`Unknown tool: ${clipClientText(name)}`);
      }
      const { tool } = entry;
      // The policy sees the arguments the handler would get; invalid ones are refused right after it.
      const checked = governed.check(tool.input);
      const toolRequest = toolCallRequest(name, tool, callFacts(call, checked.ok ? (checked.data as Record<string, unknown>) : undefined));
      // The policy's answer and a handler's that come at once are not awaited: each await is a promise.
      const asked = governed.authorizeApprovable(toolRequest);
      const authorized = isThenable(asked) ? await asked : asked;
      const { refusal } = authorized;
      if (refusal?.kind === 'limited') {
        const { limit, resetsAt, retryAfterSeconds } = refusal.limited;
        throw new LimitExceededError(refusal.message, retryAfterSeconds, { reason: refusal.reason, limit, resetsAt: resetsAt.toISOString(), retryAfterSeconds });
      }
      if (refusal) return { result: errorResult(refusal.message) };
      const valid = governed.validate(tool.input, name, checked);
      if (!valid.ok) return { result: errorResult(valid.refusal.message) };
      if (authorized.needsApproval) {
        try {
          await gated(toolRequest, authorized.needsApproval);
        } catch (error) {
          const answer = settled(error);
          if (answer) return answer;
          throw error;
        }
      }

      const progressToken = (params?._meta as { progressToken?: unknown } | undefined)?.progressToken;
      const context: ToolContext = this.contexts.extend({
        progress: this.contexts.progress(call, progressToken) ?? noProgress,
        requestClient: (method, requestParams) => this.contexts.requestClient(call, method, requestParams),
        resourceUpdated: (uri) => this.contexts.resourceUpdated(principal.tenant, uri),
        authorize: async (request) => this.policy.decide(principal, withCallFacts(call, request)),
        authorizeCall: async (request) => {
          const answer = await this.policy.decide(principal, withCallFacts(call, request));
          if (answer.allow) return answer;
          if (!answer.needsApproval) throw new PermissionDeniedError(answer.reason);
          await gated(request, answer);
          return { allow: true, reason: `allowed with approval ${approvalId}` };
        },
        auditTarget: (actual, extra) => {
          governed.target = actual;
          governed.details = { tool: name, ...extra, ...(approvalId === undefined ? {} : { approvalId }) };
        },
      } satisfies Partial<ToolContext>, call, { tool: name });

      // Durable before execute: the intent is committed (group-committed with concurrent ones) first.
      if (this.governed.durable(tool)) await governed.intent();

      // A handler that settles an approval itself (`authorizeCall`) may be held or refused by it.
      let handlerHeld: ApprovalPendingError | undefined;
      const held = (error: unknown): undefined => {
        if (!(error instanceof ApprovalPendingError)) throw error;
        handlerHeld = error;
        return undefined;
      };
      // A handler that answers at once is not made to wait for a promise of its own answer.
      const running = governed.execute(() => {
        let returned: ToolReturn | PromiseLike<ToolReturn>;
        try {
          returned = tool.handler(valid.data, context) as ToolReturn | PromiseLike<ToolReturn>;
        } catch (error) {
          return held(error);
        }
        return isThenable(returned) ? Promise.resolve(returned).then(toCallResult, held) : toCallResult(returned);
      }, name, undefined, tool.timeoutMs);
      const ran = isThenable(running) ? await running : running;
      if (handlerHeld) return settled(handlerHeld)!;
      if (!ran.ok) return { result: errorResult(ran.failure.message) };
      const result = ran.value!;
      if (tool.output && !result.isError) {
        const checked = tool.output.safeParse(result.structuredContent);
        if (!checked.success) {
          const failure = governed.internalFailure('output schema mismatch', name, { tool: name, issues: describeIssues(checked.error.issues) });
          return { result: errorResult(failure.message) };
        }
      }
      governed.record(result.isError ? 'error' : 'success', 'allowed', approvalId === undefined ? undefined : `allowed with approval ${approvalId}`);
      return approvalId === undefined ? { result } : { result, approvalId };
    } catch (error) {
      // Whatever stopped the call before it was recorded (a fault, an outage) is recorded all the same.
      governed.stopped(error);
      throw error;
    }
  }
}
