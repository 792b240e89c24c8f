import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { FROM_SOURCE, baseEnv } from './support/connector-process.js';

const confirm = defineTool({
  name: 'confirm',
  description: 'Asks the user to confirm.',
  input: z.object({ what: z.string() }),
  async handler({ what }, ctx) {
    try {
      const answer = await ctx.requestClient('elicitation/create', {
        message: `Really ${what}?`,
        requestedSchema: { type: 'object', properties: { sure: { type: 'boolean' }, note: { type: 'string' } }, required: ['sure'] },
      });
      return `user ${String(answer.action)}: ${JSON.stringify(answer.content)}`;
    } catch (error) {
      return `could not ask: ${(error as Error).message}`;
    }
  },
});
const ask = defineTool({
  name: 'ask',
  description: 'Asks the client’s model.',
  input: z.object({ question: z.string() }),
  async handler({ question }, ctx) {
    try {
      const answer = await ctx.requestClient('sampling/createMessage', { messages: [{ role: 'user', content: { type: 'text', text: question } }], maxTokens: 10 });
      return `model ${String(answer.model)} said: ${(answer.content as { text: string }).text}`;
    } catch (error) {
      return `could not ask: ${(error as Error).message}`;
    }
  },
});
const whereAmI = defineTool({
  name: 'where-am-i',
  description: 'Lists the client’s roots.',
  input: z.object({}),
  async handler(_args, ctx) {
    try {
      const answer = await ctx.requestClient('roots/list', {});
      return (answer.roots as { uri: string }[]).map((root) => root.uri).join(' ');
    } catch (error) {
      return `could not list roots: ${(error as Error).message}`;
    }
  },
});

function text(result: Awaited<ReturnType<Client['callTool']>>): string {
  return (result.content as { type: string; text: string }[])[0]!.text;
}

async function stdioClient(t: TestEngine, secret: string, capabilities: Record<string, unknown>, timeoutMs?: number): Promise<Client> {
  const args = [...FROM_SOURCE, '--url', t.engine.mcpUrl(), ...(timeoutMs ? ['--timeout', String(timeoutMs)] : [])];
  const transport = new StdioClientTransport({ command: process.execPath, args, env: baseEnv({ GATEHOUSE_API_KEY: secret }), stderr: 'pipe' });
  const client = new Client({ name: 'connector-client-requests', version: '1.0.0' }, { capabilities });
  await client.connect(transport);
  return client;
}

describe('connector: server→client requests (elicitation, sampling, roots)', function () {
  this.timeout(60_000);
  let t: TestEngine;
  let secret: string;
  const clients: Client[] = [];

  before(async () => {
    t = await createTestEngine({ plugins: [communityEdition(), definePlugin({ id: 'asking', tools: [confirm, ask, whereAmI] })], connect: false });
    ({ secret } = await t.createKey());
  });
  after(async () => {
    for (const client of clients) await client.close().catch(() => undefined);
    await t?.close();
  });

  it('relays an elicitation to the stdio client, and its answer back to the tool', async () => {
    const client = await stdioClient(t, secret, { elicitation: {} });
    clients.push(client);
    const asked: string[] = [];
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      asked.push(request.params.message);
      return { action: 'accept', content: { sure: true, note: 'go ahead' } };
    });
    const result = await client.callTool({ name: 'confirm', arguments: { what: 'delete the board' } });
    expect(asked).to.deep.equal(['Really delete the board?']);
    expect(text(result)).to.equal('user accept: {"sure":true,"note":"go ahead"}');
  });

  it('relays a declined elicitation as declined', async () => {
    const client = await stdioClient(t, secret, { elicitation: {} });
    clients.push(client);
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'decline' }));
    expect(text(await client.callTool({ name: 'confirm', arguments: { what: 'go' } }))).to.equal('user decline: undefined');
  });

  it('does not cut off a call while the user takes longer than --timeout to answer', async () => {
    const client = await stdioClient(t, secret, { elicitation: {} }, 500);
    clients.push(client);
    client.setRequestHandler(ElicitRequestSchema, async () => {
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      return { action: 'accept', content: { sure: false } };
    });
    expect(text(await client.callTool({ name: 'confirm', arguments: { what: 'wait' } }))).to.equal('user accept: {"sure":false}');
  });

  it('a question the server withdrew (the call was cancelled) stayed open in the stdio client: its handler is told, with the reason', async () => {
    const client = await stdioClient(t, secret, { elicitation: {} });
    clients.push(client);
    let asked: () => void = () => undefined;
    const question = new Promise<void>((resolve) => (asked = resolve));
    const dialog: { withdrawn: boolean; reason?: string } = { withdrawn: false };
    client.setRequestHandler(ElicitRequestSchema, (_request, extra) => {
      asked();
      return new Promise((resolve) => {
        const timer = setTimeout(() => resolve({ action: 'accept', content: { sure: true } }), 10_000);
        extra.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          dialog.withdrawn = true;
          dialog.reason = String(extra.signal.reason);
          resolve({ action: 'cancel' });
        });
      });
    });
    const controller = new AbortController();
    const call = client.callTool({ name: 'confirm', arguments: { what: 'delete everything' } }, undefined, { signal: controller.signal }).then(
      () => 'answered',
      () => 'rejected',
    );
    await question;
    controller.abort('never mind');
    expect(await call).to.equal('rejected');
    const deadline = Date.now() + 3_000;
    while (!dialog.withdrawn && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(dialog.withdrawn, 'the stdio client was told the question was withdrawn').to.equal(true);
    // From the server, or from the connector when the cancelled call's stream ended before the server's notice came.
    expect(dialog.reason).to.match(/^The call that sent elicitation\/create (stopped: never mind|was cancelled\.)$/);
    // The connector goes on relaying questions.
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: 'accept', content: { sure: true } }));
    expect(text(await client.callTool({ name: 'confirm', arguments: { what: 'this' } }))).to.equal('user accept: {"sure":true}');
  });

  it('relays sampling to the stdio client’s model', async () => {
    const client = await stdioClient(t, secret, { sampling: {} });
    clients.push(client);
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
      const question = (request.params.messages[0]!.content as { text: string }).text;
      return { role: 'assistant', model: 'local-model', content: { type: 'text', text: `42 is the answer to "${question}"` } };
    });
    const result = await client.callTool({ name: 'ask', arguments: { question: 'what is six times seven' } });
    expect(text(result)).to.equal('model local-model said: 42 is the answer to "what is six times seven"');
  });

  it('relays roots/list to the stdio client', async () => {
    const client = await stdioClient(t, secret, { roots: { listChanged: true } });
    clients.push(client);
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: 'file:///home/ada/project', name: 'project' }, { uri: 'file:///tmp/scratch' }] }));
    expect(text(await client.callTool({ name: 'where-am-i', arguments: {} }))).to.equal('file:///home/ada/project file:///tmp/scratch');
  });

  it('tells the tool when the stdio client lacks the capability, instead of hanging', async () => {
    const client = await stdioClient(t, secret, {});
    clients.push(client);
    const result = await client.callTool({ name: 'confirm', arguments: { what: 'go' } });
    expect(text(result)).to.match(/^could not ask: .*does not support elicitation/);
  });
});
