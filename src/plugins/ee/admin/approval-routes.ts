import { IsIn, IsOptional, IsString, IsUrl, Length, MaxLength } from 'class-validator';
import { inject, injectable } from 'inversify';
import { Database, HttpError, connectionLost, json, type HttpResponse, type RouteContribution, type RouteDefinition, type RouteRequest } from '../../../core/index.js';
import { ApprovalDecisionError } from '../approvals/approval-errors.js';
import { ApprovalStore } from '../approvals/approval-store.js';
import type { Approval } from '../approvals/approval-record.js';
import { ApprovalWebhook } from '../approvals/approval-webhook.js';
import { AuditSinkSettings } from '../audit/audit-sink-settings.js';
import { redactor } from '../audit/redaction.js';
import { neverReached } from '../outbound-fetch.js';
import { AdminGuard } from './admin-guard.js';
import { fieldsOf, invalid, notFound, pathId, queryObject, validated } from './validation.js';

const STATES = ['pending', 'approved', 'denied', 'expired', 'executed'];

export class ApprovalListDto {
  @IsOptional()
  @IsIn(STATES, { message: `state must be one of ${STATES.join(', ')}` })
  state?: string;
}

export class ApproveDto {
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  reason?: string;
}

export class DenyDto {
  @IsString({ message: ({ value }) => (value === undefined ? 'reason is required: tell the caller why' : 'reason must be a string') })
  @Length(1, 1000, { message: 'reason is required (1 to 1000 characters): tell the caller why' })
  reason!: string;
}

export class WebhookDto {
  @IsString({ message: ({ value }) => (value === undefined ? 'url is required (an http or https URL)' : 'url must be a string') })
  @MaxLength(2000)
  @IsUrl({ protocols: ['http', 'https'], require_protocol: true, require_tld: false }, { message: 'url must be an http or https URL' })
  url!: string;
}

/**
 * A stored webhook URL as the admin API shows it. URLs with credentials are refused since they were
 * shown in full wherever the URL was (the API, the admin UI, screenshots); one saved before keeps
 * working (deliveries use it as stored) but is shown with its password masked, or its user name
 * when that is all there is (a token in the user name is the secret).
 */
export function shownUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url;
  }
  if (parsed.password) parsed.password = '***';
  else if (parsed.username) parsed.username = '***';
  else return url;
  return parsed.href;
}

/**
 * `/api/v1/mcp/approvals`: the calls held for approval (pending first), one request with its audit
 * trail, and the approve / deny decisions. Arguments are shown redacted like the audit trail.
 */
@injectable()
export class ApprovalRoutes implements RouteContribution {
  private readonly redact: (args: unknown) => unknown;

  constructor(
    @inject(AdminGuard) private readonly guard: AdminGuard,
    @inject(ApprovalStore) private readonly approvals: ApprovalStore,
    @inject(Database) private readonly database: Database,
    @inject(AuditSinkSettings) settings: AuditSinkSettings,
    @inject(ApprovalWebhook) private readonly webhook: ApprovalWebhook,
  ) {
    this.redact = redactor(settings.redaction);
  }

  routes(): RouteDefinition[] {
    return [
      { method: 'GET', path: '/api/v1/mcp/approvals', handler: (req) => this.list(req) },
      { method: 'GET', path: '/api/v1/mcp/approvals/:id', handler: (req) => this.get(req) },
      { method: 'POST', path: '/api/v1/mcp/approvals/:id/approve', handler: (req) => this.decide(req, 'approve') },
      { method: 'POST', path: '/api/v1/mcp/approvals/:id/deny', handler: (req) => this.decide(req, 'deny') },
      { method: 'GET', path: '/api/v1/mcp/approval-webhook', handler: (req) => this.getWebhook(req) },
      { method: 'PUT', path: '/api/v1/mcp/approval-webhook', handler: (req) => this.setWebhook(req) },
      { method: 'DELETE', path: '/api/v1/mcp/approval-webhook', handler: (req) => this.removeWebhook(req) },
      { method: 'POST', path: '/api/v1/mcp/approval-webhook/test', handler: (req) => this.testWebhook(req) },
    ];
  }

  private async getWebhook(req: RouteRequest): Promise<HttpResponse> {
    const admin = await this.guard.admit(req);
    const config = await this.webhook.get(admin.tenant);
    return json(200, { data: config ? { url: shownUrl(config.url), active: config.active, updatedAt: config.updatedAt.toISOString() } : null });
  }

  /** Set the URL; answers the new signing secret, shown this once. */
  private async setWebhook(req: RouteRequest): Promise<HttpResponse> {
    const admin = await this.guard.admitChange(req);
    const { url } = await validated(WebhookDto, await req.json());
    const parsed = new URL(url);
    if (parsed.username || parsed.password) {
      throw invalid([{ field: 'url', message: 'url must not contain a user name or password: a receiver authenticates events by their Gatehouse-Signature header' }]);
    }
    const refused = neverReached(parsed);
    if (refused) throw invalid([{ field: 'url', message: `url must not name ${refused}` }]);
    const config = await this.webhook.set(admin.tenant, url);
    this.guard.recordChange(req, admin, 'approvals.webhook.set', 'approval-webhook', { url });
    return json(200, { data: { url: shownUrl(config.url), active: config.active, updatedAt: config.updatedAt.toISOString(), secret: config.secret } });
  }

  private async removeWebhook(req: RouteRequest): Promise<HttpResponse> {
    const admin = await this.guard.admitChange(req);
    if (!(await this.webhook.remove(admin.tenant))) throw notFound('approval webhook');
    this.guard.recordChange(req, admin, 'approvals.webhook.delete', 'approval-webhook', {});
    return json(200, { data: { deleted: true } });
  }

  private async testWebhook(req: RouteRequest): Promise<HttpResponse> {
    const admin = await this.guard.admitChange(req);
    const result = await this.webhook.test(admin.tenant);
    if (!result) throw notFound('approval webhook');
    return json(200, { data: result });
  }

  private view(approval: Approval): Record<string, unknown> {
    return {
      id: approval.id,
      tool: approval.tool,
      target: approval.target,
      principal: approval.principal,
      arguments: this.redact(approval.arguments),
      argumentsDigest: approval.argumentsDigest,
      policyVersion: approval.policyVersion,
      policyReason: approval.policyReason,
      approversRequired: approval.approversRequired,
      state: approval.state,
      withdrawn: approval.withdrawn,
      approvals: approval.approvals,
      decidedBy: approval.decidedBy,
      decisionReason: approval.decisionReason,
      decidedAt: approval.decidedAt?.toISOString() ?? null,
      createdAt: approval.createdAt.toISOString(),
      expiresAt: approval.expiresAt.toISOString(),
      executedAt: approval.executedAt?.toISOString() ?? null,
    };
  }

  private async list(req: RouteRequest): Promise<HttpResponse> {
    const admin = await this.guard.admit(req, fieldsOf(ApprovalListDto));
    const filter = await validated(ApprovalListDto, queryObject(req.query), 'The query');
    const list = await this.approvals.list(admin.tenant, filter.state ? { state: filter.state as Approval['state'] } : {});
    return json(200, { data: list.map((approval) => this.view(approval)) });
  }

  private async get(req: RouteRequest): Promise<HttpResponse> {
    const admin = await this.guard.admit(req);
    const id = pathId(req.params.id, 'approval request');
    const approval = await this.approvals.get(admin.tenant, id);
    if (!approval) throw notFound('approval request');
    const events = (await this.database.read(() =>
      this.database
        .forTenant(admin.tenant)
        .table('mcp_agent_audit')
        .whereRaw("details->>'approvalId' = ?", [id])
        .orderBy('id')
        .select('occurred_at', 'action', 'decision', 'outcome', 'reason', 'principal_label', 'request_id'),
    )) as Record<string, unknown>[];
    return json(200, {
      data: {
        ...this.view(approval),
        audit: events.map((e) => ({
          time: new Date(e.occurred_at as string).toISOString(),
          action: e.action,
          decision: e.decision,
          outcome: e.outcome,
          reason: e.reason,
          principal: e.principal_label,
          requestId: e.request_id,
        })),
      },
    });
  }

  private async decide(req: RouteRequest, verdict: 'approve' | 'deny'): Promise<HttpResponse> {
    const admin = await this.guard.admitChange(req);
    const id = pathId(req.params.id, 'approval request');
    // Approving needs no body; denying needs a reason.
    const raw = (await req.body()).length ? await req.json() : {};
    const body = verdict === 'deny' ? await validated(DenyDto, raw) : await validated(ApproveDto, raw);
    const reason = body.reason?.trim() ?? '';
    let approval: Approval;
    try {
      approval = await this.approvals.decide(admin.tenant, id, admin, verdict, reason);
    } catch (error) {
      if (error instanceof ApprovalDecisionError) throw new HttpError(error.status, error.code, error.message);
      if (connectionLost(error)) {
        // The decision may have committed with its answer lost: the trail says it may have been made
        // (the caller is answered 503; a retry is told what the request is now).
        this.guard.recordAction(req, admin, {
          action: `approvals.${verdict}`,
          target: id,
          details: { approvalId: id, ...(reason ? { reason } : {}) },
          outcome: 'unknown',
          reason: 'the database connection was lost while the decision was being written: it may or may not have been made',
        });
      }
      throw error;
    }
    this.guard.recordChange(req, admin, `approvals.${verdict}`, approval.tool, {
      approvalId: approval.id,
      state: approval.state,
      ...(reason ? { reason } : {}),
      approvals: approval.approvals.length,
      approversRequired: approval.approversRequired,
    });
    return json(200, { data: this.view(approval) });
  }
}
