import { definePlugin, defineTool, z } from '@gatehouse-mcp/engine';

/** What the test tools observed, for assertions about cancellation. */
export interface ToolProbe {
  aborted: number;
}

/** A small tool plugin: echo, a progress reporter, and a tool that waits until cancelled. */
export function connectorTestTools(probe: ToolProbe = { aborted: 0 }) {
  const echo = defineTool({
    name: 'echo',
    description: 'Echo the text back.',
    input: z.object({ text: z.string() }),
    handler: ({ text }) => text,
  });
  const count = defineTool({
    name: 'count',
    description: 'Count to n, reporting progress.',
    input: z.object({ n: z.number().int().min(1).max(10) }),
    async handler({ n }, ctx) {
      for (let i = 1; i <= n; i++) await ctx.progress(i, n, `step ${i}`);
      return `counted to ${n}`;
    },
  });
  const wait = defineTool({
    name: 'wait',
    description: 'Wait until cancelled (at most 20 s).',
    input: z.object({}),
    handler: (_input, ctx) =>
      new Promise<string>((resolve) => {
        const timer = setTimeout(() => resolve('waited'), 20_000);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          probe.aborted++;
          resolve('aborted');
        });
      }),
  });
  return definePlugin({ id: 'connector-test-tools', tools: [echo, count, wait] });
}
