import { inject, injectable, optional } from 'inversify';
import { AuditSink, AuditUnavailableError, HttpError, TENANT_ID, bearerChallenge, unstorableText, type AuditOutcome, type Principal, type RouteRequest } from '../../../core/index.js';
import { ADMIN_SCOPE } from '../contracts.js';
import { AdminSettings } from './admin-settings.js';
import { invalid, queryProblems } from './validation.js';

/**
 * Browser admin sessions (the admin UI's cookie): the admin of a request that carries a live
 * session, else undefined. Throws 403 for a change made with the cookie but without its CSRF token.
 */
export interface AdminSessionResolver {
  resolve(req: RouteRequest): Promise<Principal | undefined>;
}

export const AdminSessionResolver = Symbol.for('gatehouse.ee.AdminSessionResolver');

/** `Principal.kind` of an admin accepted by the host's admin authenticator. */
export const HOST_ADMIN_KIND = 'host-admin';

/**
 * Admits admin API requests: the host's admin authenticator when configured, else a credential
 * with scope `admin`. No credential → 401; a valid non-admin credential → 403. The admin's tenant
 * is the tenant of every object the request can see.
 */
@injectable()
export class AdminGuard {
  constructor(
    @inject(AdminSettings) private readonly settings: AdminSettings,
    @inject(AuditSink) private readonly audit: AuditSink,
    @inject(AdminSessionResolver) @optional() private readonly sessions?: AdminSessionResolver,
  ) {}

  /**
   * The admin of the request. `query` names the query parameters the route takes: any other, or
   * one given twice, is refused with 400 once the caller is admitted.
   */
  async admit(req: RouteRequest, query: readonly string[] = []): Promise<Principal> {
    const admin = await this.admitted(req);
    const problems = queryProblems(req.query, query);
    if (problems.length) throw invalid(problems);
    return admin;
  }

  private async admitted(req: RouteRequest): Promise<Principal> {
    const session = await this.sessions?.resolve(req);
    if (session) {
      // Like every other admin credential, a session acts only at its own tenant's URLs.
      if (req.tenantHint !== undefined && req.tenantHint !== session.tenant) {
        throw new HttpError(403, 'forbidden', 'This admin session is not valid for this tenant.');
      }
      return session;
    }
    const host = await this.settings.adminAuthenticator?.(req);
    if (host) {
      if (typeof host.tenant !== 'string' || !TENANT_ID.test(host.tenant)) {
        throw new HttpError(403, 'forbidden', 'The admin session does not name a valid tenant.');
      }
      if (req.tenantHint !== undefined && req.tenantHint !== host.tenant) {
        throw new HttpError(403, 'forbidden', 'This admin session is not valid for this tenant.');
      }
      const label = hostAdminLabel(host);
      return { tenant: host.tenant, kind: HOST_ADMIN_KIND, id: label, label, scopes: [ADMIN_SCOPE], attributes: {} };
    }
    const principal = await req.authenticate().catch((error: unknown) => {
      throw adminChallenge(error);
    });
    if (!principal.scopes.includes(ADMIN_SCOPE)) {
      throw new HttpError(403, 'forbidden', 'This credential cannot use the admin API: an admin credential is required.', {
        headers: { 'www-authenticate': `Bearer error="insufficient_scope", scope="${ADMIN_SCOPE}"` },
      });
    }
    return principal;
  }

  /** Admit a request that changes something: also refused (503) while the audit trail cannot record it. */
  async admitChange(req: RouteRequest, query: readonly string[] = []): Promise<Principal> {
    const principal = await this.admit(req, query);
    if (!this.audit.accepting()) throw new AuditUnavailableError('The audit trail is not accepting events; the change was not made.');
    return principal;
  }

  /** Record an admin change: who (the admin), which object, what changed. */
  recordChange(req: RouteRequest, admin: Principal, action: string, target: string, details: Record<string, unknown>): void {
    this.recordAction(req, admin, { action, target, details, outcome: 'success' });
  }

  /** Record what an admin did (a change, or a read that is itself evidence, such as an audit export). */
  recordAction(
    req: RouteRequest,
    admin: Principal,
    event: { action: string; target: string; details: Record<string, unknown>; outcome: AuditOutcome; reason?: string; latencyMs?: number },
  ): void {
    this.audit.record({
      time: new Date(),
      tenant: admin.tenant,
      principal: admin,
      action: event.action,
      target: event.target,
      decision: 'admin',
      reason: event.reason,
      outcome: event.outcome,
      arguments: undefined,
      latencyMs: event.latencyMs,
      requestId: req.requestId,
      clientAddress: req.clientAddress,
      details: event.details,
    });
  }
}

/**
 * A refused credential's 401, challenging for the admin API: the engine's authenticator answers
 * for the MCP endpoint (`scope="mcp"` and its protected-resource metadata, which an OAuth client
 * would follow to get a token for MCP, not for this API). The admin API takes an admin credential:
 * `scope="admin"`, with the error and its description when a credential was sent (RFC 6750 §3.1).
 */
function adminChallenge(error: unknown): unknown {
  if (!(error instanceof HttpError) || error.status !== 401) return error;
  const failed = error.code === 'invalid_token' || error.code === 'invalid_request' ? { error: error.code, error_description: error.message } : {};
  const challenge = bearerChallenge({ realm: 'gatehouse', scope: ADMIN_SCOPE, ...failed });
  return new HttpError(401, error.code, error.message, { headers: { ...error.headers, 'www-authenticate': challenge }, details: error.details });
}

/**
 * The label of an admin the host's authenticator names: it is stored (who created an agent, who
 * approved a call), so text PostgreSQL cannot hold is refused rather than failing the change.
 */
export function hostAdminLabel(host: { readonly label?: unknown }): string {
  const label = String(host.label ?? 'admin');
  const unstorable = unstorableText(label);
  if (unstorable !== undefined) throw new HttpError(403, 'forbidden', `The admin session's label ${unstorable}: the host's admin authenticator must give valid text.`);
  return label;
}
