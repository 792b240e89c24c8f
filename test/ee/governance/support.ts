/**
 * Engines for the governance tests: the Enterprise edition with a few tools, an admin API key and
 * helpers that create roles, agents and agent keys through the admin API.
 */
import type { Knex } from 'knex';
import { Logger, Telemetry, defineTool, definePlugin, z, type AuditEvent, type MetricsOptions, type PluginDefinition } from '@gatehouse-mcp/engine';
import { enterpriseEdition, type EnterpriseOptions } from '@gatehouse-mcp/engine/ee';
import { createTestEngine, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { DbAuditSink } from '../../../src/plugins/ee/audit/db-audit-sink.js';
import { AuditSinkSettings } from '../../../src/plugins/ee/audit/audit-sink-settings.js';

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

/** A `tools/call` of `name` with `args` as a client posts it (no session): what it is answered. */
export async function toolCall(t: GovernanceTestEngine, token: string, name: string, args: unknown, id: number | string = 1): Promise<HttpResult> {
  const response = await fetch(t.engine.mcpUrl(), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-06-18' },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name, arguments: args } }),
  });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? JSON.parse(text) : undefined, text };
}

export interface GovernanceTestEngine extends TestEngine {
  /** An admin API key of `tenant`. */
  readonly adminKey: string;
  readonly knex: Knex;
  /** Call a route of the engine. */
  http(method: string, path: string, init?: { token?: string; body?: unknown; headers?: Record<string, string> }): Promise<HttpResult>;
  /** Create an agent (with roles) and an agent API key through the admin API. */
  agent(options?: { name?: string; roleIds?: string[]; active?: boolean; token?: string }): Promise<{ id: string; key: string; keyId: string }>;
  /** An admin key of another tenant. */
  adminOf(tenant: string): Promise<string>;
  /** Create a role through the admin API. */
  role(name: string, permissions: string[], token?: string): Promise<string>;
}

export async function governanceEngine(
  options: { edition?: EnterpriseOptions; database?: { knex: Knex }; tenant?: string; plugins?: PluginDefinition[]; metrics?: MetricsOptions; logger?: Logger; writeStallTimeoutMs?: number } = {},
): Promise<GovernanceTestEngine> {
  const t = await createTestEngine({
    plugins: [enterpriseEdition(options.edition), ...(options.plugins ?? [sampleTools])],
    connect: false,
    tenant: options.tenant ?? uniqueTenant('gov'),
    ...(options.database ? { database: options.database } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.metrics ? { metrics: options.metrics } : {}),
    ...(options.writeStallTimeoutMs ? { writeStallTimeoutMs: options.writeStallTimeoutMs } : {}),
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
  const expectStatus = (response: HttpResult, status: number, what: string): HttpResult => {
    if (response.status !== status) throw new Error(`${what} failed: ${response.status} ${response.text}`);
    return response;
  };
  const agent: GovernanceTestEngine['agent'] = async (agentOptions = {}) => {
    const token = agentOptions.token ?? adminKey;
    const created = expectStatus(
      await http('POST', '/api/v1/mcp/agents', { token, body: { name: agentOptions.name ?? 'agent', roleIds: agentOptions.roleIds ?? [] } }),
      201,
      'agent create',
    );
    const id = created.body.data.id as string;
    const key = expectStatus(await http('POST', `/api/v1/mcp/agents/${id}/keys`, { token, body: { name: 'agent key' } }), 201, 'agent key');
    if (agentOptions.active === false) expectStatus(await http('POST', `/api/v1/mcp/agents/${id}/deactivate`, { token }), 200, 'deactivate');
    return { id, key: key.body.data.secret as string, keyId: key.body.data.id as string };
  };
  const adminOf: GovernanceTestEngine['adminOf'] = async (tenant) => (await t.createKey({ tenant, scopes: ['admin'], name: 'admin' })).secret;
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
    adminOf,
    role,
  };
}

/**
 * Insert audit rows directly (historic data), each taking its place in its tenant's hash chain the
 * way the audit sink would: month partitions created, seq/prev_hash/hash assigned, head moved.
 */
export async function insertChainedAuditRows(knex: Knex, rows: Record<string, unknown>[]): Promise<void> {
  const { chainHash, contentOfRow, GENESIS_HASH } = await import('../../../src/plugins/ee/audit/audit-chain.js');
  const { ensurePartition } = await import('../../../src/plugins/ee/audit/audit-partitions.js');
  const { randomUUID } = await import('node:crypto');
  const heads = new Map<string, { seq: number; hash: string }>();
  for (const row of rows) await ensurePartition(knex, row.occurred_at as Date);
  const chained = [];
  for (const row of rows) {
    const tenant = String(row.tenant);
    let head = heads.get(tenant);
    if (!head) {
      const stored = await knex('mcp_audit_chain_heads').where({ tenant }).first();
      head = stored ? { seq: Number(stored.seq), hash: stored.hash as string } : { seq: 0, hash: GENESIS_HASH };
    }
    const full: Record<string, unknown> = { event_id: randomUUID(), ...row, seq: head.seq + 1, prev_hash: head.hash };
    const parse = (value: unknown): unknown => (typeof value === 'string' ? JSON.parse(value) : (value ?? null));
    full.hash = chainHash(head.hash, contentOfRow({ ...full, arguments: parse(full.arguments), details: parse(full.details) }));
    heads.set(tenant, { seq: head.seq + 1, hash: full.hash as string });
    chained.push(full);
  }
  for (let i = 0; i < chained.length; i += 500) await knex('mcp_agent_audit').insert(chained.slice(i, i + 500));
  for (const [tenant, head] of heads) {
    await knex('mcp_audit_chain_heads').insert({ tenant, seq: head.seq, hash: head.hash }).onConflict('tenant').merge();
  }
}

/**
 * Save tenant policies through the admin API and delete them all again: `engine` is read on each
 * call, so the helper can be made before the engine exists.
 */
export function tenantPolicies(engine: () => GovernanceTestEngine): { save(name: string, text: string): Promise<void>; dropAll(): Promise<void> } {
  const created: string[] = [];
  return {
    async save(name, text) {
      const t = engine();
      const response = await t.http('POST', '/api/v1/mcp/policies', { token: t.adminKey, body: { name, text } });
      if (response.status !== 201) throw new Error(`policy save failed: ${response.status} ${response.text}`);
      created.push(response.body.data.id);
    },
    async dropAll() {
      const t = engine();
      for (const id of created.splice(0)) await t.http('DELETE', `/api/v1/mcp/policies/${id}`, { token: t.adminKey });
    },
  };
}

/** Another audit writer on the engine's database and settings, as a second instance of the engine has. */
export function anotherAuditSink(t: GovernanceTestEngine, logger: Logger = t.engine.resolve(Logger)): DbAuditSink {
  return new DbAuditSink(t.engine.database, t.engine.resolve(AuditSinkSettings), logger, t.engine.resolve(Telemetry));
}

/** The audit event of a call to `orders.place` without a principal, as an audit writer's tests record it; `fields` override. */
export function orderEvent(tenant: string, fields: Partial<AuditEvent> = {}): AuditEvent {
  return {
    time: new Date(),
    tenant,
    principal: undefined,
    action: 'tools/call',
    target: 'orders.place',
    decision: 'allowed',
    reason: undefined,
    outcome: 'success',
    arguments: undefined,
    latencyMs: undefined,
    requestId: 'order',
    clientAddress: undefined,
    ...fields,
  };
}
