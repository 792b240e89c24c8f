import { inject, injectable } from 'inversify';
import { Authenticator, type AuthRequest, type AuthResult } from '../ports/authenticator.js';
import { AuditTrail } from '../audit/audit-trail.js';
import type { Principal } from '../ports/principal.js';
import { EngineConfig } from '../kernel/config.js';
import { DependencyUnavailableError, HttpError } from '../errors.js';
import type { HttpRequest } from './types.js';
import { Telemetry } from '../telemetry/telemetry.js';

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';

// Header values must be visible ASCII: anything else (an accented letter in a message) would make
// the HTTP layer refuse to send the response at all.
const quote = (value: string): string => `"${value.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, '\\$&')}"`;

export function bearerChallenge(params: Readonly<Record<string, string | undefined>>): string {
  const parts = Object.entries(params)
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([key, value]) => `${key}=${quote(value)}`);
  return parts.length ? `Bearer ${parts.join(', ')}` : 'Bearer';
}

/** The canonical URL of the MCP endpoint (of one tenant, for per-tenant URLs). */
export function mcpResourceUrl(config: EngineConfig, tenant?: string): string {
  if (tenant && config.tenantHost) return `${tenantOrigin(config, tenant)}${config.basePath}${config.mcpPath}`;
  const tenantPath = tenant ? `/t/${tenant}` : '';
  return `${config.publicUrl}${config.basePath}${tenantPath}${config.mcpPath}`;
}

/** The origin a tenant's URLs live at: its own host under host-based tenancy, else the public URL. */
export function tenantOrigin(config: EngineConfig, tenant: string): string {
  if (!config.tenantHost) return config.publicUrl;
  return `${new URL(config.publicUrl).protocol}//${config.tenantHost.host(tenant)}`;
}

/**
 * Authenticates HTTP requests through the bound {@link Authenticator}: turns failures into `401`
 * with `WWW-Authenticate` (or, when the credential could not be checked for an outage, into
 * {@link DependencyUnavailableError}: `503` with `Retry-After`), audits them where the tenant is
 * known, and refuses a principal of another tenant than the one the URL names.
 */
@injectable()
export class RequestAuthenticator {
  constructor(
    @inject(Authenticator) private readonly authenticator: Authenticator,
    @inject(AuditTrail) private readonly audit: AuditTrail,
    @inject(EngineConfig) private readonly config: EngineConfig,
    @inject(Telemetry) private readonly telemetry: Telemetry,
  ) {}

  async authenticate(req: HttpRequest, tenantHint: string | undefined, requestId: string, resource?: string): Promise<Principal> {
    return this.authenticateNow(req, tenantHint, requestId, resource);
  }

  /**
   * {@link authenticate}, answered at once (no promise) when the authenticator answers at once (a
   * cached credential); a failure then throws instead of rejecting.
   */
  authenticateNow(req: HttpRequest, tenantHint: string | undefined, requestId: string, resource = mcpResourceUrl(this.config, tenantHint)): Principal | Promise<Principal> {
    // The lookup itself, not a function of `req`: an authenticator may keep what it was given, and
    // `req` keeps the whole exchange (response, connection) alive.
    const request: AuthRequest = { header: req.header, tenantHint, resource, clientAddress: req.clientAddress, requestId };
    const result = this.authenticator.authenticate(request);
    return isThenable(result) ? Promise.resolve(result).then((answer) => this.principalOf(answer, req, request)) : this.principalOf(result, req, request);
  }

  private principalOf(result: AuthResult, req: HttpRequest, request: AuthRequest): Principal {
    const { tenantHint, requestId } = request;
    if (result.ok) {
      if (tenantHint === undefined || result.principal.tenant === tenantHint) return result.principal;
      this.telemetry.authFailure('wrong_tenant');
      this.recordFailure(req, requestId, tenantHint, 'credential of another tenant');
      throw this.unauthorized(request, 'invalid_token', 'This credential is not valid for this tenant.');
    }
    if (result.unavailable) {
      // Not the credential's fault: the caller retries it later instead of discarding it.
      this.telemetry.authFailure('unavailable');
      const tenant = result.tenant ?? tenantHint;
      if (tenant) this.recordFailure(req, requestId, tenant, result.description);
      throw new DependencyUnavailableError(result.description, { retryAfterSeconds: result.unavailable.retryAfterSeconds, reported: true });
    }
    this.telemetry.authFailure(result.error === undefined ? 'missing_credential' : result.error === 'invalid_request' ? 'malformed_credential' : 'invalid_credential');
    if (result.error) {
      if (result.tenant !== undefined && tenantHint !== undefined && result.tenant !== tenantHint) {
        // A refused credential of one tenant presented at another's endpoint: its own tenant learns
        // why it was refused, but not the other tenant's URL; the tenant whose endpoint it was
        // presented at, that a credential of another tenant was, as for one that is valid.
        this.recordFailure(req, requestId, result.tenant, `${result.description} It was presented at another tenant's endpoint.`, null);
        this.recordFailure(req, requestId, tenantHint, 'credential of another tenant');
      } else {
        const tenant = result.tenant ?? tenantHint;
        if (tenant) this.recordFailure(req, requestId, tenant, result.description);
      }
    }
    throw this.unauthorized(request, result.error, result.description, result.challenge);
  }

  private unauthorized(
    request: AuthRequest,
    error: 'invalid_request' | 'invalid_token' | undefined,
    description: string,
    extra?: Readonly<Record<string, string>>,
  ): HttpError {
    const challenge = bearerChallenge({
      realm: 'gatehouse',
      ...this.authenticator.challenge(request),
      ...extra,
      ...(error ? { error, error_description: description } : {}),
    });
    return new HttpError(401, error ?? 'unauthorized', description, { headers: { 'www-authenticate': challenge } });
  }

  /** Audit a refused credential in `tenant`'s trail; `target` is the request's path unless `null` (none). */
  private recordFailure(req: HttpRequest, requestId: string, tenant: string, reason: string, target: string | null = req.path): void {
    if (this.audit.recordsNothing) return;
    this.audit.record({
      time: new Date(),
      tenant,
      principal: undefined,
      action: 'authenticate',
      target: target ?? undefined,
      decision: 'auth-failed',
      reason,
      outcome: 'refused',
      arguments: undefined,
      latencyMs: undefined,
      requestId,
      clientAddress: req.clientAddress,
    });
  }
}
