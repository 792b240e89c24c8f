import { definePlugin, defineTool, z, type DatabaseOptions, type PluginDefinition } from '@gatehouse-mcp/engine';
import { countToolCall } from './child.js';
import { BENCH_PERMISSION, BENCH_TOOL, type BenchDatabase } from '../harness/protocol.js';

/** The benchmark's tool, as a Gatehouse plugin author would write it. */
export const benchEcho = defineTool({
  name: BENCH_TOOL,
  description: 'Echoes its text.',
  permission: BENCH_PERMISSION,
  input: z.object({ text: z.string(), n: z.number().int() }),
  annotations: { readOnlyHint: true },
  handler: ({ text }) => {
    countToolCall();
    return text;
  },
});

/** The plugin; with `durable`, the tool's audit intent is committed before each call runs. */
export function benchPlugin(options: { durable?: boolean } = {}): PluginDefinition {
  if (!options.durable) return definePlugin({ id: 'bench', tools: [benchEcho] });
  const { kind: _kind, inputJsonSchema: _in, outputJsonSchema: _out, ...spec } = benchEcho;
  return definePlugin({ id: 'bench', tools: [defineTool({ ...spec, durability: 'before' })] });
}

export function engineDatabase(database: BenchDatabase): DatabaseOptions {
  return 'url' in database ? { url: database.url, schema: database.schema, pool: { min: 0, max: 10 } } : { dataDir: database.dataDir };
}
