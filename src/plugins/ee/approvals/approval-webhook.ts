import { createHmac, randomBytes, randomUUID } from 'node:crypto';
import { inject, injectable } from 'inversify';
import { Database, EngineConfig, Logger, safeLog, assertTenant, type LifecycleContribution } from '../../../core/index.js';
import { AuditSinkSettings } from '../audit/audit-sink-settings.js';
import { redactor } from '../audit/redaction.js';
import { OutboundRefusedError, outboundFetch } from '../outbound-fetch.js';
import { ApprovalSettings } from './approval-settings.js';
import { ApprovalStore, type ApprovalDecision } from './approval-store.js';
import type { Approval } from './approval-record.js';

/** A tenant's webhook, as the admin API shows it (the secret only once, when it is made). */
export interface ApprovalWebhookConfig {
  readonly url: string;
  readonly active: boolean;
  readonly updatedAt: Date;
}

/** What one delivery attempt came to. */
export interface DeliveryResult {
  readonly delivered: boolean;
  readonly status?: number;
  readonly error?: string;
}

interface Row {
  tenant: string;
  url: string;
  secret: string;
  active: boolean;
  updated_at: Date | string;
}

const TABLE = 'mcp_approval_webhooks';

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: what a receiver recomputes with the shared secret. */
export function signature(secret: string, timestamp: number, body: string): string {
  return `t=${timestamp},v1=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

/**
 * The per-tenant outgoing webhook: every new approval request (`approval.requested`) and every
 * decision on one (`approval.decided`) is POSTed as JSON, signed with HMAC-SHA256 over the
 * timestamp and the body (`Gatehouse-Signature`), retried with exponential backoff, with a link to
 * the Approvals page.
 */
@injectable()
export class ApprovalWebhook implements LifecycleContribution {
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly redact: (args: unknown) => unknown;
  private stopped = false;

  constructor(
    @inject(Database) private readonly database: Database,
    @inject(ApprovalStore) store: ApprovalStore,
    @inject(ApprovalSettings) private readonly settings: ApprovalSettings,
    @inject(EngineConfig) private readonly config: EngineConfig,
    @inject(Logger) private readonly logger: Logger,
    @inject(AuditSinkSettings) audit: AuditSinkSettings,
  ) {
    this.redact = redactor(audit.redaction);
    store.onRequested((approval) => this.track(this.announce(approval), approval));
    store.onDecided((decision) => this.track(this.announceDecision(decision), decision.approval));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.allSettled([...this.inFlight]);
  }

  /** Keep `work` until it settles; a failure (its settings unreadable in an outage) is logged, never left unhandled. */
  private track(work: Promise<unknown>, approval: Approval): void {
    const settled = work.then(
      () => undefined,
      (error: unknown) => safeLog(this.logger, 'warn', { err: error, tenant: approval.tenant, approvalId: approval.id }, 'approval webhook not sent: its settings could not be read'),
    );
    this.inFlight.add(settled);
    void settled.finally(() => this.inFlight.delete(settled));
  }

  /** The Approvals page of the admin UI. */
  private pageUrl(tenant: string): string {
    const base = this.settings.uiUrl ?? `${this.config.publicUrl.replace(/\/$/, '')}${this.config.basePath}/admin`;
    return `${base}#/approvals?tenant=${encodeURIComponent(tenant)}`;
  }

  async get(tenant: string): Promise<ApprovalWebhookConfig | undefined> {
    const row = (await this.database.read(() => this.database.forTenant(tenant).table<Row>(TABLE).first())) as Row | undefined;
    return row ? { url: row.url, active: row.active, updatedAt: new Date(row.updated_at) } : undefined;
  }

  /**
   * Set the tenant's webhook URL; a new signing secret is made and returned (shown once). One
   * statement, an upsert that returns the row it wrote: concurrent saves each succeed (the last one
   * stays), and each answers what it stored itself, never another save's URL. Run again when its
   * connection is lost, as a read is: it writes the same URL and secret again, so a save whose
   * commit happened with its answer lost still answers the secret it stored.
   */
  async set(tenant: string, url: string): Promise<ApprovalWebhookConfig & { secret: string }> {
    assertTenant(tenant);
    const secret = `whsec_${randomBytes(24).toString('base64url')}`;
    const knex = this.database.knex;
    const [row] = (await this.database.read(() =>
      knex(TABLE)
        .insert({ tenant, url, secret, active: true })
        .onConflict('tenant')
        .merge({ url, secret, active: true, updated_at: knex.fn.now() })
        .returning(['url', 'secret', 'active', 'updated_at']),
    )) as Row[];
    return { url: row!.url, active: row!.active, updatedAt: new Date(row!.updated_at), secret: row!.secret };
  }

  /**
   * Remove the tenant's webhook; false when it had none. Run again when its connection is lost:
   * a later attempt that finds none left answers true, since the webhook is gone as asked (an
   * earlier attempt may have deleted it with its answer lost, which cannot be told apart from
   * there having been none).
   */
  async remove(tenant: string): Promise<boolean> {
    let attempt = 0;
    return this.database.read(async () => {
      const again = ++attempt > 1;
      const deleted = (await this.database.forTenant(tenant).table(TABLE).delete().returning('tenant')) as unknown[];
      return deleted.length > 0 || again;
    });
  }

  /** Send a test event once (no retries): what the admin's test button shows. */
  async test(tenant: string): Promise<DeliveryResult | undefined> {
    const row = (await this.database.read(() => this.database.forTenant(tenant).table<Row>(TABLE).first())) as Row | undefined;
    if (!row) return undefined;
    return this.attempt(row, { type: 'approval.test', id: randomUUID(), tenant, url: this.pageUrl(tenant), sentAt: new Date().toISOString() });
  }

  private async announce(approval: Approval): Promise<void> {
    await this.deliver(approval, {
      type: 'approval.requested',
      id: approval.id,
      tenant: approval.tenant,
      tool: approval.tool,
      target: approval.target,
      requestedBy: { kind: approval.principal.kind, label: approval.principal.label, agentId: approval.principal.agentId },
      arguments: this.redact(approval.arguments),
      policyReason: approval.policyReason,
      approversRequired: approval.approversRequired,
      createdAt: approval.createdAt.toISOString(),
      expiresAt: approval.expiresAt.toISOString(),
      url: this.pageUrl(approval.tenant),
    });
  }

  /** A decision on a request: one event per decision (`decisionId`), whichever attempt of it committed. */
  private async announceDecision({ decisionId, verdict, approver, approval }: ApprovalDecision): Promise<void> {
    await this.deliver(approval, {
      type: 'approval.decided',
      id: approval.id,
      decisionId,
      tenant: approval.tenant,
      tool: approval.tool,
      target: approval.target,
      decision: verdict,
      decidedBy: { kind: approver.kind, label: approver.label },
      reason: approver.reason,
      state: approval.state,
      approvals: approval.approvals.length,
      approversRequired: approval.approversRequired,
      decidedAt: approver.at,
      url: this.pageUrl(approval.tenant),
    });
  }

  /** Send `event` about `approval` to the tenant's active webhook, if any, retrying with backoff. */
  private async deliver(approval: Approval, event: Record<string, unknown>): Promise<void> {
    const row = (await this.database.read(() => this.database.forTenant(approval.tenant).table<Row>(TABLE).where({ active: true }).first())) as Row | undefined;
    if (!row) return;
    let delay = this.settings.webhookRetryDelayMs;
    for (let attempt = 1; attempt <= this.settings.webhookAttempts; attempt++) {
      const result = await this.attempt(row, event);
      if (result.delivered) return;
      if (attempt === this.settings.webhookAttempts || this.stopped) {
        safeLog(this.logger, 'warn', { tenant: approval.tenant, approvalId: approval.id, event: event.type, attempts: attempt, status: result.status, error: result.error }, 'approval webhook not delivered');
        return;
      }
      await sleep(delay);
      delay *= 2;
    }
  }

  private async attempt(row: Row, event: Record<string, unknown>): Promise<DeliveryResult> {
    const body = JSON.stringify(event);
    const timestamp = Math.floor(Date.now() / 1000);
    try {
      const response = await outboundFetch(row.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Gatehouse-Webhook/1',
          'gatehouse-event': String(event.type),
          'gatehouse-delivery': randomUUID(),
          'gatehouse-signature': signature(row.secret, timestamp, body),
        },
        body,
        signal: AbortSignal.timeout(this.settings.webhookTimeoutMs),
      });
      await response.arrayBuffer().catch(() => undefined);
      return response.ok ? { delivered: true, status: response.status } : { delivered: false, status: response.status, error: `HTTP ${response.status}` };
    } catch (error) {
      if (error instanceof OutboundRefusedError) return { delivered: false, error: `not sent: ${error.message}` };
      return { delivered: false, error: (error as Error).name === 'TimeoutError' ? 'timed out' : 'could not connect' };
    }
  }
}
