import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { inject, injectable } from 'inversify';
import {
  Authenticator,
  EngineConfig,
  HttpError,
  RegistryEntries,
  TENANT_ID,
  json,
  mcpResourceUrl,
  type HttpResponse,
  type RouteContribution,
  type RouteDefinition,
  type RouteRequest,
} from '../../../core/index.js';
import { ADMIN_SCOPE } from '../contracts.js';
import { AdminGuard, HOST_ADMIN_KIND, hostAdminLabel } from '../admin/admin-guard.js';
import { AdminSettings } from '../admin/admin-settings.js';
import { TenantUrls } from '../identity/tenant-urls.js';
import { AdminSessions } from './admin-sessions.js';
import { loadUiBundle, type UiBundle } from './ui-bundle.js';

/** Headers of every admin UI response: nothing inline runs, nothing frames the page. */
export const UI_SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
});

/**
 * Headers of the page shell. Its CSP also admits the `<style>` elements that carry this response's
 * nonce: the policy editor injects its own styles that way, and only code the page loaded from
 * `'self'` can read the nonce (from the stylesheet link's `nonce` property). Style attributes and
 * any other inline style stay refused.
 */
export function shellSecurityHeaders(nonce: string): Record<string, string> {
  return {
    ...UI_SECURITY_HEADERS,
    'content-security-policy': UI_SECURITY_HEADERS['content-security-policy']!.replace("style-src 'self'", `style-src 'self' 'nonce-${nonce}'`),
  };
}

const ASSET_TYPES: Readonly<Record<string, string>> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

const escapeAttribute = (value: string): string =>
  value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * The admin UI: the page shell at `/admin`, its hashed assets, and the browser session
 * (`POST /admin/session` signs in with an admin API key, `POST /admin/session/logout` signs out).
 * Everything else the page does goes through the admin API.
 */
@injectable()
export class AdminUiRoutes implements RouteContribution {
  private bundle: UiBundle | undefined;

  constructor(
    @inject(EngineConfig) private readonly config: EngineConfig,
    @inject(Authenticator) private readonly authenticator: Authenticator,
    @inject(AdminSessions) private readonly sessions: AdminSessions,
    @inject(AdminGuard) private readonly guard: AdminGuard,
    @inject(RegistryEntries) private readonly registry: RegistryEntries,
    @inject(AdminSettings) private readonly settings: AdminSettings,
    @inject(TenantUrls) private readonly urls: TenantUrls,
  ) {}

  routes(): RouteDefinition[] {
    return [
      { method: 'GET', path: '/admin', handler: () => this.shell() },
      { method: 'GET', path: '/admin/assets/:file', handler: (req) => this.asset(req) },
      { method: 'GET', path: '/admin/session', handler: (req) => this.current(req) },
      { method: 'POST', path: '/admin/session', handler: (req) => this.signIn(req) },
      { method: 'POST', path: '/admin/session/logout', handler: (req) => this.signOut(req) },
      { method: 'DELETE', path: '/admin/session', handler: (req) => this.signOut(req) },
      { method: 'GET', path: '/admin/permissions', handler: (req) => this.permissions(req) },
    ];
  }

  private loaded(): UiBundle {
    this.bundle ??= loadUiBundle();
    if (!this.bundle) throw new HttpError(503, 'admin_ui_not_built', 'The admin UI has not been built: run "npm run build:ui".');
    return this.bundle;
  }

  private shell(): HttpResponse {
    const { manifest } = this.loaded();
    const base = escapeAttribute(this.config.basePath);
    const nonce = randomBytes(18).toString('base64');
    const html = [
      '<!doctype html>',
      '<html lang="en">',
      '<head>',
      '<meta charset="utf-8">',
      '<meta name="viewport" content="width=device-width, initial-scale=1">',
      '<title>Gatehouse admin</title>',
      `<link rel="stylesheet" nonce="${nonce}" href="${base}/admin/assets/${escapeAttribute(manifest.css)}">`,
      `<script type="module" src="${base}/admin/assets/${escapeAttribute(manifest.js)}"></script>`,
      '</head>',
      `<body><div id="app" data-base="${base}"></div></body>`,
      '</html>',
    ].join('\n');
    return { status: 200, headers: { ...shellSecurityHeaders(nonce), 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }, body: html };
  }

  private async asset(req: RouteRequest): Promise<HttpResponse> {
    const { manifest, dir } = this.loaded();
    const file = req.params.file ?? '';
    const type = ASSET_TYPES[file.slice(file.lastIndexOf('.'))];
    // Only the files the build listed are served: no path ever reaches the file system unchecked.
    if (!type || !manifest.files.includes(file)) throw new HttpError(404, 'not_found', 'No such asset.');
    return {
      status: 200,
      headers: { ...UI_SECURITY_HEADERS, 'content-type': type, 'cache-control': 'public, max-age=31536000, immutable' },
      body: await readFile(join(dir, file)),
    };
  }

  /**
   * The page's session. Without one, an admin the host's own admin authenticator accepts (its
   * SSO, its session) is signed in directly, without pasting a key.
   */
  private async current(req: RouteRequest): Promise<HttpResponse> {
    const session = await this.sessions.current(req);
    // Readable by the page only: cross-origin reads are refused by the origin check and CORS.
    if (session && (await this.sessions.stillValid(session.id))) return json(200, this.sessionJson(session), { 'cache-control': 'no-store' });
    const host = await this.settings.adminAuthenticator?.(req);
    if (!host || typeof host.tenant !== 'string' || !TENANT_ID.test(host.tenant)) throw new HttpError(401, 'not_signed_in', 'Not signed in.');
    const label = hostAdminLabel(host);
    const principal = { tenant: host.tenant, kind: HOST_ADMIN_KIND, id: label, label, scopes: [ADMIN_SCOPE], attributes: {} };
    const created = await this.sessions.create(principal);
    this.guard.recordChange(req, principal, 'admin-ui.sign-in', 'admin-ui', {});
    return json(200, this.sessionJson(created), { 'set-cookie': this.sessions.cookie(created), 'cache-control': 'no-store' });
  }

  private async signIn(req: RouteRequest): Promise<HttpResponse> {
    const body = await req.json();
    const apiKey = typeof body === 'object' && body !== null ? (body as Record<string, unknown>).apiKey : undefined;
    if (typeof apiKey !== 'string' || apiKey.trim() === '') {
      throw new HttpError(400, 'validation_failed', 'Paste an admin API key.', { details: [{ field: 'apiKey', message: 'Paste an admin API key.' }] });
    }
    const result = await this.authenticator.authenticate({
      header: (name) => (name.toLowerCase() === 'authorization' ? `Bearer ${apiKey.trim()}` : undefined),
      tenantHint: req.tenantHint,
      resource: mcpResourceUrl(this.config, req.tenantHint),
      clientAddress: req.clientAddress,
      requestId: req.requestId,
    });
    if (!result.ok) {
      throw new HttpError(401, 'invalid_key', 'This key is not valid: it may be mistyped, revoked or expired.', {
        details: [{ field: 'apiKey', message: 'This key is not valid: it may be mistyped, revoked or expired.' }],
      });
    }
    if (!result.principal.scopes.includes(ADMIN_SCOPE)) {
      const message = `This key is not an admin key: signing in needs an API key with the "${ADMIN_SCOPE}" scope.`;
      throw new HttpError(403, 'not_admin', message, { details: [{ field: 'apiKey', message }] });
    }
    const session = await this.sessions.create(result.principal);
    this.guard.recordChange(req, result.principal, 'admin-ui.sign-in', 'admin-ui', {});
    return json(200, this.sessionJson(session), { 'set-cookie': this.sessions.cookie(session), 'cache-control': 'no-store' });
  }

  private async signOut(req: RouteRequest): Promise<HttpResponse> {
    const session = await this.sessions.current(req);
    if (session) {
      // Signing out is a change: the page proves it is itself with the CSRF token.
      await this.sessions.resolve({ ...req, header: (name: string) => (name.toLowerCase() === 'authorization' ? undefined : req.header(name)) });
      await this.sessions.end(session.id);
      this.guard.recordChange(req, session.principal, 'admin-ui.sign-out', 'admin-ui', {});
    }
    return json(200, { data: { signedOut: true } }, { 'set-cookie': this.sessions.clearingCookie(), 'cache-control': 'no-store' });
  }

  /** The permissions the tools and registry operations declare, for the role editor. */
  private async permissions(req: RouteRequest): Promise<HttpResponse> {
    const admin = await this.guard.admit(req);
    const listed = await this.registry.list(admin);
    const byPermission = new Map<string, string[]>();
    for (const { entry } of listed) {
      if (!entry.permission) continue;
      byPermission.set(entry.permission, [...(byPermission.get(entry.permission) ?? []), entry.name]);
    }
    const data = [...byPermission.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([permission, tools]) => ({ permission, tools }));
    return json(200, { data });
  }

  private sessionJson(session: { csrfToken: string; expiresAt: Date; principal: { tenant: string; label: string } }): Record<string, unknown> {
    return {
      data: {
        tenant: session.principal.tenant,
        admin: session.principal.label,
        csrfToken: session.csrfToken,
        expiresAt: session.expiresAt.toISOString(),
        // The tenant's MCP URL, for what the onboarding flow hands an agent's operator.
        mcpUrl: this.urls.resource(session.principal.tenant),
      },
    };
  }
}
