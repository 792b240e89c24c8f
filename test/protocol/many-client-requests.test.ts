/**
 * A tool that asks the client many things at once. Each waiting request used to add its own
 * listener to the call's abort signal, so past ten Node printed a MaxListenersExceededWarning on
 * the host's stderr; one listener now serves them all, and aborting the call still ends each.
 */
import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { recordingGovernance } from './support.js';

const QUESTIONS = 25;
/** What the tool saw of its requests when its call was aborted. */
const outcomes: string[] = [];

const ask = (ctx: Parameters<Parameters<typeof defineTool>[0]['handler']>[1], text: string) =>
  ctx.requestClient('sampling/createMessage', { messages: [{ role: 'user', content: { type: 'text', text } }], maxTokens: 1 });

const plugin = definePlugin({
  id: 'many-questions',
  tools: [
    defineTool({
      name: 'ask-all',
      description: 'Asks the client’s model many questions at once and joins the answers.',
      input: z.object({ times: z.number().int() }),
      async handler({ times }, ctx) {
        const answers = await Promise.all(Array.from({ length: times }, (_, i) => ask(ctx, `q${i}`)));
        return answers.map((answer) => (answer.content as { text: string }).text).join(',');
      },
    }),
    defineTool({
      name: 'ask-unanswered',
      description: 'Asks many questions the client never answers, and notes how each ended.',
      input: z.object({ times: z.number().int() }),
      async handler({ times }, ctx) {
        const settled = await Promise.allSettled(Array.from({ length: times }, (_, i) => ask(ctx, `never ${i}`)));
        outcomes.push(...settled.map((result) => result.status));
        return 'done';
      },
    }),
  ],
});

describe('protocol: a tool with many requests to the client waiting at once', function () {
  this.timeout(30_000);
  const governance = recordingGovernance();
  let t: TestEngine;
  const warnings: Error[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning);

  before(async () => {
    t = await createTestEngine({ plugins: [governance.edition, plugin], tenant: governance.tenant, connect: false, sessions: true });
    process.on('warning', onWarning);
  });
  after(async () => {
    process.off('warning', onWarning);
    await t?.close();
  });

  async function connect(answer: boolean, onAsked: () => void = () => undefined): Promise<Client> {
    const client = new Client({ name: 'many-questions', version: '1.0.0' }, { capabilities: { sampling: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
      onAsked();
      if (!answer) return new Promise(() => undefined);
      return { role: 'assistant', content: { type: 'text', text: `a${(request.params.messages[0]!.content as { text: string }).text.slice(1)}` }, model: 'm' };
    });
    await client.connect(new StreamableHTTPClientTransport(new URL(t.engine.mcpUrl()), { requestInit: { headers: { authorization: 'Bearer reader-token' } } }));
    return client;
  }

  it(`${QUESTIONS} questions answered: every answer reaches the tool, and Node warns of no listener leak`, async () => {
    const client = await connect(true);
    try {
      const result = await client.callTool({ name: 'ask-all', arguments: { times: QUESTIONS } });
      expect(result.content).to.deep.equal([{ type: 'text', text: Array.from({ length: QUESTIONS }, (_, i) => `a${i}`).join(',') }]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning').map((warning) => warning.message)).to.deep.equal([]);
    } finally {
      await client.close();
    }
  });

  it(`a call cancelled while ${QUESTIONS} questions wait: each of them ends (rejected), none is left waiting`, async () => {
    let asked = 0;
    let allAsked!: () => void;
    const everyQuestionArrived = new Promise<void>((resolve) => (allAsked = resolve));
    const client = await connect(false, () => ++asked === QUESTIONS && allAsked());
    try {
      const cancel = new AbortController();
      const call = client.callTool({ name: 'ask-unanswered', arguments: { times: QUESTIONS } }, undefined, { signal: cancel.signal });
      // Once the client holds every question, cancel the call (notifications/cancelled).
      await everyQuestionArrived;
      cancel.abort('enough');
      await call.then(
        () => expect.fail('the cancelled call must not resolve'),
        () => undefined,
      );
      const deadline = Date.now() + 5000;
      while (outcomes.length < QUESTIONS && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(outcomes).to.deep.equal(Array.from({ length: QUESTIONS }, () => 'rejected'));
      expect(warnings.filter((warning) => warning.name === 'MaxListenersExceededWarning')).to.deep.equal([]);
    } finally {
      await client.close();
    }
  });
});
