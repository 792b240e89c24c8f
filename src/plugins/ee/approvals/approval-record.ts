import type { ApprovalRecord, ApprovalState, Principal } from '../../../core/index.js';

/** Approval requests as stored (`mcp_approvals`) and as approvers and the engine read them. */

/** One approval given (or the denial). */
export interface ApprovalStep {
  readonly id: string;
  readonly kind: string;
  readonly label: string;
  readonly reason: string;
  readonly at: string;
}

/** An approval request as approvers see it. */
export interface Approval {
  readonly id: string;
  readonly tenant: string;
  readonly tool: string;
  readonly target: { readonly kind: string; readonly name: string };
  readonly principal: { readonly kind: string; readonly id: string; readonly label: string | null; readonly agentId: string | null };
  readonly arguments: unknown;
  readonly argumentsDigest: string;
  readonly policyVersion: string;
  readonly policyReason: string;
  readonly approversRequired: number;
  readonly state: ApprovalState;
  readonly withdrawn: boolean;
  readonly approvals: readonly ApprovalStep[];
  readonly decidedBy: string | null;
  readonly decisionReason: string | null;
  readonly decidedAt: Date | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly expiresAt: Date;
  readonly executedAt: Date | null;
  readonly result: unknown;
}

export interface ApprovalRow {
  id: string;
  tenant: string;
  caller: string;
  principal_kind: string;
  principal_id: string;
  principal_label: string | null;
  agent_id: string | null;
  key_id: string | null;
  tool: string;
  target_kind: string;
  target_name: string;
  arguments: unknown;
  arguments_digest: string;
  policy_version: string;
  policy_reason: string;
  approvers_required: number;
  state: ApprovalState;
  withdrawn: boolean;
  approvals: unknown;
  decided_by: string | null;
  decision_reason: string | null;
  decided_at: Date | string | null;
  result: unknown;
  request_id: string;
  created_at: Date | string;
  updated_at: Date | string;
  expires_at: Date | string;
  executed_at: Date | string | null;
  /** The run of {@link ApprovalStore.expireDue} that expired it. */
  expiry_pass: string | null;
  /** The use of the grant ({@link ApprovalStore.consume}) that executed it. */
  execution_pass: string | null;
  /** The run of {@link ApprovalStore.withdraw} that withdrew it. */
  withdrawal_pass: string | null;
  /** The decision ({@link ApprovalStore.decide}) that changed it last. */
  decision_pass: string | null;
}

export const APPROVALS_TABLE = 'mcp_approvals';
export const json = (value: unknown): unknown => (typeof value === 'string' ? JSON.parse(value) : value);
const date = (value: Date | string | null): Date | null => (value === null ? null : new Date(value));

/** Who may use a grant: the agent, whatever credential it presents; otherwise the credential itself. */
export function callerOf(principal: Principal): string {
  const agentId = (principal.attributes as { agentId?: unknown }).agentId;
  return typeof agentId === 'string' ? `agent:${agentId}` : `${principal.kind}:${principal.id}`;
}

/** The API key behind a principal, if any (an agent key, a tenant key, an admin key or its UI session). */
export function keyOf(principal: Principal): string | undefined {
  const keyId = (principal.attributes as { keyId?: unknown }).keyId;
  if (typeof keyId === 'string') return keyId;
  return principal.kind === 'api-key' ? principal.id : undefined;
}

export function toApproval(row: ApprovalRow): Approval {
  return {
    id: row.id,
    tenant: row.tenant,
    tool: row.tool,
    target: { kind: row.target_kind, name: row.target_name },
    principal: { kind: row.principal_kind, id: row.principal_id, label: row.principal_label, agentId: row.agent_id },
    arguments: json(row.arguments),
    argumentsDigest: row.arguments_digest,
    policyVersion: row.policy_version,
    policyReason: row.policy_reason,
    approversRequired: row.approvers_required,
    state: row.state,
    withdrawn: row.withdrawn,
    approvals: (json(row.approvals) as ApprovalStep[] | null) ?? [],
    decidedBy: row.decided_by,
    decisionReason: row.decision_reason,
    decidedAt: date(row.decided_at),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    expiresAt: new Date(row.expires_at),
    executedAt: date(row.executed_at),
    result: json(row.result) ?? null,
  };
}

export function toRecord(row: ApprovalRow): ApprovalRecord {
  const approval = toApproval(row);
  const expired = (approval.state === 'pending' || approval.state === 'approved') && approval.expiresAt.getTime() <= Date.now();
  return {
    id: approval.id,
    tenant: approval.tenant,
    tool: approval.tool,
    state: expired ? 'expired' : approval.state,
    createdAt: approval.createdAt,
    updatedAt: approval.updatedAt,
    expiresAt: approval.expiresAt,
    arguments: approval.arguments,
    decisionReason: approval.decisionReason ?? undefined,
    withdrawn: approval.withdrawn,
    result: approval.result,
    madeBy: (principal) => principal.tenant === row.tenant && callerOf(principal) === row.caller,
  };
}
