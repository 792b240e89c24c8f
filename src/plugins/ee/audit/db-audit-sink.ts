import { inject, injectable } from 'inversify';
import { AuditUnavailableError, Database, Logger, Telemetry, isUuid, type AuditEvent, type AuditSink } from '../../../core/index.js';
import { AGENT_KIND, type AgentAttributes } from '../contracts.js';
import { AuditSinkSettings } from './audit-sink-settings.js';
import { argumentsDigest, redactor } from './redaction.js';

/** A row of `mcp_agent_audit` as inserted. */
export interface AuditRow {
  tenant: string;
  occurred_at: Date;
  principal_kind: string | null;
  principal_id: string | null;
  principal_label: string | null;
  agent_id: string | null;
  key_id: string | null;
  issuer: string | null;
  subject: string | null;
  action: string;
  target: string | null;
  decision: string;
  reason: string | null;
  outcome: string;
  arguments_digest: string | null;
  arguments: string | null;
  latency_ms: number | null;
  request_id: string;
  client_address: string | null;
  details: string | null;
}

export const AUDIT_TABLE = 'mcp_agent_audit';

// PostgreSQL refuses NUL in text and jsonb; replace it rather than lose the event.
const NUL = /\u0000/g;
const text = (value: unknown): string | null => (typeof value === 'string' ? value.replace(NUL, '\uFFFD') : value == null ? null : String(value).replace(NUL, '\uFFFD'));
const uuidOrNull = (value: unknown): string | null => (typeof value === 'string' && isUuid(value) ? value : null);
const stringOf = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
// Data errors (class 22) and constraint violations (class 23) do not go away on retry.
const isDataError = (error: unknown): boolean => /^2[23]/.test(String((error as { code?: unknown })?.code ?? ''));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The Enterprise audit trail in `mcp_agent_audit`. `record()` only redacts and enqueues; a
 * background flusher writes multi-row batches, retries failed writes with backoff (keeping the
 * events), and past `maxBuffered` pending events reports `accepting() === false` so the engine
 * refuses new calls instead of running them unaudited. Rows are only ever inserted.
 */
@injectable()
export class DbAuditSink implements AuditSink {
  private buffer: AuditRow[] = [];
  private recorded = 0;
  private persisted = 0;
  private saturated = false;
  private failures = 0;
  private retryAt = 0;
  private pumping: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly redact: (args: unknown) => unknown;

  constructor(
    @inject(Database) private readonly database: Database,
    @inject(AuditSinkSettings) private readonly settings: AuditSinkSettings,
    @inject(Logger) private readonly logger: Logger,
    @inject(Telemetry) private readonly telemetry: Telemetry,
  ) {
    this.redact = redactor(settings.redaction);
    telemetry.observe('gatehouse.audit.queue.depth', { description: 'Audit events recorded but not yet written.', unit: '{event}' }, (observe) => observe(this.buffer.length));
  }

  record(event: AuditEvent): void {
    let row: AuditRow;
    try {
      row = this.toRow(event);
    } catch (error) {
      row = { ...this.toRow({ ...event, arguments: undefined, details: undefined }), details: JSON.stringify({ auditError: `arguments not storable: ${(error as Error).message}` }) };
    }
    this.buffer.push(row);
    this.recorded++;
    if (this.buffer.length >= this.settings.maxBuffered && !this.saturated) {
      this.saturated = true;
      this.logger.error({ pending: this.buffer.length }, 'audit buffer full: refusing new calls until it drains');
    }
    this.timer ??= setInterval(() => this.kick(), this.settings.flushIntervalMs).unref();
    if (this.buffer.length >= this.settings.batchSize) this.kick();
  }

  accepting(): boolean {
    return !this.saturated;
  }

  /** Events recorded but not yet written. */
  pending(): number {
    return this.buffer.length;
  }

  async flush(timeoutMs = this.settings.flushTimeoutMs): Promise<void> {
    const target = this.recorded;
    const deadline = Date.now() + timeoutMs;
    while (this.persisted < target) {
      if (this.pumping) {
        await this.pumping;
        continue;
      }
      const now = Date.now();
      if (now >= deadline) {
        throw new AuditUnavailableError(`${target - this.persisted} audit event(s) could not be written to the database.`);
      }
      if (now < this.retryAt) await sleep(Math.min(this.retryAt - now, deadline - now));
      else this.kick();
    }
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } catch (error) {
      this.logger.error({ err: error, pending: this.buffer.length }, 'audit events lost at shutdown: the database did not accept them');
    } finally {
      if (this.timer) clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  private kick(): void {
    if (this.pumping || this.buffer.length === 0 || Date.now() < this.retryAt) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined;
    });
  }

  private async pump(): Promise<void> {
    while (this.buffer.length > 0) {
      const batch = this.buffer.slice(0, this.settings.batchSize);
      try {
        await this.telemetry.span('gatehouse.audit.flush', undefined, () => this.write(batch), { 'gatehouse.audit.events': batch.length });
      } catch (error) {
        this.telemetry.auditWriteFailed();
        this.failures++;
        const delay = Math.min(this.settings.maxRetryDelayMs, this.settings.retryDelayMs * 2 ** (this.failures - 1));
        this.retryAt = Date.now() + delay;
        if (this.failures === 1 || this.failures % 20 === 0) {
          this.logger.warn({ err: error, pending: this.buffer.length, failures: this.failures, retryInMs: delay }, 'audit write failed; retrying');
        }
        return;
      }
      this.buffer.splice(0, batch.length);
      this.persisted += batch.length;
      this.telemetry.auditWrite(batch.map((row) => row.occurred_at));
      if (this.failures > 0) this.logger.info({ failures: this.failures }, 'audit writes recovered');
      this.failures = 0;
      this.retryAt = 0;
      if (this.saturated && this.buffer.length <= Math.floor(this.settings.maxBuffered / 2)) {
        this.saturated = false;
        this.logger.info({ pending: this.buffer.length }, 'audit buffer drained: accepting calls again');
      }
    }
  }

  private async write(batch: AuditRow[]): Promise<void> {
    try {
      await this.database.knex(AUDIT_TABLE).insert(batch);
    } catch (error) {
      if (!isDataError(error)) throw error;
      // One unstorable row must not block the trail: write rows one by one, degrading the bad ones.
      for (const row of batch) {
        try {
          await this.database.knex(AUDIT_TABLE).insert(row);
        } catch (rowError) {
          if (!isDataError(rowError)) throw rowError;
          await this.database.knex(AUDIT_TABLE).insert({
            ...row,
            arguments: null,
            details: JSON.stringify({ auditError: `event stored without arguments and details: ${(rowError as Error).message}`.slice(0, 500) }),
          });
        }
      }
    }
  }

  private toRow(event: AuditEvent): AuditRow {
    const principal = event.principal;
    const agent = principal?.kind === AGENT_KIND ? (principal.attributes as Partial<AgentAttributes>) : undefined;
    const details = event.details;
    const hasArguments = event.arguments !== undefined;
    let stored: string | null = null;
    if (hasArguments) {
      stored = JSON.stringify(this.redact(event.arguments))?.replace(/\\u0000/g, '\\ufffd') ?? null;
      if (stored !== null && Buffer.byteLength(stored) > this.settings.maxArgumentBytes) {
        stored = JSON.stringify({ truncated: true, bytes: Buffer.byteLength(stored) });
      }
    }
    const storedDetails = details ? JSON.stringify(this.redact(details))?.replace(/\\u0000/g, '\\ufffd') ?? null : null;
    return {
      tenant: event.tenant,
      occurred_at: event.time,
      principal_kind: text(principal?.kind),
      principal_id: text(principal?.id),
      principal_label: text(principal?.label),
      agent_id: uuidOrNull(agent?.agentId),
      key_id: uuidOrNull(agent ? agent.keyId : (principal?.attributes.keyId ?? (principal?.kind === 'api-key' ? principal.id : undefined))),
      issuer: text(agent?.issuer ?? stringOf(details?.issuer)),
      subject: text(agent?.subject ?? stringOf(details?.subject)),
      action: text(event.action)!,
      target: text(event.target),
      decision: event.decision,
      reason: text(event.reason),
      outcome: event.outcome,
      arguments_digest: hasArguments ? argumentsDigest(event.arguments) : null,
      arguments: stored,
      latency_ms: event.latencyMs ?? null,
      request_id: text(event.requestId)!,
      client_address: text(event.clientAddress),
      details: storedDetails,
    };
  }
}
