import { definePlugin, defineResource, defineTool, z } from '@gatehouse-mcp/engine';

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

/**
 * What the fleet tests use to exercise a session's server→client traffic across instances: a
 * resource to subscribe to, a tool that marks it changed, and a tool that asks the user
 * (elicitation). Loaded only when the fleet is started with `streamFixtures`.
 */
export const fleetStreamFixtures = definePlugin({
  id: 'fleet-stream-fixtures',
  resources: [defineResource({ name: 'board', uri: 'fleet://board', permission: 'fleet:board', handler: () => 'the board' })],
  tools: [
    defineTool({
      name: 'touch',
      description: 'Marks fleet://board as changed for the sessions subscribed to it.',
      permission: 'fleet:touch',
      input: z.object({}),
      handler: (_args, ctx) => {
        ctx.resourceUpdated('fleet://board');
        return 'touched';
      },
    }),
    defineTool({
      name: 'confirm',
      description: 'Asks the user to confirm (elicitation) and answers with what they said.',
      permission: 'fleet:confirm',
      input: z.object({ question: z.string().max(200) }),
      handler: async ({ question }, ctx) => {
        const answer = await ctx.requestClient('elicitation/create', { message: question, requestedSchema: { type: 'object', properties: { sure: { type: 'boolean' } }, required: ['sure'] } });
        return `${String(answer.action)}: ${JSON.stringify(answer.content ?? null)}`;
      },
    }),
  ],
});
