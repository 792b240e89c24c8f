/**
 * The Enterprise edition for the conformance run: the tenant trusts a real OpenID provider on
 * 127.0.0.1, an agent of that tenant holds a role granting `*`, and the proxy presents the
 * agent's client-credentials access token (audience: the tenant's canonical MCP URL).
 */
import { AgentStore, IdpProviderStore, enterpriseEdition } from '@gatehouse-mcp/engine/ee';
import type { Engine, PluginDefinition } from '@gatehouse-mcp/engine';
import { RoleStore } from '../../src/plugins/ee/rbac/role-store.js';
import { startOidcProvider } from '../ee/support/oidc.js';
import { conformanceFixtures } from './fixture-plugin.js';

export const ENTERPRISE_TENANT = 'conformance';

export const enterprise = {
  name: 'Enterprise Edition (agent access token)',
  tenant: ENTERPRISE_TENANT,
  plugins: async (): Promise<PluginDefinition[]> => [enterpriseEdition(), conformanceFixtures()],
  async credential(engine: Engine): Promise<{ authorization: string; close: () => Promise<void> }> {
    const idp = await startOidcProvider({ accessTokenTtl: 1800 });
    try {
      const provider = await engine.resolve(IdpProviderStore).create(ENTERPRISE_TENANT, { kind: 'custom', name: 'Conformance IdP', issuer: idp.issuer, subjectClaim: 'client_id' });
      const client = await idp.registerClient('conformance-agent');
      const agent = await engine.resolve(AgentStore).create(ENTERPRISE_TENANT, { name: 'Conformance agent', idpId: provider.id, subject: client.clientId });
      const roles = engine.resolve(RoleStore);
      const everything = await roles.create(ENTERPRISE_TENANT, { name: 'everything', permissions: ['*'] });
      await roles.assign(ENTERPRISE_TENANT, agent.id, [everything.id]);
      const token = await idp.token(client, { resource: engine.mcpUrl(ENTERPRISE_TENANT) });
      return { authorization: `Bearer ${token}`, close: () => idp.close() };
    } catch (error) {
      await idp.close();
      throw error;
    }
  },
};
