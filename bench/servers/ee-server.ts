import { randomBytes } from 'node:crypto';
import { createEngine, type PluginDefinition, type RouteRequest } from '@gatehouse-mcp/engine';
import { BENCH_PERMISSION } from '../harness/protocol.js';
import { loadEnterprise } from '../scenarios/enterprise-availability.js';
import { benchPlugin, engineDatabase } from './bench-plugin.js';
import { runServer, serverConfig } from './child.js';
import { startTracing } from './tracing.js';
import { benchPolicies } from '../harness/policy-overhead.js';

/**
 * Gatehouse Enterprise: agents authenticated by an API key or by an IdP token, RBAC, audit.
 * With `setup`, creates the tenant's IdP (the runner's local JWKS), an agent bound to it, a role
 * granting the tool's permission, and an agent API key.
 */
const config = serverConfig('ee');
export const EE_TENANT = 'bench-ee';
const AGENT_SUBJECT = 'bench-agent';

runServer(async () => {
  const tracing = config.tracing ? startTracing() : undefined;
  const loaded = await loadEnterprise();
  if ('reason' in loaded) throw new Error(loaded.reason);
  const ee = loaded.module;
  // The admin API is reached with a per-process secret, as a host's own admin session would.
  const adminSecret = randomBytes(16).toString('hex');
  const adminAuthenticator = async (req: RouteRequest) =>
    req.header('x-bench-admin') === adminSecret ? { tenant: EE_TENANT, label: 'bench admin' } : undefined;
  const engine = await createEngine({
    plugins: [ee.enterpriseEdition({ adminAuthenticator }) as PluginDefinition, benchPlugin({ durable: config.durable === true })],
    database: engineDatabase(config.database),
    logLevel: 'warn',
  });
  try {
    const { url } = await engine.listen({ host: '127.0.0.1', port: config.port ?? 0 });
    const mcpUrl = engine.mcpUrl(EE_TENANT);
    const credentials: Record<string, string> = { baseUrl: url, mcpUrl, adminSecret, tenant: EE_TENANT };
    if (config.setup) {
      if (!config.issuer || !config.jwksUrl) throw new Error('setup needs the IdP issuer and JWKS URL');
      const idp = await engine.resolve(ee.IdpProviderStore).create(EE_TENANT, {
        name: 'bench IdP',
        kind: 'custom',
        issuer: config.issuer,
        jwksUri: config.jwksUrl,
        audience: mcpUrl,
        allowedAlgorithms: ['ES256'],
      });
      const agents = engine.resolve(ee.AgentStore);
      const agent = await agents.create(EE_TENANT, { name: 'bench agent', idpId: idp.id, subject: AGENT_SUBJECT });
      // Roles through their tables: the role store is not part of the plugin's public API.
      const knex = engine.database.knex;
      const [role] = (await knex('roles')
        .insert({ tenant: EE_TENANT, name: `bench-${randomBytes(4).toString('hex')}`, permissions: JSON.stringify([BENCH_PERMISSION]) })
        .returning('id')) as { id: string }[];
      await knex('agent_roles').insert({ tenant: EE_TENANT, agent_id: agent.id, role_id: role!.id });
      const key = await agents.issueKey(EE_TENANT, agent.id, { name: 'bench key' });
      if (!key) throw new Error('could not issue the agent key');
      Object.assign(credentials, { agentId: agent.id, agentKey: key.secret, subject: AGENT_SUBJECT, audience: idp.audience });
      // Tenant policies through the admin API, as an admin would write them.
      for (const policy of benchPolicies(config.policies ?? 0)) {
        const response = await fetch(`${url}/api/v1/mcp/policies`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-bench-admin': adminSecret },
          body: JSON.stringify(policy),
        });
        if (response.status !== 201) throw new Error(`could not save ${policy.name}: ${response.status} ${await response.text()}`);
      }
    }
    return { url: mcpUrl, credentials, close: async () => {
      await engine.close();
      await tracing?.shutdown();
    } };
  } catch (error) {
    await engine.close();
    throw error;
  }
});
