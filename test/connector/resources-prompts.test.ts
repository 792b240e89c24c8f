import { expect } from 'chai';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { definePlugin, definePrompt, defineResource, defineTool, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { connectConnector, type ConnectedConnector } from './support/connector-process.js';

const readme = defineResource({ name: 'readme', uri: 'docs://readme', mimeType: 'text/markdown', description: 'The readme.', handler: () => '# Hello' });
const ticket = defineResource({
  name: 'ticket',
  uriTemplate: 'ticket://{id}',
  description: 'A ticket by id.',
  complete: { id: (value) => ['T-1', 'T-2', 'X-9'].filter((id) => id.startsWith(value)) },
  handler: ({ id }) => `ticket ${id}`,
});
const triage = definePrompt({
  name: 'triage',
  description: 'Triage a ticket.',
  arguments: z.object({ ticket: z.string() }),
  handler: ({ ticket: id }) => `Please triage ${id}.`,
});
const chatty = defineTool({
  name: 'chatty',
  description: 'Logs at two levels.',
  input: z.object({}),
  async handler(_args, ctx) {
    await ctx.log('info', 'routine');
    await ctx.log('error', { problem: 'broken' }, 'worker');
    return 'done';
  },
});

describe('connector: resources, prompts, completion and logging', function () {
  this.timeout(60_000);
  let t: TestEngine;
  let connector: ConnectedConnector;

  before(async () => {
    t = await createTestEngine({
      plugins: [communityEdition(), definePlugin({ id: 'content', tools: [chatty], resources: [readme, ticket], prompts: [triage] })],
      connect: false,
    });
    const { secret } = await t.createKey();
    connector = await connectConnector(['--url', t.engine.mcpUrl()], { GATEHOUSE_API_KEY: secret });
  });
  after(async () => {
    await connector?.close();
    await t?.close();
  });

  it('advertises what the server offers', () => {
    const capabilities = connector.client.getServerCapabilities();
    expect(capabilities).to.have.keys('tools', 'resources', 'prompts', 'logging', 'completions');
  });

  it('lists and reads resources and resource templates', async () => {
    const { resources } = await connector.client.listResources();
    expect(resources.map((r) => r.uri)).to.deep.equal(['docs://readme']);
    const { resourceTemplates } = await connector.client.listResourceTemplates();
    expect(resourceTemplates.map((r) => r.uriTemplate)).to.deep.equal(['ticket://{id}']);
    const read = await connector.client.readResource({ uri: 'docs://readme' });
    expect(read.contents).to.deep.equal([{ uri: 'docs://readme', mimeType: 'text/markdown', text: '# Hello' }]);
    const fromTemplate = await connector.client.readResource({ uri: 'ticket://T-7' });
    expect(fromTemplate.contents[0]).to.include({ uri: 'ticket://T-7', text: 'ticket T-7' });
  });

  it('lists and gets prompts, and completes arguments', async () => {
    const { prompts } = await connector.client.listPrompts();
    expect(prompts.map((p) => p.name)).to.deep.equal(['triage']);
    const prompt = await connector.client.getPrompt({ name: 'triage', arguments: { ticket: 'T-3' } });
    expect(prompt.messages).to.deep.equal([{ role: 'user', content: { type: 'text', text: 'Please triage T-3.' } }]);
    const completion = await connector.client.complete({ ref: { type: 'ref/resource', uri: 'ticket://{id}' }, argument: { name: 'id', value: 'T-' } });
    expect(completion.completion.values).to.deep.equal(['T-1', 'T-2']);
  });

  it('forwards the log level and the server’s log messages, ahead of the result', async () => {
    const events: string[] = [];
    connector.client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void events.push(`${n.params.level} ${JSON.stringify(n.params.data)}`));
    expect(await connector.client.setLoggingLevel('warning')).to.deep.equal({});
    const result = await connector.client.callTool({ name: 'chatty', arguments: {} });
    events.push(`result ${JSON.stringify(result.content)}`);
    expect(events).to.deep.equal(['error {"problem":"broken"}', 'result [{"type":"text","text":"done"}]']);
  });
});
