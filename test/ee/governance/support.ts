/**
 * Engines for the governance tests: the governance bindings plus an authenticator that accepts
 * tenant API keys (admin keys, plain `mcp` keys and agent-bound keys), with a few tools.
 */
import type { Knex } from 'knex';
import {
  ApiKeyStore,
  ApiKeyVerifier,
  Authenticator,
  Database,
  defineTool,
  definePlugin,
  z,
  type AuthRequest,
  type AuthResult,
  type PluginDefinition,
} from 'gatehouse';
import { presentedKey } from 'gatehouse/oss';
import { createTestEngine, uniqueTenant, type TestEngine } from 'gatehouse/testing';
import { registerGovernance, type GovernanceOptions } from '../../../src/plugins/ee/governance.js';
import { AGENT_KEY_SCOPE, AGENT_KIND, AgentPermissions } from '../../../src/plugins/ee/contracts.js';

export const EE_MIGRATIONS = new URL('../../../ee-migrations/', import.meta.url);

/** Authenticates tenant API keys; an agent-bound key authenticates as its (active) agent. */
class TestKeyAuthenticator implements Authenticator {
  constructor(
    private readonly keys: ApiKeyVerifier,
    private readonly permissions: AgentPermissions,
    private readonly database: Database,
  ) {}

  async authenticate(request: AuthRequest): Promise<AuthResult> {
    const key = presentedKey(request);
    if (key === undefined) return { ok: false, description: 'A credential is required.' };
    const check = await this.keys.check(key);
    if (check.status !== 'valid') return { ok: false, error: 'invalid_token', description: 'The credential is not valid.' };
    const { key: record } = check;
    const agentId = record.extra.agent_id;
    if (record.scopes.includes(AGENT_KEY_SCOPE) && typeof agentId === 'string') {
      const agent = (await this.database.forTenant(record.tenant).table('agents').where({ id: agentId }).first()) as
        | { name: string; active: boolean }
        | undefined;
      if (!agent?.active) return { ok: false, error: 'invalid_token', description: 'The agent is not active.', tenant: record.tenant };
      const permissions = await this.permissions.permissionsOf(record.tenant, agentId);
      return {
        ok: true,
        principal: {
          tenant: record.tenant,
          kind: AGENT_KIND,
          id: agentId,
          label: agent.name,
          scopes: record.scopes,
          attributes: { agentId, credential: 'api-key', keyId: record.id, permissions },
        },
      };
    }
    return { ok: true, principal: { tenant: record.tenant, kind: 'api-key', id: record.id, label: record.name, scopes: record.scopes, attributes: {} } };
  }

  challenge(): Record<string, string> {
    return {};
  }
}

export function governanceEdition(options: GovernanceOptions = {}): PluginDefinition {
  return definePlugin({
    id: 'enterprise-edition',
    migrations: EE_MIGRATIONS,
    register(binder) {
      registerGovernance(binder, options);
      binder
        .bind(Authenticator)
        .toDynamicValue((ctx) => new TestKeyAuthenticator(ctx.get(ApiKeyVerifier), ctx.get(AgentPermissions), ctx.get(Database)));
    },
  });
}

export const sampleTools = definePlugin({
  id: 'sample-tools',
  tools: [
    defineTool({
      name: 'tickets.read',
      description: 'Read a ticket.',
      permission: 'tickets:read',
      input: z.object({ id: z.string() }),
      handler: ({ id }) => `ticket ${id}`,
    }),
    defineTool({
      name: 'tickets.write',
      description: 'Write a ticket.',
      permission: 'tickets:write',
      input: z.object({ id: z.string(), text: z.string().optional() }),
      handler: ({ id }) => `wrote ${id}`,
    }),
    defineTool({
      name: 'billing.charge',
      description: 'Charge a card.',
      permission: 'billing:charge',
      input: z.object({}).passthrough(),
      handler: () => 'charged',
    }),
    defineTool({
      name: 'diagnostics.ping',
      description: 'Declares no permission.',
      input: z.object({}),
      handler: () => 'pong',
    }),
    defineTool({
      name: 'echo',
      description: 'Echo the arguments back.',
      permission: 'echo:run',
      input: z.object({}).passthrough(),
      handler: (args) => JSON.stringify(args),
    }),
  ],
});

export interface HttpResult {
  readonly status: number;
  readonly headers: Headers;
  readonly body: any;
  readonly text: string;
}

export interface GovernanceTestEngine extends TestEngine {
  /** An admin API key of `tenant`. */
  readonly adminKey: string;
  readonly knex: Knex;
  /** Call a route of the engine. */
  http(method: string, path: string, init?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<HttpResult>;
  /** Create an agent of `tenant` (or another tenant) directly in the database, with an agent key. */
  agent(options?: { tenant?: string; name?: string; roleIds?: string[]; active?: boolean }): Promise<{ id: string; key: string }>;
  /** Create a role through the admin API. */
  role(name: string, permissions: string[], token?: string): Promise<string>;
}

export async function governanceEngine(
  options: { governance?: GovernanceOptions; database?: { knex: Knex }; tenant?: string; plugins?: PluginDefinition[] } = {},
): Promise<GovernanceTestEngine> {
  const t = await createTestEngine({
    plugins: [governanceEdition(options.governance), ...(options.plugins ?? [sampleTools])],
    connect: false,
    tenant: options.tenant ?? uniqueTenant('gov'),
    ...(options.database ? { database: options.database } : {}),
  });
  const adminKey = (await t.createKey({ scopes: ['admin'], name: 'admin' })).secret;
  const knex = t.engine.database.knex;
  const http: GovernanceTestEngine['http'] = async (method, path, init = {}) => {
    const headers: Record<string, string> = { ...init.headers };
    if (init.token) headers.authorization = `Bearer ${init.token}`;
    if (init.body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(`${t.url}${path}`, {
      method,
      headers,
      body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
    });
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: response.status, headers: response.headers, body, text };
  };
  const keys = t.engine.resolve(ApiKeyStore);
  const agent: GovernanceTestEngine['agent'] = async (agentOptions = {}) => {
    const tenant = agentOptions.tenant ?? t.tenant;
    const [row] = (await knex('agents')
      .insert({ tenant, name: agentOptions.name ?? 'agent', active: agentOptions.active ?? true })
      .returning('id')) as { id: string }[];
    const id = row!.id;
    if (agentOptions.roleIds?.length) await knex('agent_roles').insert(agentOptions.roleIds.map((role_id) => ({ tenant, agent_id: id, role_id })));
    const { secret } = await keys.create({ tenant, name: 'agent key', scopes: [AGENT_KEY_SCOPE], extra: { agent_id: id } });
    return { id, key: secret };
  };
  const role: GovernanceTestEngine['role'] = async (name, permissions, token = adminKey) => {
    const response = await http('POST', '/api/v1/mcp/roles', { token, body: { name, permissions } });
    if (response.status !== 201) throw new Error(`role create failed: ${response.status} ${response.text}`);
    return (response.body as { data: { id: string } }).data.id;
  };
  return {
    engine: t.engine,
    url: t.url,
    tenant: t.tenant,
    apiKey: t.apiKey,
    get client() {
      return t.client;
    },
    createKey: t.createKey,
    connect: t.connect,
    close: t.close,
    adminKey,
    knex,
    http,
    agent,
    role,
  };
}
