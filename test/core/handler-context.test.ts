import { expect } from 'chai';
import { defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine } from '@gatehouse-mcp/engine/testing';

describe('a tool context', () => {
  it('reads like a plain object: destructured or spread, it has its signal, logger, db and helpers, and each call has its own', async () => {
    const seen: Record<string, unknown>[] = [];
    const probe = defineTool({
      name: 'probe',
      description: 'Looks at its context.',
      input: z.object({ n: z.number() }),
      handler: ({ n }, ctx) => {
        const { signal, logger, db, progress, authorize, requestId, tenant } = ctx;
        const copy = { ...ctx };
        seen.push({ n, requestId, tenant, sameLogger: ctx.logger === logger, sameDb: ctx.db === db });
        return {
          destructured: [signal instanceof AbortSignal, typeof logger.info, typeof db.table, typeof progress, typeof authorize],
          spread: [copy.signal instanceof AbortSignal, typeof copy.logger.info, typeof copy.db.table, typeof copy.progress, copy.requestId === requestId],
          keys: ['signal', 'logger', 'db', 'requestId', 'tenant', 'principal'].filter((key) => Object.keys(copy).includes(key)).length,
        };
      },
    });
    const t = await createTestEngine({ plugins: [communityEdition(), definePlugin({ id: 'x', tools: [probe] })] });
    try {
      const first = await t.client.callTool({ name: 'probe', arguments: { n: 1 } });
      await t.client.callTool({ name: 'probe', arguments: { n: 2 } });
      expect(first.structuredContent).to.deep.equal({
        destructured: [true, 'function', 'function', 'function', 'function'],
        spread: [true, 'function', 'function', 'function', true],
        keys: 6,
      });
    } finally {
      await t.close();
    }
    expect(seen.map((call) => [call.sameLogger, call.sameDb, call.tenant])).to.deep.equal([
      [true, true, seen[0]!.tenant],
      [true, true, seen[0]!.tenant],
    ]);
    expect(seen[0]!.requestId).to.not.equal(seen[1]!.requestId);
  });
});
