/**
 * The permission cache (an agent's grants) under a flood: bounded in entries however many agents
 * sign in, an agent in use keeps its entry, and credentials that are refused never reach it.
 */
import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import { AgentPermissions } from '@gatehouse-mcp/engine/ee';
import type { CachedAgentPermissions } from '../../../src/plugins/ee/rbac/cached-agent-permissions.js';
import { governanceEngine, type GovernanceTestEngine } from './support.js';

const FLOOD = 10_050; // past the 10,000 agents one instance keeps grants of

describe('EE RBAC: the permission cache under a flood', function () {
  this.timeout(300_000);
  let t: GovernanceTestEngine;
  before(async () => {
    // A lifetime far longer than the test, so only eviction (not expiry) can drop an entry.
    t = await governanceEngine({ edition: { rbac: { permissionCacheTtlMs: 60 * 60_000 } } });
  });
  after(() => t?.close());

  it('many distinct agents keep at most 10,000 entries; the agent in use stays cached; refused credentials add nothing', async () => {
    const role = await t.role('reader', ['tickets:read']);
    const agent = await t.agent({ roleIds: [role] });
    const client = await t.connect({ token: agent.key });
    const call = async (): Promise<unknown> => (await client.callTool({ name: 'tickets.read', arguments: { id: '1' } })).content;
    expect(await call()).to.deep.equal([{ type: 'text', text: 'ticket 1' }]);
    const permissions = t.engine.resolve<CachedAgentPermissions>(AgentPermissions);
    const held = permissions.size;

    // Junk credentials of every shape are refused before any grant is looked up or cached.
    const junk = [
      () => `ghk_${randomBytes(6).toString('hex')}_${randomBytes(32).toString('base64url')}`,
      () => randomBytes(2_000).toString('base64'),
      () => `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify({ iss: 'https://nobody.example', sub: randomUUID() })).toString('base64url')}.c2ln`,
    ];
    for (let i = 0; i < 300; i++) {
      const res = await fetch(t.engine.mcpUrl(), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${junk[i % 3]!()}` },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
      });
      expect(res.status).to.equal(401);
      await res.arrayBuffer();
    }
    expect(permissions.size).to.equal(held);

    // Many distinct agents' grants are looked up, as each one's sign-in does; the agent in use
    // goes on calling throughout.
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let i = next++; i < FLOOD; i = next++) {
        await permissions.permissionsOf(t.tenant, randomUUID());
        if (i % 1_000 === 999) expect(await call()).to.deep.equal([{ type: 'text', text: 'ticket 1' }]);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    expect(permissions.size).to.equal(10_000);

    // The agent in use is still answered from the cache: no grant query for its call.
    const grantQueries: string[] = [];
    const onQuery = (query: { sql: string }): void => {
      if (query.sql.includes('agent_roles')) grantQueries.push(query.sql);
    };
    t.knex.on('query', onQuery);
    try {
      expect(await call()).to.deep.equal([{ type: 'text', text: 'ticket 1' }]);
    } finally {
      t.knex.off('query', onQuery);
    }
    expect(grantQueries).to.deep.equal([]);
  });
});
