/**
 * An engine with the Enterprise identity part and recording fakes for the governance ports, so
 * identity tests observe exactly what the authenticator decides and what the core audits; and the
 * setup most of them share: a real OpenID provider beside the engine ({@link startLocalIdp}) and
 * tenants that trust it, each with an agent ({@link agentOfLocalIdp}).
 */
import type { JWTPayload } from 'jose';
import { AuditSink, Policy, definePlugin, defineTool, z, type Logger, type PluginDefinition } from '@gatehouse-mcp/engine';
import { AgentPermissions, AgentStore, EE_MIGRATIONS, IdpProviderStore, registerIdentity, resolveEnterpriseOptions, type EnterpriseOptions } from '@gatehouse-mcp/engine/ee';
import { RecordingAuditSink, RecordingPolicy, createTestEngine, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { startOidcProvider, type MintOptions, type OidcClient, type OidcFixture } from './oidc.js';
import type { LoggedLine, RecordingLogger } from '../../support/recording-logger.js';

/** Grants that tests set per agent. */
export class FixedPermissions implements AgentPermissions {
  readonly grants = new Map<string, string[]>();
  async permissionsOf(_tenant: string, agentId: string): Promise<readonly string[]> {
    return this.grants.get(agentId) ?? [];
  }
  invalidate(): void {}
}

export const whoAmI = defineTool({
  name: 'whoami',
  description: 'Tells the caller who it is.',
  input: z.object({}),
  handler: (_args, ctx) => JSON.stringify({ tenant: ctx.principal.tenant, kind: ctx.principal.kind, id: ctx.principal.id, attributes: ctx.principal.attributes }),
});

export interface IdentityEngine extends TestEngine {
  readonly audit: RecordingAuditSink;
  readonly permissions: FixedPermissions;
  readonly idps: IdpProviderStore;
  readonly agents: AgentStore;
}

export async function startIdentityEngine(
  options: EnterpriseOptions & { extraPlugins?: PluginDefinition[]; publicUrl?: string; tenantHost?: string; basePath?: string; logger?: Logger } = {},
): Promise<IdentityEngine> {
  const { extraPlugins = [], publicUrl, tenantHost, basePath, logger, ...enterprise } = options;
  const audit = new RecordingAuditSink();
  const permissions = new FixedPermissions();
  const settings = resolveEnterpriseOptions(enterprise);
  const identity = definePlugin({
    // The Enterprise plugin id: its migration table is shared with enterpriseEdition() on the same database.
    id: 'enterprise-edition',
    migrations: EE_MIGRATIONS,
    register(binder) {
      registerIdentity(binder, settings);
      binder.bind(AgentPermissions).toConstantValue(permissions);
      binder.bind(Policy).toConstantValue(new RecordingPolicy());
      binder.bind(AuditSink).toConstantValue(audit);
    },
  });
  const t = await createTestEngine({ ...(logger ? { logger } : {}), connect: false, publicUrl, tenantHost, basePath, plugins: [identity, definePlugin({ id: 'who', tools: [whoAmI] }), ...extraPlugins] });
  return Object.assign(Object.create(t) as TestEngine, {
    audit,
    permissions,
    idps: t.engine.resolve(IdpProviderStore),
    agents: t.engine.resolve(AgentStore),
  }) as IdentityEngine;
}

/** POST one JSON-RPC request to an MCP URL with the given headers; returns status, headers and body. */
export async function mcpPost(url: string, headers: Record<string, string>, method = 'tools/list'): Promise<{ status: number; challenge: string | null; retryAfter: string | null; body: any }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18', ...headers },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: method === 'tools/call' ? { name: 'whoami', arguments: {} } : {} }),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: response.status, challenge: response.headers.get('www-authenticate'), retryAfter: response.headers.get('retry-after'), body };
}

export const bearer = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` });

export type IdentityEngineOptions = Parameters<typeof startIdentityEngine>[0];

/** An agent of a tenant that trusts a local OpenID provider, with what its tests send. */
export interface LocalIdpAgent {
  readonly tenant: string;
  /** The tenant's MCP URL: the audience of the agent's tokens. */
  readonly url: string;
  readonly idpId: string;
  /** The provider's client the agent is (its `client_id` is the agent's subject). */
  readonly client: OidcClient;
  /** A token the provider issues to the client by client credentials for {@link url}. */
  token(): Promise<string>;
  /**
   * A token minted with the provider's keys as it would issue it: the client's `client_id` (and
   * `sub`), `aud` the tenant's URL and a fresh `jti`; `claims` add to or replace these.
   */
  mint(claims?: JWTPayload, options?: MintOptions): Promise<string>;
}

export interface LocalIdpAgentOptions {
  /** Prefix of the new tenant's id. */
  readonly tenant?: string;
  /** The agent's name. */
  readonly name?: string;
  /** What the IdP is configured with besides the provider's issuer: its JWKS URL (none: found by discovery), another issuer. */
  readonly idp?: { readonly jwksUri?: string; readonly issuer?: string };
}

/**
 * A new tenant that trusts `oidc` as a custom IdP (agents named by `client_id`), with an agent for
 * `client`.
 */
export async function agentOfLocalIdp(t: IdentityEngine, oidc: OidcFixture, client: OidcClient, options: LocalIdpAgentOptions = {}): Promise<LocalIdpAgent> {
  const tenant = uniqueTenant(options.tenant ?? 'localidp');
  const idp = await t.idps.create(tenant, { kind: 'custom', name: 'Local IdP', issuer: oidc.issuer, subjectClaim: 'client_id', ...options.idp });
  await t.agents.create(tenant, { name: options.name ?? 'bot', idpId: idp.id, subject: client.clientId });
  const url = t.engine.mcpUrl(tenant);
  let n = 0;
  return {
    tenant,
    url,
    idpId: idp.id,
    client,
    token: () => oidc.token(client, { resource: url }),
    mint: (claims = {}, mintOptions) => oidc.mint({ client_id: client.clientId, aud: url, jti: `${tenant}-${n++}`, ...claims }, mintOptions),
  };
}

/** A real OpenID provider and an engine beside it. */
export interface BesideOidc<E extends { close(): Promise<void> }> {
  readonly oidc: OidcFixture;
  readonly t: E;
  /** Close the engine, then the provider. */
  close(): Promise<void>;
}

/** Start a real OpenID provider, then the engine `start` makes; what started is closed again if either fails. */
export async function startBesideOidc<E extends { close(): Promise<void> }>(start: () => Promise<E>): Promise<BesideOidc<E>> {
  const oidc = await startOidcProvider();
  let t: E;
  try {
    t = await start();
  } catch (error) {
    await oidc.close();
    throw error;
  }
  return {
    oidc,
    t,
    close: async () => {
      await t.close();
      await oidc.close();
    },
  };
}

/** A real OpenID provider with one registered client, and an identity engine whose tenants may trust it. */
export interface LocalIdp extends BesideOidc<IdentityEngine> {
  readonly client: OidcClient;
  /** A new tenant trusting the provider, with an agent for {@link client} (see {@link agentOfLocalIdp}). */
  agent(options?: LocalIdpAgentOptions): Promise<LocalIdpAgent>;
}

/** Start a real OpenID provider, register the client `clientName` with it, and start an identity engine with `options`. */
export async function startLocalIdp(clientName: string, options: IdentityEngineOptions = {}): Promise<LocalIdp> {
  const started = await startBesideOidc(() => startIdentityEngine(options));
  let client: OidcClient;
  try {
    client = await started.oidc.registerClient(clientName);
  } catch (error) {
    await started.close();
    throw error;
  }
  return { ...started, client, agent: (agentOptions) => agentOfLocalIdp(started.t, started.oidc, client, agentOptions) };
}

/** A logged line with its fields parsed. */
export type ParsedLine = LoggedLine & { fields: Record<string, any> };

/** The lines `logger` wrote about one tenant's IdP (not its requests) from line `from` on, with their fields. */
export function idpLinesOf(logger: RecordingLogger, tenant: string, from = 0): ParsedLine[] {
  return logger.lines
    .slice(from)
    .map((line) => ({ ...line, fields: JSON.parse(line.json) as Record<string, any> }))
    .filter((line) => line.fields.tenant === tenant && line.message.startsWith('identity provider'));
}
