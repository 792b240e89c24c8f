/**
 * `ctx.log(...)` and `ctx.progress(...)` of a handler: a notification that could not be sent (its
 * data a BigInt or a circular object, which the stream cannot write) made the promise they return
 * reject. A handler that did not await it (a log line is usually fire-and-forget) left an unhandled
 * rejection, which crashes a Node host by default; one that awaited it failed the whole call over a
 * log line. Now they never reject: the notification is dropped and logged at `warn` with the
 * request id, and the call goes on.
 */
import { expect } from 'chai';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { definePlugin, defineResource, defineTool, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { RecordingLogger } from '../support/recording-logger.js';

const circular: Record<string, unknown> = { name: 'loop' };
circular.self = circular;

const tools = [
  defineTool({
    name: 'log.unawaited',
    description: 'Logs a BigInt and does not wait.',
    input: z.object({}),
    handler: (_args, ctx) => {
      void ctx.log('info', { count: 12345678901234567890n });
      ctx.log('warning', circular);
      return 'logged';
    },
  }),
  defineTool({
    name: 'log.awaited',
    description: 'Logs a BigInt and waits.',
    input: z.object({}),
    handler: async (_args, ctx) => {
      await ctx.log('info', { count: 1n });
      await ctx.log('info', 'and a line that can be sent');
      return 'logged';
    },
  }),
  defineTool({
    name: 'progress.unawaited',
    description: 'Reports progress it cannot send and does not wait.',
    input: z.object({}),
    handler: (_args, ctx) => {
      ctx.progress(1, 2n as never);
      return 'progressed';
    },
  }),
];

const resources = [
  defineResource({
    uri: 'notes://logged',
    name: 'logged-note',
    handler: (_params, ctx) => {
      ctx.log('info', { count: 3n });
      return 'a note';
    },
  }),
];

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('ctx.log and ctx.progress with a notification that cannot be sent', () => {
  const logger = new RecordingLogger();
  let t: TestEngine;
  before(async () => {
    t = await createTestEngine({ plugins: [communityEdition(), definePlugin({ id: 'notifying', tools, resources })], logger });
  });
  after(() => t?.close());
  beforeEach(() => void (logger.lines.length = 0));

  const dropped = (message: string): { requestId: string }[] =>
    logger.lines.filter((line) => line.level === 'warn' && line.message === message).map((line) => JSON.parse(line.json) as { requestId: string });

  it('a tool that does not await ctx.log is answered, and the log it could not send is dropped with a warning, never an unhandled rejection', async () => {
    const messages: unknown[] = [];
    t.client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => void messages.push(notification.params));
    const result = (await t.client.callTool({ name: 'log.unawaited', arguments: {} })) as { isError?: boolean; content: { text: string }[] };
    expect(result.isError).to.equal(undefined);
    expect(result.content[0]!.text).to.equal('logged');
    // Long enough for an unhandled rejection to surface (test/hooks.ts fails the test with it).
    await pause(50);
    expect(messages).to.deep.equal([]);
    const warnings = dropped('could not send a log message to the client');
    expect(warnings).to.have.length(2);
    expect(new Set(warnings.map((fields) => fields.requestId)).size).to.equal(1);
  });

  it('a tool that awaits ctx.log of a BigInt goes on and succeeds (it failed over a log line)', async () => {
    const messages: unknown[] = [];
    t.client.setNotificationHandler(LoggingMessageNotificationSchema, (notification) => void messages.push(notification.params));
    const result = (await t.client.callTool({ name: 'log.awaited', arguments: {} })) as { isError?: boolean; content: { text: string }[] };
    expect(result.isError).to.equal(undefined);
    expect(result.content[0]!.text).to.equal('logged');
    expect(messages).to.deep.equal([{ level: 'info', data: 'and a line that can be sent' }]);
    expect(dropped('could not send a log message to the client')).to.have.length(1);
  });

  it('a tool that does not await ctx.progress it cannot send is answered, never an unhandled rejection', async () => {
    const progress: unknown[] = [];
    const result = (await t.client.callTool({ name: 'progress.unawaited', arguments: {} }, undefined, { onprogress: (update) => void progress.push(update) })) as { content: { text: string }[] };
    expect(result.content[0]!.text).to.equal('progressed');
    await pause(50);
    expect(progress).to.deep.equal([]);
    expect(dropped('could not send a progress notification to the client')).to.have.length(1);
  });

  it('a resource handler that does not await ctx.log is answered, never an unhandled rejection', async () => {
    const read = await t.client.readResource({ uri: 'notes://logged' });
    expect(read.contents).to.deep.equal([{ uri: 'notes://logged', mimeType: 'text/plain', text: 'a note' }]);
    await pause(50);
    expect(dropped('could not send a log message to the client')).to.have.length(1);
  });
});
