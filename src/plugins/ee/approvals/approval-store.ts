import { randomUUID } from 'node:crypto';
import { inject, injectable } from 'inversify';
import type { Knex } from 'knex';
import {
  APPROVALS_CHANGED,
  AuditSink,
  ChangeFeed,
  Database,
  Logger,
  safeLog,
  assertTenant,
  isUuid,
  storableJson,
  type ApprovalRecord,
  type ApprovalRequest,
  type ApprovalState,
  type ApprovalTicket,
  type PendingApprovals,
  type Principal,
} from '../../../core/index.js';
import { ApprovalDecisionError } from './approval-errors.js';
import { ApprovalSettings } from './approval-settings.js';
import { APPROVALS_TABLE as TABLE, callerOf, json, keyOf, toApproval, toRecord, type Approval, type ApprovalRow as Row, type ApprovalStep } from './approval-record.js';

export type ApprovalListener = (approval: Approval) => void;

/** One decision taken on a request: who took it, which, and the request as it left it. */
export interface ApprovalDecision {
  /** Unique per decision (the same whichever attempt committed it). */
  readonly decisionId: string;
  readonly verdict: 'approve' | 'deny';
  readonly approver: ApprovalStep;
  readonly approval: Approval;
}

export type DecisionListener = (decision: ApprovalDecision) => void;

/**
 * The Enterprise pending approvals, in PostgreSQL (`mcp_approvals`), so every instance sees every
 * request and decision. A grant is consumed by a conditional update (`… where state = 'approved'
 * returning`): of two concurrent identical calls, exactly one runs. Each write is run again when
 * its connection is lost, and marks what it changes with an id of its own (the request's id,
 * `execution_pass`, `withdrawal_pass`, `expiry_pass`, `decision_pass`), so an attempt after one
 * whose commit happened with its answer lost finds what it did and reports it once.
 */
@injectable()
export class ApprovalStore implements PendingApprovals {
  private readonly listeners: ApprovalListener[] = [];
  private readonly deciders: DecisionListener[] = [];

  constructor(
    @inject(Database) private readonly database: Database,
    @inject(AuditSink) private readonly audit: AuditSink,
    @inject(ApprovalSettings) private readonly settings: ApprovalSettings,
    @inject(ChangeFeed) private readonly changes: ChangeFeed,
    @inject(Logger) private readonly logger: Logger,
  ) {}

  /** Wake whoever waits on request `id`, on every instance. */
  private announce(tenant: string, id: string): void {
    this.changes.publish(APPROVALS_CHANGED, { tenant, id }).catch((error: unknown) => {
      safeLog(this.logger, 'warn', { err: error, approvalId: id }, 'could not announce an approval change; waiting tasks will see it on their next read');
    });
  }

  /** Be told of every new request (the webhook). */
  onRequested(listener: ApprovalListener): void {
    this.listeners.push(listener);
  }

  /** Be told of every decision, once each (the webhook). */
  onDecided(listener: DecisionListener): void {
    this.deciders.push(listener);
  }

  private get knex(): Knex {
    return this.database.knex;
  }

  private record(tenant: string, principal: Principal | undefined, action: string, target: string, reason: string, approvalId: string, requestId: string, outcome: 'refused' | 'success' = 'refused'): void {
    this.audit.record({
      time: new Date(),
      tenant,
      principal,
      action,
      target,
      decision: outcome === 'success' ? 'admin' : 'denied',
      reason,
      outcome,
      arguments: undefined,
      latencyMs: undefined,
      requestId,
      clientAddress: undefined,
      details: { approvalId },
    });
  }

  /**
   * Mark the tenant's overdue requests and grants `expired`, auditing each once. Run again when its
   * connection is lost (after a database restart or failover), as a read is: each run stamps the
   * rows it expires with its own `expiry_pass`, and a later attempt of the run returns those rows
   * again (an earlier attempt may have committed with its answer lost), so the expiries are
   * audited once, after the attempt that answers, whichever attempt made them. A row expired by
   * another run no longer matches, so no expiry is audited twice.
   */
  async expireDue(tenant: string): Promise<void> {
    const pass = randomUUID();
    let attempt = 0;
    const rows = await this.database.read(async () => {
      // Only a later attempt looks for rows this run expired: an earlier one may have committed.
      const again = ++attempt > 1;
      return (await this.database
        .forTenant(tenant)
        .table<Row>(TABLE)
        .where((due) => {
          due.whereIn('state', ['pending', 'approved']).andWhere('expires_at', '<=', this.knex.fn.now());
          if (again) due.orWhere({ expiry_pass: pass, state: 'expired' });
        })
        .update({ state: 'expired', expiry_pass: pass, updated_at: this.knex.raw("case when state = 'expired' then updated_at else now() end") })
        .returning(['id', 'tool', 'request_id'])) as Pick<Row, 'id' | 'tool' | 'request_id'>[];
    });
    for (const row of rows) this.record(tenant, undefined, 'approvals.expire', row.tool, 'expired before it was used', row.id, row.request_id);
  }

  async request(request: ApprovalRequest): Promise<ApprovalTicket> {
    const { principal } = request;
    const tenant = principal.tenant;
    assertTenant(tenant);
    await this.expireDue(tenant);
    const caller = callerOf(principal);
    const same = { caller, tool: request.tool, target_name: request.target.name };
    const db = () => this.database.forTenant(tenant).table<Row>(TABLE).where(same);

    // An approved grant for exactly this call: consume it (once, whoever else tries at the same time).
    const granted = await this.consume(tenant, request);
    if (granted) return { status: 'granted', id: granted };

    // An approved grant for this tool that does not match: refuse it (audited) and ask anew.
    const approved = (await this.database.read(() => db().andWhere({ state: 'approved' }).orderBy('created_at', 'desc'))) as Row[];
    for (const row of approved) {
      const why = row.arguments_digest !== request.digest ? 'the arguments differ from the approved call' : 'the policy changed since the request was made';
      this.record(tenant, principal, 'approvals.mismatch', request.tool, `approval ${row.id} not used: ${why}`, row.id, request.requestId);
    }

    const denied = (await this.database.read(() =>
      db()
        .andWhere({ state: 'denied', withdrawn: false, arguments_digest: request.digest, policy_version: request.need.policyVersion })
        .andWhere('expires_at', '>', this.knex.fn.now())
        .orderBy('decided_at', 'desc')
        .first(),
    )) as Row | undefined;
    if (denied) return { status: 'denied', id: denied.id, reason: `${denied.decision_reason ?? 'no reason given'} (denied by ${denied.decided_by ?? 'an approver'})` };

    // The request's id is chosen here, so an attempt after a lost connection knows its own row.
    const id = randomUUID();
    const expiresAt = new Date(Date.now() + this.settings.ttlMs);
    let attempt = 0;
    const { row, mine } = await this.database.read(async (): Promise<{ row: Row | undefined; mine: boolean }> => {
      // Only a later attempt looks for the row: an earlier one may have committed with its answer lost.
      if (++attempt > 1) {
        const own = (await this.database.forTenant(tenant).table<Row>(TABLE).where({ id }).first()) as Row | undefined;
        if (own) return { row: own, mine: true };
      }
      const inserted = (
        await this.knex.raw(
          `insert into ${TABLE} (id, tenant, caller, principal_kind, principal_id, principal_label, agent_id, key_id, tool, target_kind, target_name,
             arguments, arguments_digest, policy_version, policy_reason, approvers_required, request_id, expires_at)
           values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           on conflict (tenant, caller, tool, target_name, arguments_digest, policy_version) where state = 'pending' do nothing
           returning *`,
          [
            id,
            tenant,
            caller,
            principal.kind,
            principal.id,
            principal.label ?? null,
            (principal.attributes as { agentId?: string }).agentId ?? null,
            keyOf(principal) ?? null,
            request.tool,
            request.target.kind,
            request.target.name,
            // JSON text: the arguments exactly as sent, NUL and lone surrogates included.
            storableJson(request.arguments),
            request.digest,
            request.need.policyVersion,
            request.reason,
            request.need.approvers,
            request.requestId,
            expiresAt,
          ],
        )
      ).rows as Row[];
      if (inserted[0]) return { row: inserted[0], mine: true };
      // The same call, held already (by an earlier call or a concurrent one).
      return { row: (await db().andWhere({ state: 'pending', arguments_digest: request.digest, policy_version: request.need.policyVersion }).first()) as Row | undefined, mine: false };
    });
    if (!row) return this.request(request);
    if (mine) for (const listener of this.listeners) listener(toApproval(row));
    return { status: 'pending', id: row.id, expiresAt: new Date(row.expires_at) };
  }

  /**
   * Use an approved grant for exactly this call: one conditional update, run again when its
   * connection is lost. It stamps the row with this use's own `execution_pass`, and a later attempt
   * first looks for a row so stamped (an earlier attempt may have committed with its answer lost),
   * so the call runs once, whichever attempt took the grant; a grant another call took is not found.
   */
  private async consume(tenant: string, request: ApprovalRequest, id?: string): Promise<string | undefined> {
    const match = {
      caller: callerOf(request.principal),
      tool: request.tool,
      target_name: request.target.name,
      arguments_digest: request.digest,
      policy_version: request.need.policyVersion,
      state: 'approved',
    };
    const pass = randomUUID();
    let attempt = 0;
    return this.database.read(async () => {
      if (++attempt > 1) {
        const own = (await this.database.forTenant(tenant).table<Row>(TABLE).where({ execution_pass: pass, state: 'executed' }).first('id')) as Pick<Row, 'id'> | undefined;
        if (own) return own.id;
      }
      const candidate = this.database
        .forTenant(tenant)
        .table<Row>(TABLE)
        .where(match)
        .andWhere('expires_at', '>', this.knex.fn.now())
        .orderBy('created_at')
        .first('id');
      const rows = (await this.database
        .forTenant(tenant)
        .table<Row>(TABLE)
        .where(match)
        .andWhere('id', id === undefined ? candidate : id)
        .andWhere('expires_at', '>', this.knex.fn.now())
        .update({ state: 'executed', execution_pass: pass, executed_at: this.knex.fn.now(), updated_at: this.knex.fn.now() })
        .returning('id')) as { id: string }[];
      return rows[0]?.id;
    });
  }

  async claim(request: ApprovalRequest, id: string): Promise<ApprovalTicket | undefined> {
    const tenant = request.principal.tenant;
    if (!isUuid(id)) return undefined;
    const granted = await this.consume(tenant, request, id);
    if (granted) return { status: 'granted', id: granted };
    const row = await this.row(tenant, id);
    if (row?.state === 'approved') {
      const why = row.arguments_digest !== request.digest ? 'the arguments differ from the approved call' : 'the policy changed since the request was made';
      this.record(tenant, request.principal, 'approvals.mismatch', request.tool, `approval ${id} not used: ${why}`, id, request.requestId);
    }
    return undefined;
  }

  async find(tenant: string, id: string): Promise<ApprovalRecord | undefined> {
    const row = await this.row(tenant, id);
    return row ? toRecord(row) : undefined;
  }

  private async row(tenant: string, id: string): Promise<Row | undefined> {
    if (!isUuid(id)) return undefined;
    return (await this.database.read(() => this.database.forTenant(tenant).table<Row>(TABLE).where({ id }).first())) as Row | undefined;
  }

  /**
   * Withdraw a pending request of `principal`, auditing it once. Run again when its connection is
   * lost, as {@link ApprovalStore.expireDue} is: a later attempt first looks for the row this run
   * withdrew (stamped with its own `withdrawal_pass`), since an earlier attempt may have committed.
   */
  async withdraw(tenant: string, id: string, principal: Principal): Promise<boolean> {
    if (!isUuid(id)) return false;
    const pass = randomUUID();
    let attempt = 0;
    const rows = await this.database.read(async () => {
      if (++attempt > 1) {
        const own = (await this.database.forTenant(tenant).table<Row>(TABLE).where({ id, withdrawal_pass: pass }).select('id', 'tool', 'request_id')) as Pick<Row, 'id' | 'tool' | 'request_id'>[];
        if (own.length > 0) return own;
      }
      return (await this.database
        .forTenant(tenant)
        .table<Row>(TABLE)
        .where({ id, caller: callerOf(principal), state: 'pending' })
        .update({
          state: 'denied',
          withdrawn: true,
          withdrawal_pass: pass,
          decided_by: principal.label ?? principal.id,
          decision_reason: 'withdrawn by the caller',
          decided_at: this.knex.fn.now(),
          updated_at: this.knex.fn.now(),
        })
        .returning(['id', 'tool', 'request_id'])) as Pick<Row, 'id' | 'tool' | 'request_id'>[];
    });
    for (const row of rows) {
      this.record(tenant, principal, 'approvals.withdraw', row.tool, 'withdrawn by the caller', row.id, row.request_id);
      this.announce(tenant, row.id);
    }
    return rows.length > 0;
  }

  /**
   * Keep the result of a held task's call. Run again when its connection is lost, as a read is:
   * only a request without a result takes one, so running it again changes nothing more.
   */
  async complete(tenant: string, id: string, result: unknown): Promise<void> {
    const stored = storableJson(result);
    await this.database.read(() =>
      this.database.forTenant(tenant).table<Row>(TABLE).where({ id }).whereNull('result').update({ result: stored, updated_at: this.knex.fn.now() }),
    );
    this.announce(tenant, id);
  }

  /** The tenant's requests: pending first (oldest first), then the rest, newest first. */
  async list(tenant: string, options: { state?: ApprovalState; limit?: number } = {}): Promise<Approval[]> {
    await this.expireDue(tenant);
    const rows = (await this.database.read(() => {
      let query = this.database.forTenant(tenant).table<Row>(TABLE);
      if (options.state) query = query.andWhere({ state: options.state });
      return query
        .orderByRaw("case when state = 'pending' then 0 else 1 end")
        .orderByRaw("case when state = 'pending' then created_at end asc")
        .orderBy('created_at', 'desc')
        .limit(options.limit ?? 100);
    })) as Row[];
    return rows.map(toApproval);
  }

  async get(tenant: string, id: string): Promise<Approval | undefined> {
    await this.expireDue(tenant);
    const row = await this.row(tenant, id);
    return row ? toApproval(row) : undefined;
  }

  /**
   * Approve or deny a pending request as `approver`. Refused: not pending (409), the approver made
   * the call with their own credentials (403), the same approver approving twice (409). Run again
   * when its connection is lost: the decision stamps the row with its own `decision_pass` (and an
   * approval adds a step with its own time), and a later attempt that finds either knows an earlier
   * attempt committed the decision with its answer lost, so it is answered, and announced, once.
   */
  async decide(tenant: string, id: string, approver: Principal, verdict: 'approve' | 'deny', reason: string): Promise<Approval> {
    await this.expireDue(tenant);
    const pass = randomUUID();
    const step: ApprovalStep = { id: approver.id, kind: approver.kind, label: approver.label ?? approver.id, reason, at: new Date().toISOString() };
    let attempt = 0;
    const decided = await this.database.read(() => {
      // Only a later attempt looks for its own decision: an earlier one may have committed.
      const again = ++attempt > 1;
      return this.knex.transaction((trx) => this.decideOnce(trx, tenant, id, approver, verdict, reason, pass, step, again));
    });
    this.announce(tenant, id);
    const decision: ApprovalDecision = { decisionId: pass, verdict, approver: step, approval: decided };
    for (const listener of this.deciders) listener(decision);
    return decided;
  }

  private async decideOnce(
    trx: Knex.Transaction,
    tenant: string,
    id: string,
    approver: Principal,
    verdict: 'approve' | 'deny',
    reason: string,
    pass: string,
    step: ApprovalStep,
    again: boolean,
  ): Promise<Approval> {
    const row = (await this.database
      .forTenant(tenant, trx)
      .table<Row>(TABLE)
      .where({ id })
      .forUpdate()
      .first('*', trx.raw('expires_at <= now() as due'))) as (Row & { due: boolean }) | undefined;
    if (!row) throw new ApprovalDecisionError(404, 'No such approval request.');
    const steps = (json(row.approvals) as ApprovalStep[] | null) ?? [];
    if (again && (row.decision_pass === pass || (verdict === 'approve' && steps.some((s) => s.kind === step.kind && s.id === step.id && s.at === step.at)))) {
      // This decision committed on an earlier attempt (its answer was lost): it stands as made.
      return toApproval(row);
    }
    // Past its deadline since the expiry above ran: expired, whatever the row says yet.
    const state = row.state === 'pending' && row.due ? 'expired' : row.state;
    if (state !== 'pending') throw new ApprovalDecisionError(409, `This request is already ${row.withdrawn ? 'withdrawn' : state}; only pending requests can be decided.`);
    const self =
      (row.principal_kind === approver.kind && row.principal_id === approver.id) || (row.key_id !== null && row.key_id === keyOf(approver));
    if (self && verdict === 'approve') throw new ApprovalDecisionError(403, 'You cannot approve a call made with your own credentials: another administrator must.');
    let patch: Record<string, unknown>;
    if (verdict === 'deny') {
      patch = { state: 'denied', decided_by: step.label, decision_reason: reason, decided_at: trx.fn.now() };
    } else {
      if (steps.some((s) => s.kind === approver.kind && s.id === approver.id)) {
        throw new ApprovalDecisionError(409, 'You have already approved this request; it needs a second, different approver.');
      }
      const all = [...steps, step];
      const done = all.length >= row.approvers_required;
      patch = {
        approvals: JSON.stringify(all),
        ...(done ? { state: 'approved', decided_by: all.map((s) => s.label).join(', '), decision_reason: reason, decided_at: trx.fn.now() } : {}),
      };
    }
    const [updated] = (await this.database
      .forTenant(tenant, trx)
      .table<Row>(TABLE)
      .where({ id })
      .update({ ...patch, decision_pass: pass, updated_at: trx.fn.now() })
      .returning('*')) as Row[];
    return toApproval(updated!);
  }
}
