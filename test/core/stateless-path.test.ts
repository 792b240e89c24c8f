import { expect } from 'chai';
import { Database, definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';

const echo = defineTool({ name: 'echo', description: 'Returns its text.', input: z.object({ text: z.string() }), handler: ({ text }) => text });
const CALLS = 200;

/**
 * The fleet's shared state (sessions, stream events, answers to server→client requests, usage
 * times) lives in PostgreSQL; none of it may cost a database round trip per call once the caller's
 * key and session are cached.
 */
describe('the call path stays off the database once the caller is cached', () => {
  for (const sessions of [false, true]) {
    describe(sessions ? 'within an MCP session' : 'stateless', () => {
      let t: TestEngine;
      let key: string;
      let session: string | undefined;
      before(async () => {
        t = await createTestEngine({ plugins: [communityEdition(), definePlugin({ id: 'echo', tools: [echo] })], connect: false, sessions });
        key = (await t.createKey()).secret;
      });
      after(() => t?.close());

      const post = async (message: object): Promise<Response> =>
        fetch(t.engine.mcpUrl(), {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${key}`, ...(session ? { 'mcp-session-id': session } : {}) },
          body: JSON.stringify(message),
        });

      it(`${CALLS} tools/call make no database query per call (only batched writes, if their timer fires)`, async () => {
        if (sessions) {
          const init = await post({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'c', version: '1' } } });
          session = init.headers.get('mcp-session-id')!;
          await init.text();
        }
        const call = async (id: number) => {
          const res = await post({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x' } } });
          expect(res.status).to.equal(200);
          await res.text();
        };
        for (let i = 1; i <= 10; i++) await call(i);
        const queries: string[] = [];
        const knex = t.engine.resolve<Database>(Database).knex;
        const listener = (query: { sql: string }) => void queries.push(query.sql);
        knex.on('query', listener);
        try {
          for (let i = 0; i < CALLS; i++) await call(100 + i);
        } finally {
          knex.off('query', listener);
        }
        // A batched write is a transaction of a few statements; one per call would be hundreds.
        expect(queries.length, queries.join('\n')).to.be.at.most(12);
      });
    });
  }
});
