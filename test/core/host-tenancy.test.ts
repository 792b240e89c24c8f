import { expect } from 'chai';
import { createEngine, defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, testDatabase, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { requestWithHost } from '../support/request-with-host.js';

const whoami = defineTool({ name: 'whoami', description: 'Tells the tenant.', input: z.object({}), handler: (_args, ctx) => ctx.tenant });

const rpc = (method: string, params: Record<string, unknown> = {}) => JSON.stringify({ jsonrpc: '2.0', id: 1, method, params });

describe('host-based tenancy ({tenant}.mcp.example.com)', () => {
  let t: TestEngine;
  const a = uniqueTenant('a');
  const b = uniqueTenant('b');
  before(async () => {
    t = await createTestEngine({
      plugins: [communityEdition(), definePlugin({ id: 'who', tools: [whoami] })],
      publicUrl: 'https://mcp.example.com',
      tenantHost: '{tenant}.mcp.example.com',
      connect: false,
    });
  });
  after(() => t.close());

  const post = async (host: string, key: string) =>
    requestWithHost(`${t.url}/api/mcp`, host, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${key}` },
      body: rpc('tools/call', { name: 'whoami', arguments: {} }),
    });

  it("gives each tenant a canonical URL on its own host", () => {
    expect(t.engine.mcpUrl(a)).to.equal(`https://${a}.mcp.example.com/api/mcp`);
    expect(t.engine.mcpUrl()).to.equal('https://mcp.example.com/api/mcp');
  });

  it("takes the tenant from the Host header: a key works on its tenant's host and is refused on another's", async () => {
    const keyA = (await t.createKey({ tenant: a })).secret;
    const own = await post(`${a}.mcp.example.com`, keyA);
    expect(own.status).to.equal(200);
    expect(JSON.parse(own.body).result.content[0].text).to.equal(a);
    const other = await post(`${b}.mcp.example.com`, keyA);
    expect(other.status).to.equal(401);
    expect(JSON.parse(other.body).error_description).to.match(/not valid for this tenant/);
  });

  it('refuses hosts outside the pattern (403) and a tenant path that contradicts the host (404)', async () => {
    const keyA = (await t.createKey({ tenant: a })).secret;
    expect((await post('evil.example.com', keyA)).status).to.equal(403);
    const contradicting = await requestWithHost(`${t.url}/t/${b}/api/mcp`, `${a}.mcp.example.com`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${keyA}` },
      body: rpc('ping'),
    });
    expect(contradicting.status).to.equal(404);
  });

  it("accepts a browser Origin of a tenant's own host", async () => {
    const keyA = (await t.createKey({ tenant: a })).secret;
    const response = await requestWithHost(`${t.url}/api/mcp`, `${a}.mcp.example.com`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: `https://${a}.mcp.example.com`, authorization: `Bearer ${keyA}` },
      body: rpc('ping'),
    });
    expect(response.status).to.equal(200);
    expect(response.headers['access-control-allow-origin']).to.equal(`https://${a}.mcp.example.com`);
    const wrongScheme = await requestWithHost(`${t.url}/api/mcp`, `${a}.mcp.example.com`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: `http://${a}.mcp.example.com`, authorization: `Bearer ${keyA}` },
      body: rpc('ping'),
    });
    expect(wrongScheme.status).to.equal(403);
  });

  it('refuses a malformed pattern at boot', async () => {
    let error: unknown;
    try {
      await createEngine({ plugins: [communityEdition()], tenantHost: 'mcp.example.com', database: { knex: await testDatabase() } });
    } catch (caught) {
      error = caught;
    }
    expect(String(error)).to.match(/tenantHost "mcp.example.com" must look like/);
    expect((error as { code?: string }).code).to.equal('invalid_config');
  });

  it('refuses a pattern whose port no server can listen on (99999, 0) at boot', async () => {
    for (const tenantHost of ['{tenant}.mcp.example.com:99999', '{tenant}.mcp.example.com:0']) {
      let error: unknown;
      try {
        await createEngine({ plugins: [communityEdition()], tenantHost, database: { knex: await testDatabase() } });
      } catch (caught) {
        error = caught;
      }
      expect(String(error)).to.match(/a port is a number from 1 to 65535/);
      expect((error as { code?: string }).code).to.equal('invalid_config');
    }
  });
});
