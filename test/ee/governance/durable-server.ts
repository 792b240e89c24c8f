/**
 * An Enterprise engine in a process of its own, for the crash test: one tool with
 * `durability: 'before'` whose side effect is a row in `side_effects`. Prints `{ url, key }`.
 */
import { ApiKeyStore, createEngine, defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { enterpriseEdition } from '@gatehouse-mcp/engine/ee';

const [url, schema, tenant] = process.argv.slice(2) as [string, string, string];
const orders = definePlugin({
  id: 'orders',
  tools: [
    defineTool({
      name: 'orders.place',
      description: 'Places an order: writes a row, durable before execute.',
      durability: 'before',
      input: z.object({ n: z.number().int() }),
      handler: async ({ n }, ctx) => {
        await ctx.db.insert('side_effects', { request_id: ctx.requestId, n });
        await new Promise((resolve) => setTimeout(resolve, n % 7));
        return `placed ${n}`;
      },
    }),
  ],
});
const engine = await createEngine({
  plugins: [enterpriseEdition({ rbac: { tenantKeys: 'allow' } }), orders],
  database: { url, schema, pool: { min: 0, max: 10 } },
  logLevel: 'silent',
});
const { url: base } = await engine.listen({ host: '127.0.0.1', port: 0 });
const { secret } = await engine.resolve(ApiKeyStore).create({ tenant, name: 'load', scopes: ['mcp'] });
process.stdout.write(`${JSON.stringify({ url: `${base}/t/${tenant}/api/mcp`, key: secret, mcp: engine.mcpUrl(tenant) })}\n`);
