/**
 * `ctx.db.read`: a tool handler's read right after a database failover. Every pooled connection is
 * dead then, and the pool learns so only as it uses each one: a handler's plain query fails the
 * call although the database is back; the same query through `ctx.db.read` runs again on a fresh
 * connection.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import knexFactory, { type Knex } from 'knex';
import { PinoLogger, defineTool, definePlugin, openDatabase, z, type TenantDb } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { pgProxy, type PgProxy, fillPool as fillPoolOf } from '../support/pg-proxy.js';

const URL_ = process.env.DATABASE_URL;

const text = (result: unknown): string => ((result as { content: { text: string }[] }).content[0]?.text ?? '');

describe('ctx.db.read: a tool handler reads right after every pooled connection was terminated', function () {
  this.timeout(120_000);
  let t: TestEngine;
  let admin: Knex;
  let proxy: PgProxy;
  let schema: string;
  let close: () => Promise<void>;
  let attempts = 0;
  let inTransaction: { attempts: number; same: boolean } | undefined;

  const notes = (db: TenantDb) => db.table<{ body: string }>('notes').orderBy('id').pluck('body');
  const tools = definePlugin({
    id: 'notes',
    tools: [
      defineTool({
        name: 'notes.list',
        description: 'Lists the notes, read through ctx.db.read.',
        annotations: { readOnlyHint: true },
        input: z.object({}),
        handler: async (_args, { db }) => ({
          notes: await db.read((db) => {
            attempts++;
            return notes(db);
          }),
        }),
      }),
      defineTool({
        name: 'notes.plain',
        description: 'Lists the notes with a plain query.',
        annotations: { readOnlyHint: true },
        input: z.object({}),
        handler: async (_args, { db }) => ({ notes: await notes(db) }),
      }),
      defineTool({
        name: 'notes.transaction',
        description: 'Lists the notes through read inside a transaction.',
        input: z.object({}),
        handler: async (_args, { db }) =>
          db.transaction(async (tx) => {
            const seen = { attempts: 0, same: false };
            const found = await tx.read((inner) => {
              seen.attempts++;
              seen.same = inner === tx;
              return notes(inner);
            });
            inTransaction = seen;
            return { notes: found };
          }),
      }),
    ],
  });

  before(async function () {
    if (!URL_) this.skip();
    schema = `gh_ctx_read_${randomBytes(4).toString('hex')}`;
    proxy = await pgProxy(new URL(URL_!));
    // The driver's lines about the connections made dead go to a logger nobody reads.
    const db = await openDatabase({ url: proxy.url(URL_!), schema, pool: { min: 0, max: 4 } }, { logger: new PinoLogger('error', { write: () => undefined }) });
    close = () => db.close();
    admin = knexFactory({ client: 'pg', connection: URL_, searchPath: [schema] });
    const tenant = uniqueTenant('ctxread');
    t = await createTestEngine({ plugins: [communityEdition(), tools], tenant, database: { knex: db.knex } });
    await admin.schema.createTable('notes', (table) => {
      table.increments('id');
      table.text('tenant').notNullable();
      table.text('body').notNullable();
    });
    await admin('notes').insert([
      { tenant, body: 'first' },
      { tenant, body: 'second' },
      { tenant: 'someone-else', body: 'not theirs' },
    ]);
  });
  after(async () => {
    await t?.close().catch(() => undefined);
    await admin?.raw('drop schema if exists ?? cascade', [schema]).catch(() => undefined);
    await close?.().catch(() => undefined);
    await admin?.destroy();
    await proxy?.close();
  });

  const fillPool = (): Promise<void> => fillPoolOf(t.engine.database);
  beforeEach(() => fillPool());
  /** Every pooled connection dead, its client not told. */
  const failover = async (): Promise<void> => {
    await fillPool();
    expect(proxy.openConnections(), 'pooled connections').to.be.at.least(2);
    proxy.staleAll();
  };

  it("answers the call with the tenant's rows, read again on a fresh connection", async () => {
    for (let round = 0; round < 3; round++) {
      await failover();
      attempts = 0;
      const result = await t.client.callTool({ name: 'notes.list', arguments: {} });
      expect(result.isError, `round ${round}: ${text(result)}`).to.not.equal(true);
      expect(result.structuredContent).to.deep.equal({ notes: ['first', 'second'] });
      expect(attempts, `round ${round}: attempts`).to.be.at.least(2);
    }
  });

  it('(the same query without read fails the call: what read is for)', async () => {
    await failover();
    const result = await t.client.callTool({ name: 'notes.plain', arguments: {} });
    expect(result.isError).to.equal(true);
    expect(text(result)).to.match(/connection to the database was lost/);
  });

  it('runs once inside a transaction, given the transaction', async () => {
    const result = await t.client.callTool({ name: 'notes.transaction', arguments: {} });
    expect(result.isError, text(result)).to.not.equal(true);
    expect(result.structuredContent).to.deep.equal({ notes: ['first', 'second'] });
    expect(inTransaction).to.deep.equal({ attempts: 1, same: true });
  });
});
