/**
 * An engine with the Enterprise identity part and recording fakes for the governance ports, so
 * identity tests observe exactly what the authenticator decides and what the core audits.
 */
import { AuditSink, Policy, definePlugin, defineTool, z, type Logger, type PluginDefinition } from '@gatehouse-mcp/engine';
import { AgentPermissions, AgentStore, EE_MIGRATIONS, IdpProviderStore, registerIdentity, resolveEnterpriseOptions, type EnterpriseOptions } from '@gatehouse-mcp/engine/ee';
import { RecordingAuditSink, RecordingPolicy, createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';

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
