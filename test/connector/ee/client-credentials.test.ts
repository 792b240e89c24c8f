import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AuditSink, Database, definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { AgentStore, IdpProviderStore, enterpriseEdition } from '@gatehouse-mcp/engine/ee';
import { createTestEngine, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { RoleStore } from '../../../src/plugins/ee/rbac/role-store.js';
import { startOidcProvider, type OidcClient, type OidcFixture } from '../../ee/support/oidc.js';
import { connectConnector, runConnector } from '../support/connector-process.js';
import { closedPort, controllableProxy, type ControllableProxy } from '../support/local-servers.js';

const TOKEN_TTL_SECONDS = 4;

const whoAmI = defineTool({
  name: 'agent.whoami',
  description: 'Names the calling agent.',
  permission: 'agent:read',
  input: z.object({}),
  handler: (_args, ctx) => `agent ${ctx.principal.label}`,
});

describe('connector (EE): an agent’s client credentials from its IdP', function () {
  this.timeout(90_000);
  let idp: OidcFixture;
  let t: TestEngine;
  let tenant: string;
  let agentClient: OidcClient;
  /** The IdP's token endpoint behind a proxy that counts token requests. */
  let tokenProxy: ControllableProxy;

  const tokenRequests = (): number => tokenProxy.seen.filter((method) => method === 'POST').length;
  const authFailures = async (): Promise<number> => {
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const rows = await t.engine.resolve<Database>(Database).forTenant(tenant).table('mcp_agent_audit').where({ decision: 'auth-failed' });
    return rows.length;
  };

  before(async () => {
    idp = await startOidcProvider({ accessTokenTtl: TOKEN_TTL_SECONDS });
    t = await createTestEngine({ connect: false, plugins: [enterpriseEdition(), definePlugin({ id: 'agent-tools', tools: [whoAmI] })] });
    tenant = uniqueTenant('acme');
    const provider = await t.engine.resolve(IdpProviderStore).create(tenant, { kind: 'custom', name: 'Corporate IdP', issuer: idp.issuer, subjectClaim: 'client_id' });
    agentClient = await idp.registerClient('connector-agent');
    const agent = await t.engine.resolve(AgentStore).create(tenant, { name: 'Desk agent', idpId: provider.id, subject: agentClient.clientId });
    const roles = t.engine.resolve(RoleStore);
    const role = await roles.create(tenant, { name: 'desk', permissions: ['agent:read'] });
    await roles.assign(tenant, agent.id, [role.id]);
    tokenProxy = await controllableProxy(idp.issuer);
  });

  after(async () => {
    await tokenProxy?.close();
    await t?.close();
    await idp?.close();
  });

  it('discovers the IdP, gets a token for the tenant resource, and refreshes it transparently once it expires', async () => {
    const connector = await connectConnector(
      ['--url', t.engine.mcpUrl(tenant), '--issuer', idp.issuer, '--client-id', agentClient.clientId, '--scope', 'mcp', '--verbose'],
      { GATEHOUSE_CLIENT_SECRET: agentClient.clientSecret },
    );
    try {
      const listed = await connector.client.listTools();
      expect(listed.tools.map((tool) => tool.name)).to.deep.equal(['agent.whoami']);
      expect((await connector.client.callTool({ name: 'agent.whoami', arguments: {} })).content).to.deep.equal([{ type: 'text', text: 'agent Desk agent' }]);

      // Let the first token expire, then call again: the connector fetched a fresh one before sending.
      await new Promise((resolve) => setTimeout(resolve, TOKEN_TTL_SECONDS * 1000 + 300));
      expect((await connector.client.callTool({ name: 'agent.whoami', arguments: {} })).content).to.deep.equal([{ type: 'text', text: 'agent Desk agent' }]);
      expect(await authFailures(), 'no request went out with an expired token').to.equal(0);
      expect(connector.stderr().match(/obtained an access token/g)).to.have.length(2);
      expect(connector.stderr()).not.to.include(agentClient.clientSecret);
    } finally {
      await connector.close();
    }
  });

  it('shares one token request among concurrent calls that find the token stale', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'connector-secret-'));
    const secretFile = path.join(dir, 'client-secret');
    writeFileSync(secretFile, `${agentClient.clientSecret}\n`, { mode: 0o600 });
    const connector = await connectConnector(
      ['--url', t.engine.mcpUrl(tenant), '--token-endpoint', `${tokenProxy.url}/token`, '--client-id', agentClient.clientId, '--client-secret-file', secretFile],
      {},
    );
    try {
      expect(tokenRequests()).to.equal(1);
      await new Promise((resolve) => setTimeout(resolve, TOKEN_TTL_SECONDS * 1000 + 300));
      const results = await Promise.all(Array.from({ length: 6 }, () => connector.client.callTool({ name: 'agent.whoami', arguments: {} })));
      expect(results.map((result) => result.isError ?? false)).to.deep.equal([false, false, false, false, false, false]);
      expect(tokenRequests(), 'six concurrent calls, one new token').to.equal(2);
    } finally {
      await connector.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers a 401 for a token it still trusts with exactly one new token and one retry', async () => {
    const engineProxy = await controllableProxy(t.url);
    const before = tokenRequests();
    const mcpPath = new URL(t.engine.mcpUrl(tenant)).pathname;
    const connector = await connectConnector(
      ['--url', `${engineProxy.url}${mcpPath}`, '--resource', t.engine.mcpUrl(tenant), '--token-endpoint', `${tokenProxy.url}/token`, '--client-id', agentClient.clientId],
      { GATEHOUSE_CLIENT_SECRET: agentClient.clientSecret },
    );
    try {
      expect(tokenRequests() - before).to.equal(1);
      engineProxy.reject401 = 1;
      const sent = engineProxy.tokens.length;
      expect((await connector.client.callTool({ name: 'agent.whoami', arguments: {} })).content).to.deep.equal([{ type: 'text', text: 'agent Desk agent' }]);
      expect(tokenRequests() - before, 'one new token after the 401').to.equal(2);
      const [rejected, retried] = engineProxy.tokens.slice(sent);
      expect(retried, 'the retry carried the new token').to.not.equal(rejected);
    } finally {
      await connector.close();
      await engineProxy.close();
    }
  });

  it('stops after one new token when the server keeps refusing, and says so (exit 1)', async () => {
    const stranger = await idp.registerClient('unregistered-agent');
    const before = tokenRequests();
    const run = await runConnector(
      ['--url', t.engine.mcpUrl(tenant), '--token-endpoint', `${tokenProxy.url}/token`, '--client-id', stranger.clientId],
      { GATEHOUSE_CLIENT_SECRET: stranger.clientSecret },
    );
    expect(run.code).to.equal(1);
    expect(tokenRequests() - before, 'the first token and exactly one re-fetch').to.equal(2);
    const lines = run.stderr.trim().split('\n');
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include(`the server rejected client "${stranger.clientId}" (401`).and.include('registered with the server');
    expect(run.stderr).not.to.include(stranger.clientSecret);
  });

  it('reports a wrong client secret as the IdP’s refusal (exit 1), without the secret', async () => {
    const run = await runConnector(['--url', t.engine.mcpUrl(tenant), '--issuer', idp.issuer, '--client-id', agentClient.clientId], {
      GATEHOUSE_CLIENT_SECRET: 'not-the-right-secret-at-all',
    });
    expect(run.code).to.equal(1);
    expect(run.stderr.trim()).to.match(/^gatehouse-connector: the IdP rejected the client credentials \(invalid_client.*\)\. Check --client-id and the client secret\.$/);
    expect(run.stderr).not.to.include('not-the-right-secret-at-all');
  });

  it('reports an IdP that is not running (exit 1)', async () => {
    const port = await closedPort();
    const run = await runConnector(['--url', t.engine.mcpUrl(tenant), '--issuer', `http://127.0.0.1:${port}/`, '--client-id', 'x'], { GATEHOUSE_CLIENT_SECRET: 'some-secret-value' });
    expect(run.code).to.equal(1);
    expect(run.stderr.trim()).to.equal(
      `gatehouse-connector: cannot reach the IdP at http://127.0.0.1:${port}: connection refused. Is it running, and are the host and port in --issuer right?`,
    );
  });
});
