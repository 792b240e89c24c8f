/**
 * After a database failover every pooled connection is dead, and the pool learns so only as it
 * uses each one (or hears of its end). The first tool call of an agent whose grants were not cached
 * yet read them on such a connection and was answered "unavailable", although the database was back.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { openDatabase } from '@gatehouse-mcp/engine';
import { pgProxy, type PgProxy, fillPool as fillPoolOf } from '../../support/pg-proxy.js';
import { governanceEngine, type GovernanceTestEngine } from './support.js';

const URL_ = process.env.DATABASE_URL;

describe('EE: tool calls right after every pooled connection was terminated', function () {
  this.timeout(120_000);
  let t: GovernanceTestEngine;
  let admin: Knex;
  let proxy: PgProxy;
  let schema: string;
  let close: () => Promise<void>;
  let listed: { id: string };

  before(async function () {
    if (!URL_) this.skip();
    schema = `gh_calls_${randomBytes(4).toString('hex')}`;
    proxy = await pgProxy(new URL(URL_!));
    const db = await openDatabase({ url: proxy.url(URL_!), schema, pool: { min: 0, max: 4 } });
    close = () => db.close();
    admin = knexFactory({ client: 'pg', connection: URL_ });
    t = await governanceEngine({ database: { knex: db.knex } });
    // Made before any connection is made dead: a write that meets one is not run again (it may have committed).
    listed = await t.agent({ name: 'listed' });
  });
  const fillPool = (): Promise<void> => fillPoolOf(t.engine.database);

  after(async () => {
    await t?.close().catch(() => undefined);
    await admin?.raw('drop schema if exists ?? cascade', [schema]).catch(() => undefined);
    await close?.().catch(() => undefined);
    await admin?.destroy();
    await proxy?.close();
  });

  it("runs an agent's first call (grants, roles and policies read afresh) instead of answering unavailable", async () => {
    const role = await t.role('echo', ['echo:run']);
    // Made first: a write that meets a dead connection is not run again (it may have committed).
    const agents = [];
    for (let round = 0; round < 5; round++) agents.push(await t.agent({ name: `agent ${round}`, roleIds: [role] }));
    for (const [round, agent] of agents.entries()) {
      const client = await t.connect({ token: agent.key });
      try {
        // Fill the pool with idle connections, then make every one of them dead.
        await fillPool();
        expect(proxy.openConnections(), 'pooled connections').to.be.at.least(2);
        proxy.staleAll();
        const result = await client.callTool({ name: 'echo', arguments: { round } });
        expect(result.isError, `round ${round}: ${JSON.stringify(result.content)}`).to.not.equal(true);
        expect(result.content).to.deep.equal([{ type: 'text', text: JSON.stringify({ round }) }]);
      } finally {
        await client.close();
      }
    }
  });

  it('answers the admin API\'s lists and records instead of unavailable', async () => {
    for (const path of ['agents', `agents/${listed.id}`, `agents/${listed.id}/keys`, 'roles', 'idp-providers', 'policies', 'limits']) {
      await fillPool();
      proxy.staleAll();
      const response = await t.http('GET', `/api/v1/mcp/${path}`, { token: t.adminKey });
      expect(response.status, `${path}: ${response.text}`).to.equal(200);
    }
  });
});
