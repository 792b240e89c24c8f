import { inject, injectable, optional } from 'inversify';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { APPROVALS_CHANGED, PendingApprovals, type ApprovalRecord } from '../ports/pending-approvals.js';
import { ChangeFeed } from '../ports/change-feed.js';
import { Logger, safeLog } from '../log/logger.js';
import { ToolCallPipeline } from './tool-call-pipeline.js';
import { invalidParams } from './jsonrpc.js';
import type { CallContext } from './call-context.js';
import { clipClientText } from '../client-text.js';

const POLL_INTERVAL_MS = 500;
/** How long `tasks/result` waits between reads when no change notification wakes it. */
const WAIT_INTERVAL_MS = 2000;
const RELATED_TASK = 'io.modelcontextprotocol/related-task';

type TaskStatus = 'working' | 'completed' | 'failed' | 'cancelled';


function statusOf(record: ApprovalRecord): { status: TaskStatus; statusMessage: string } {
  const result = record.result as CallToolResult | null | undefined;
  if (result) return { status: result.isError ? 'failed' : 'completed', statusMessage: result.isError ? 'The call ran and failed.' : 'The call ran.' };
  if (record.withdrawn) return { status: 'cancelled', statusMessage: `Approval request ${record.id} was withdrawn.` };
  switch (record.state) {
    case 'pending':
      return { status: 'working', statusMessage: `Waiting for approval request ${record.id} (expires ${record.expiresAt.toISOString()}).` };
    case 'approved':
    case 'executed':
      return { status: 'working', statusMessage: `Approval request ${record.id} was approved; running.` };
    case 'denied':
      return { status: 'failed', statusMessage: `Approval request ${record.id} was denied: ${record.decisionReason ?? 'no reason given'}` };
    case 'expired':
      return { status: 'failed', statusMessage: `Approval request ${record.id} expired before anyone approved it.` };
  }
}

/**
 * MCP tasks (2025-11-25) for calls held for approval: a task-augmented `tools/call` that needs
 * approval becomes a task whose id is the approval request's id. It stays `working` until the
 * decision; once approved, the next poll (on any instance) runs the call by consuming exactly
 * that grant, and `tasks/result` yields its result — or the denial as an `isError` result.
 */
@injectable()
export class ApprovalTasks {
  private readonly running = new Set<string>();
  private readonly waiting = new Map<string, Set<() => void>>();

  constructor(
    @inject(ToolCallPipeline) private readonly pipeline: ToolCallPipeline,
    @inject(Logger) private readonly logger: Logger,
    @inject(ChangeFeed) changes: ChangeFeed,
    @inject(PendingApprovals) @optional() private readonly approvals?: PendingApprovals,
  ) {
    if (approvals) {
      changes.subscribe(
        APPROVALS_CHANGED,
        (payload) => {
          if (typeof payload.id === 'string') for (const wake of this.waiting.get(payload.id) ?? []) wake();
        },
        () => {
          for (const wakers of this.waiting.values()) for (const wake of wakers) wake();
        },
      );
    }
  }

  /** Wait until request `id` changes (as announced on the change feed), `ms` pass, or `signal` aborts. */
  private wait(id: string, ms: number, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const wakers = this.waiting.get(id) ?? new Set<() => void>();
      this.waiting.set(id, wakers);
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        wakers.delete(done);
        resolve();
      }
      wakers.add(done);
      signal.addEventListener('abort', done, { once: true });
    }).finally(() => {
      if (this.waiting.get(id)?.size === 0) this.waiting.delete(id);
    });
  }

  get available(): boolean {
    return this.approvals !== undefined;
  }

  /** `tools/call` with `task`: a held call is answered with its task; anything else with its result. */
  async call(params: Record<string, unknown> | undefined, call: CallContext): Promise<unknown> {
    const outcome = await this.pipeline.run(params, call);
    if (!outcome.held || !this.approvals) return outcome.result;
    const record = await this.approvals.find(call.principal.tenant, outcome.held.approvalId);
    if (!record) return outcome.result;
    return { task: this.taskOf(record) };
  }

  private taskOf(record: ApprovalRecord): Record<string, unknown> {
    return {
      taskId: record.id,
      ...statusOf(record),
      createdAt: record.createdAt.toISOString(),
      lastUpdatedAt: record.updatedAt.toISOString(),
      ttl: Math.max(0, record.expiresAt.getTime() - record.createdAt.getTime()),
      pollInterval: POLL_INTERVAL_MS,
    };
  }

  private async load(params: Record<string, unknown> | undefined, call: CallContext): Promise<ApprovalRecord> {
    const taskId = params?.taskId;
    if (typeof taskId !== 'string') throw invalidParams('This method needs a "taskId" string.');
    const record = await this.approvals?.find(call.principal.tenant, taskId);
    // Another caller's task is as unknown as a task that does not exist.
    if (!record || !record.madeBy(call.principal)) throw invalidParams(`Unknown task: ${clipClientText(taskId)}`);
    return record;
  }

  /** Run an approved, not yet run call in the background (once per instance; the grant itself is single-use). */
  private resume(record: ApprovalRecord, call: CallContext): void {
    if (record.state !== 'approved' || record.result || this.running.has(record.id) || !this.approvals) return;
    const approvals = this.approvals;
    this.running.add(record.id);
    const detached: CallContext = { principal: call.principal, requestId: call.requestId, clientAddress: call.clientAddress, signal: new AbortController().signal };
    void (async () => {
      try {
        const outcome = await this.pipeline.run({ name: record.tool, arguments: record.arguments }, detached, record.id);
        if (outcome.approvalId !== record.id) {
          // Not run with this grant: keep the refusal, unless another instance consumed it and is running it.
          const now = await approvals.find(record.tenant, record.id);
          if (now?.state === 'executed') return;
        }
        await approvals.complete(record.tenant, record.id, outcome.result);
      } catch (error) {
        safeLog(this.logger, 'error', { err: error, approvalId: record.id }, 'resuming an approved task failed');
      } finally {
        this.running.delete(record.id);
      }
    })();
  }

  async get(params: Record<string, unknown> | undefined, call: CallContext): Promise<unknown> {
    const record = await this.load(params, call);
    this.resume(record, call);
    return this.taskOf(record);
  }

  /** Waits (polling the shared store) until the task is terminal, then yields its result. */
  async result(params: Record<string, unknown> | undefined, call: CallContext): Promise<unknown> {
    let record = await this.load(params, call);
    while (statusOf(record).status === 'working' && !call.signal.aborted) {
      this.resume(record, call);
      await this.wait(record.id, record.state === 'pending' ? WAIT_INTERVAL_MS : POLL_INTERVAL_MS, call.signal);
      record = await this.load(params, call);
    }
    const meta = { [RELATED_TASK]: { taskId: record.id } };
    const result = record.result as CallToolResult | null | undefined;
    if (result) return { ...result, _meta: { ...result._meta, ...meta } };
    return { isError: true, content: [{ type: 'text', text: statusOf(record).statusMessage }], _meta: meta };
  }

  async cancel(params: Record<string, unknown> | undefined, call: CallContext): Promise<unknown> {
    const record = await this.load(params, call);
    if (!(await this.approvals!.withdraw(call.principal.tenant, record.id, call.principal))) {
      throw invalidParams(`Task ${record.id} can no longer be cancelled (it is ${statusOf(record).status}).`);
    }
    return this.taskOf((await this.approvals!.find(call.principal.tenant, record.id)) ?? record);
  }
}
