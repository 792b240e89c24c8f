import { IsIn, IsNumberString, IsOptional, IsString, IsUUID, MaxLength } from 'class-validator';
import { inject, injectable } from 'inversify';
import { isUuid, json, type HttpResponse, type RouteContribution, type RouteDefinition, type RouteRequest } from '../../../core/index.js';
import { AuditQuery, decodeCursor, type AuditEntry, type AuditFilter } from '../audit/audit-query.js';
import { AuditCheckpointer, checkpointLine } from '../audit/audit-checkpointer.js';
import { AuditVerifier } from '../audit/audit-verifier.js';
import { AdminGuard } from './admin-guard.js';
import { fieldsOf, invalid, IsDateTime, normalId, queryObject, representableDate, validated } from './validation.js';

const DECISIONS = ['allowed', 'denied', 'needs-approval', 'auth-failed', 'admin'];
const OUTCOMES = ['success', 'error', 'failed', 'denied', 'refused', 'intent', 'unknown'];
export const MAX_AUDIT_PAGE = 500;

export class AuditFilterDto {
  @IsOptional()
  @IsUUID('all', { message: 'agent must be an agent id (a UUID)' })
  agent?: string;

  @IsOptional()
  @IsString()
  @MaxLength(200)
  tool?: string;

  /** Alias of `tool`: the target (tool, resource, admin object) concerned. */
  @IsOptional()
  @IsString()
  @MaxLength(200)
  target?: string;

  @IsOptional()
  @IsString()
  @MaxLength(100)
  action?: string;

  @IsOptional()
  @IsIn(DECISIONS, { message: `decision must be one of ${DECISIONS.join(', ')}` })
  decision?: string;

  @IsOptional()
  @IsIn(OUTCOMES, { message: `outcome must be one of ${OUTCOMES.join(', ')}` })
  outcome?: string;

  @IsOptional()
  @IsDateTime('from must be an ISO 8601 date-time')
  from?: string;

  @IsOptional()
  @IsDateTime('to must be an ISO 8601 date-time')
  to?: string;
}

export class AuditPageDto extends AuditFilterDto {
  @IsOptional()
  @IsNumberString({ no_symbols: true }, { message: `limit must be a whole number from 1 to ${MAX_AUDIT_PAGE}` })
  limit?: string;

  @IsOptional()
  @IsString()
  @MaxLength(200)
  cursor?: string;
}

export class AuditVerifyDto {
  @IsOptional()
  @IsDateTime('from must be an ISO 8601 date-time')
  from?: string;

  @IsOptional()
  @IsDateTime('to must be an ISO 8601 date-time')
  to?: string;
}

export class AuditExportDto extends AuditFilterDto {
  @IsIn(['csv', 'jsonl'], { message: 'format must be csv or jsonl' })
  format!: string;
}

/** A target that is an id (of the agent, role, provider… an admin change was about) in its stored form; a tool name as given. */
function targetOf(target: string | undefined): string | undefined {
  return target !== undefined && isUuid(target) ? normalId(target) : target;
}

function filterOf(dto: AuditFilterDto): AuditFilter {
  return {
    agentId: dto.agent,
    tool: targetOf(dto.tool ?? dto.target),
    action: dto.action,
    decision: dto.decision,
    outcome: dto.outcome,
    from: dto.from ? representableDate(dto.from, 'from') : undefined,
    to: dto.to ? representableDate(dto.to, 'to') : undefined,
  };
}

/** The filters an export was asked for, as recorded in its audit event. */
function filterDetails(filter: AuditFilter): Record<string, string> {
  const given: Record<string, string> = {};
  for (const [name, value] of Object.entries(filter)) if (value !== undefined) given[name] = value instanceof Date ? value.toISOString() : String(value);
  return given;
}

export const CSV_COLUMNS = [
  'id', 'occurred_at', 'principal_kind', 'principal_id', 'principal_label', 'agent_id', 'key_id', 'issuer', 'subject',
  'action', 'target', 'decision', 'reason', 'outcome', 'latency_ms', 'request_id', 'client_address', 'arguments_digest',
  'arguments', 'details', 'seq', 'event_id', 'prev_hash', 'hash',
] as const;

/**
 * One CSV field (RFC 4180): quoted when it holds a quote, comma or line break. Text that a
 * spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR first) is prefixed with `'`.
 */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : JSON.stringify(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvLine(entry: AuditEntry): string {
  const values: unknown[] = [
    entry.id, entry.occurredAt, entry.principal.kind, entry.principal.id, entry.principal.label, entry.agentId, entry.keyId,
    entry.issuer, entry.subject, entry.action, entry.target, entry.decision, entry.reason, entry.outcome, entry.latencyMs,
    entry.requestId, entry.clientAddress, entry.argumentsDigest, entry.arguments, entry.details,
    entry.chain.seq, entry.chain.eventId, entry.chain.prevHash, entry.chain.hash,
  ];
  return `${values.map(csvField).join(',')}\r\n`;
}

/** `/api/v1/mcp/audit` and its export: the tenant's audit trail, read-only. */
@injectable()
export class AuditRoutes implements RouteContribution {
  constructor(
    @inject(AdminGuard) private readonly guard: AdminGuard,
    @inject(AuditQuery) private readonly audit: AuditQuery,
    @inject(AuditVerifier) private readonly verifier: AuditVerifier,
    @inject(AuditCheckpointer) private readonly checkpointer: AuditCheckpointer,
  ) {}

  routes(): RouteDefinition[] {
    return [
      { method: 'GET', path: '/api/v1/mcp/audit', handler: (req) => this.list(req) },
      { method: 'GET', path: '/api/v1/mcp/audit/export', handler: (req) => this.export(req) },
      { method: 'GET', path: '/api/v1/mcp/audit/verify', handler: (req) => this.verify(req) },
    ];
  }

  /** The tenant's hash chain checked now: the first broken link, or how much verified. */
  private async verify(req: RouteRequest): Promise<HttpResponse> {
    const admin = await this.guard.admit(req, fieldsOf(AuditVerifyDto));
    const dto = await validated(AuditVerifyDto, queryObject(req.query), 'The query');
    const result = await this.verifier.verify(admin.tenant, {
      from: dto.from ? representableDate(dto.from, 'from') : undefined,
      to: dto.to ? representableDate(dto.to, 'to') : undefined,
    });
    return json(200, { data: { ...result, verifiedAt: new Date().toISOString(), signingConfigured: this.checkpointer.enabled } });
  }

  private async list(req: RouteRequest): Promise<HttpResponse> {
    const admin = await this.guard.admit(req, fieldsOf(AuditPageDto));
    const dto = await validated(AuditPageDto, queryObject(req.query), 'The query');
    const limit = dto.limit === undefined ? 100 : Number(dto.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_PAGE) {
      throw invalid([{ field: 'limit', message: `limit must be a whole number from 1 to ${MAX_AUDIT_PAGE}` }]);
    }
    const cursor = dto.cursor === undefined ? undefined : decodeCursor(dto.cursor);
    if (dto.cursor !== undefined && !cursor) throw invalid([{ field: 'cursor', message: 'cursor is not one this API returned' }]);
    const { entries, nextCursor } = await this.audit.page(admin.tenant, filterOf(dto), limit, cursor);
    return json(200, { data: entries, nextCursor });
  }

  private async export(req: RouteRequest): Promise<HttpResponse> {
    // Reading the whole trail is itself recorded: refused (503) while the trail cannot record it.
    const admin = await this.guard.admitChange(req, fieldsOf(AuditExportDto));
    const dto = await validated(AuditExportDto, queryObject(req.query), 'The query');
    const filter = filterOf(dto);
    const started = performance.now();
    const pages = this.audit.pages(admin.tenant, filter, 500, req.signal);
    // The first page is read before the status line: a query that fails fails with its own status.
    const first = await pages.next();
    const csv = dto.format === 'csv';
    const requestId = req.requestId;
    const filtered = Object.values(filter).some((value) => value !== undefined);
    const checkpoints = csv ? [] : await this.checkpointer.list(admin.tenant);
    const guard = this.guard;
    async function* body(): AsyncGenerator<string> {
      // Lines are grouped into chunks so a large export is not one write per row.
      let chunk = '';
      let entries = 0;
      let ended: 'complete' | 'failed' | undefined;
      try {
        if (csv) yield `${CSV_COLUMNS.join(',')}\r\n`;
        else yield `${JSON.stringify({ type: 'export', tenant: admin.tenant, filtered, exportedAt: new Date().toISOString() })}\n`;
        try {
          for (let next = first; !next.done; next = await pages.next()) {
            for (const entry of next.value) {
              entries++;
              // `{"type":"event", ...the entry's members}`, without copying the entry first.
              chunk += csv ? csvLine(entry) : `{"type":"event",${JSON.stringify(entry).slice(1)}\n`;
              if (chunk.length >= 64 * 1024) {
                yield chunk;
                chunk = '';
              }
            }
          }
        } catch (error) {
          ended = 'failed';
          // Never a clean end after a failure: JSONL gets a final error record, then the response is
          // aborted (the HTTP layer drops the connection without ending the body).
          yield csv ? chunk : `${chunk}${JSON.stringify({ type: 'error', error: { code: 'export_failed', message: `The export failed after ${entries} entries; this file is incomplete (request ${requestId}).` } })}\n`;
          throw error;
        }
        // The signed checkpoints of the tenant's chain, so the export verifies offline.
        for (const checkpoint of checkpoints) chunk += `${JSON.stringify(checkpointLine(checkpoint))}\n`;
        if (chunk) yield chunk;
        ended = 'complete';
      } finally {
        // Also when the client went away or stopped reading: the writer stops the body, which
        // lets go of its page of rows here.
        await pages.return(undefined).catch(() => undefined);
        guard.recordAction(req, admin, {
          action: 'audit.export',
          target: csv ? 'csv' : 'jsonl',
          details: { format: csv ? 'csv' : 'jsonl', filter: filterDetails(filter), entries, complete: ended === 'complete' },
          outcome: ended === 'complete' ? 'success' : ended === 'failed' ? 'failed' : 'error',
          reason:
            ended === 'complete'
              ? undefined
              : ended === 'failed'
                ? `The export failed after ${entries} entries.`
                : `The client stopped the download after ${entries} entries; it has an incomplete file.`,
          latencyMs: Math.round(performance.now() - started),
        });
      }
    }
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    return {
      status: 200,
      headers: {
        'content-type': csv ? 'text/csv; charset=utf-8' : 'application/x-ndjson; charset=utf-8',
        'content-disposition': `attachment; filename="audit-${admin.tenant}-${stamp}.${csv ? 'csv' : 'jsonl'}"`,
        'cache-control': 'no-store',
      },
      body: body(),
    };
  }
}
