import { expect } from 'chai';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { startIdentityEngine, mcpPost, bearer, type IdentityEngine } from '../support/identity-engine.js';
import { startJwksServer, type JwksServer } from '../support/oidc.js';

const onServer = process.env.DATABASE_URL !== undefined;
// On PostgreSQL the change feed carries the deactivation, so a long cache lifetime must not
// matter; the embedded database serves one process, where only the lifetime bounds the delay.
// Embedded: long enough that the one request made right after the change surely falls inside it.
const TTL_MS = onServer ? 30_000 : 3_000;
const PUBLIC_URL = 'https://mcp.example.com';
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('EE identity: revocation delay across instances', function () {
  this.timeout(60_000);
  let here: IdentityEngine;
  let there: IdentityEngine;
  let jwks: JwksServer;

  before(async () => {
    // Two instances of one deployment on one database, as behind a load balancer.
    here = await startIdentityEngine({ publicUrl: PUBLIC_URL, credentialCacheTtlMs: TTL_MS });
    there = await startIdentityEngine({ publicUrl: PUBLIC_URL, credentialCacheTtlMs: TTL_MS });
    jwks = await startJwksServer();
  });
  after(async () => {
    await here?.close();
    await there?.close();
    await jwks?.close();
  });

  async function setUp() {
    const tenant = uniqueTenant('lb');
    const idp = await here.idps.create(tenant, { kind: 'custom', name: 'IdP', issuer: 'https://idp.example.com', jwksUri: jwks.jwksUri });
    expect(idp.audience).to.equal(`${PUBLIC_URL}/t/${tenant}/api/mcp`);
    const agent = await here.agents.create(tenant, { name: 'bot', idpId: idp.id, subject: 'bot' });
    const token = await jwks.keys.sign({ iss: 'https://idp.example.com', aud: idp.audience, sub: 'bot' });
    const status = async (engine: IdentityEngine) => (await mcpPost(`${engine.url}/t/${tenant}/api/mcp`, bearer(token))).status;
    expect(await status(here)).to.equal(200);
    expect(await status(there)).to.equal(200);
    return { tenant, agent, status };
  }

  if (onServer) {
    it('stops a deactivated agent at once where it was deactivated, and within a second on other instances despite their cache', async () => {
      const { tenant, agent, status } = await setUp();
      await here.agents.deactivate(tenant, agent.id);
      const deactivatedAt = Date.now();
      expect(await status(here)).to.equal(401);
      while ((await status(there)) !== 401) {
        expect(Date.now() - deactivatedAt, 'refused on the other instance within 1 s').to.be.below(1000);
        await pause(20);
      }
    });
  } else {
    it('stops a deactivated agent at once where it was deactivated, and within the cache lifetime on other instances', async () => {
      const { tenant, agent, status } = await setUp();
      await here.agents.deactivate(tenant, agent.id);
      const deactivatedAt = Date.now();
      expect(await status(here)).to.equal(401);
      // The other instance still trusts its cached verification, but not for longer than the TTL.
      expect(await status(there)).to.equal(200);
      expect(Date.now() - deactivatedAt, 'the cached answer was checked inside the lifetime').to.be.below(TTL_MS);
      await pause(TTL_MS - (Date.now() - deactivatedAt) + 100);
      expect(await status(there)).to.equal(401);
    });
  }
});
