import { definePlugin, defineTool, z } from '@gatehouse-mcp/engine';

/** The tools of the fleet: one that answers at once, one that takes a while. */
export const fleetTools = definePlugin({
  id: 'fleet-tools',
  tools: [
    defineTool({
      name: 'echo',
      description: 'Returns its text.',
      permission: 'fleet:echo',
      input: z.object({ text: z.string().max(1000) }),
      handler: ({ text }) => text,
    }),
    defineTool({
      name: 'wait',
      description: 'Waits the given milliseconds, then answers.',
      permission: 'fleet:wait',
      input: z.object({ ms: z.number().int().min(0).max(5000) }),
      handler: async ({ ms }) => {
        await new Promise((resolve) => setTimeout(resolve, ms));
        return `waited ${ms} ms`;
      },
    }),
  ],
});
