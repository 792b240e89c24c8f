import { expect } from 'chai';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { definePlugin, definePrompt, defineResource, z } from '@gatehouse-mcp/engine';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { body, post, recordingGovernance } from './support.js';

const governance = recordingGovernance();

const resources = [
  defineResource({ name: 'readme', uri: 'docs://readme', title: 'Read me', description: 'The read-me.', mimeType: 'text/markdown', permission: 'docs:read', handler: () => '# Hello' }),
  defineResource({ name: 'logo', uri: 'docs://logo', mimeType: 'image/png', permission: 'docs:read', handler: () => new Uint8Array([137, 80, 78, 71]) }),
  defineResource({ name: 'changelog', uri: 'docs://changelog', permission: 'docs:read', handler: () => 'v1' }),
  defineResource({ name: 'salaries', uri: 'secrets://salaries', permission: 'secrets:read', handler: () => 'everything' }),
  defineResource({
    name: 'page',
    uriTemplate: 'docs://pages/{slug}',
    mimeType: 'text/plain',
    permission: 'docs:read',
    complete: { slug: (value) => ['intro', 'install', 'usage'].filter((slug) => slug.startsWith(value)) },
    handler: ({ slug }) => (slug === 'missing' ? undefined : `page ${slug}`),
  }),
  defineResource({ name: 'section', uriTemplate: 'docs://pages/{slug}/{section}', permission: 'docs:read', handler: ({ slug, section }) => `${slug}#${section}` }),
  defineResource({ name: 'vault', uriTemplate: 'secrets://vault/{key}', permission: 'secrets:read', handler: ({ key }) => key }),
];

const prompts = [
  definePrompt({ name: 'greet', description: 'Greets.', permission: 'docs:read', handler: () => 'Say hello.' }),
  definePrompt({
    name: 'summarise',
    title: 'Summarise',
    description: 'Summarises a page.',
    permission: 'docs:read',
    arguments: z.object({ page: z.string().describe('The page'), tone: z.string().optional().describe('How to sound') }),
    complete: { page: (value, { arguments: context }) => ['intro', 'install', 'usage'].filter((page) => page.startsWith(value)).map((page) => (context.tone ? `${page} (${context.tone})` : page)) },
    handler: ({ page, tone }) => ({ description: `Summary of ${page}`, messages: [{ role: 'user', content: { type: 'text', text: `Summarise ${page}${tone ? ` in a ${tone} tone` : ''}.` } }] }),
  }),
  definePrompt({ name: 'audit-all', description: 'Needs secrets.', permission: 'secrets:read', handler: () => 'no' }),
];

describe('protocol: resources, resource templates, prompts and completion', () => {
  let t: TestEngine;
  before(async () => {
    t = await createTestEngine({
      plugins: [governance.edition, definePlugin({ id: 'docs', resources, prompts })],
      tenant: governance.tenant,
      connect: false,
      pageSize: 2,
    });
  });
  after(() => t.close());
  beforeEach(() => (governance.audit.events.length = 0));

  it('advertises resources, prompts, completions and logging (subscribe only with sessions)', async () => {
    const client = await t.connect({ token: 'reader-token' });
    expect(client.getServerCapabilities()).to.deep.include({ resources: { subscribe: false, listChanged: false }, prompts: { listChanged: false }, completions: {}, logging: {} });
  });

  it('lists only the resources the policy allows, page by page', async () => {
    const client = await t.connect({ token: 'reader-token' });
    const first = await client.listResources();
    expect(first.resources).to.deep.equal([
      { uri: 'docs://readme', name: 'readme', title: 'Read me', description: 'The read-me.', mimeType: 'text/markdown' },
      { uri: 'docs://logo', name: 'logo', mimeType: 'image/png' },
    ]);
    expect(first.nextCursor).to.be.a('string');
    const second = await client.listResources({ cursor: first.nextCursor });
    expect(second.resources.map((resource) => resource.uri)).to.deep.equal(['docs://changelog']);
    expect(second.nextCursor).to.equal(undefined);
  });

  it('lists resource templates, filtered and paginated the same way', async () => {
    const client = await t.connect({ token: 'reader-token' });
    const first = await client.listResourceTemplates();
    expect(first.resourceTemplates).to.deep.equal([
      { uriTemplate: 'docs://pages/{slug}', name: 'page', mimeType: 'text/plain' },
      { uriTemplate: 'docs://pages/{slug}/{section}', name: 'section' },
    ]);
    expect(first.nextCursor, 'the hidden vault template does not make a second page').to.equal(undefined);
  });

  it('reads text and binary resources, and template resources with their variables', async () => {
    const client = await t.connect({ token: 'reader-token' });
    expect((await client.readResource({ uri: 'docs://readme' })).contents).to.deep.equal([{ uri: 'docs://readme', mimeType: 'text/markdown', text: '# Hello' }]);
    expect((await client.readResource({ uri: 'docs://logo' })).contents).to.deep.equal([{ uri: 'docs://logo', mimeType: 'image/png', blob: Buffer.from([137, 80, 78, 71]).toString('base64') }]);
    expect((await client.readResource({ uri: 'docs://pages/install' })).contents).to.deep.equal([{ uri: 'docs://pages/install', mimeType: 'text/plain', text: 'page install' }]);
    expect((await client.readResource({ uri: 'docs://pages/a%20b/notes' })).contents[0]).to.deep.include({ text: 'a b#notes' });
    const audited = governance.audit.events.filter((event) => event.action === 'resources/read');
    expect(audited.map((event) => [event.target, event.decision, event.outcome])).to.deep.equal([
      ['docs://readme', 'allowed', 'success'],
      ['docs://logo', 'allowed', 'success'],
      ['docs://pages/install', 'allowed', 'success'],
      ['docs://pages/a%20b/notes', 'allowed', 'success'],
    ]);
  });

  it('a denied resource read is JSON-RPC error -32003 naming the missing permission, and is audited as denied', async () => {
    const client = await t.connect({ token: 'reader-token' });
    const error = await client.readResource({ uri: 'secrets://salaries' }).then(() => undefined, (e: unknown) => e);
    expect(error).to.be.instanceOf(McpError);
    expect((error as McpError).code).to.equal(-32003);
    expect((error as McpError).message).to.include('secrets:read');
    const templated = await client.readResource({ uri: 'secrets://vault/root' }).then(() => undefined, (e: unknown) => e);
    expect((templated as McpError).code).to.equal(-32003);
    const denied = governance.audit.events.filter((event) => event.action === 'resources/read');
    expect(denied.map((event) => [event.target, event.decision, event.outcome])).to.deep.equal([
      ['secrets://salaries', 'denied', 'denied'],
      ['secrets://vault/root', 'denied', 'denied'],
    ]);
    expect(denied[0]!.principal?.id).to.equal('reader');
  });

  it('an unknown resource, or a template target its handler does not find, is -32002', async () => {
    const client = await t.connect({ token: 'reader-token' });
    for (const uri of ['docs://nothing', 'docs://pages/missing']) {
      const error = await client.readResource({ uri }).then(() => undefined, (e: unknown) => e);
      expect((error as McpError).code, uri).to.equal(-32002);
    }
  });

  it('lists prompts with their arguments, filtered and paginated', async () => {
    const client = await t.connect({ token: 'reader-token' });
    const first = await client.listPrompts();
    expect(first.prompts).to.deep.equal([
      { name: 'greet', description: 'Greets.' },
      {
        name: 'summarise',
        title: 'Summarise',
        description: 'Summarises a page.',
        arguments: [
          { name: 'page', description: 'The page', required: true },
          { name: 'tone', description: 'How to sound', required: false },
        ],
      },
    ]);
    expect(first.nextCursor, 'the hidden prompt does not make a second page').to.equal(undefined);
  });

  it('gets prompts with arguments; missing required arguments are -32602; denied prompts are -32003', async () => {
    const client = await t.connect({ token: 'reader-token' });
    expect(await client.getPrompt({ name: 'greet' })).to.deep.equal({ description: 'Greets.', messages: [{ role: 'user', content: { type: 'text', text: 'Say hello.' } }] });
    const got = await client.getPrompt({ name: 'summarise', arguments: { page: 'usage', tone: 'dry' } });
    expect(got).to.deep.equal({ description: 'Summary of usage', messages: [{ role: 'user', content: { type: 'text', text: 'Summarise usage in a dry tone.' } }] });
    const missing = await client.getPrompt({ name: 'summarise', arguments: {} }).then(() => undefined, (e: unknown) => e);
    expect((missing as McpError).code).to.equal(-32602);
    expect((missing as McpError).message).to.include('page');
    const denied = await client.getPrompt({ name: 'audit-all' }).then(() => undefined, (e: unknown) => e);
    expect((denied as McpError).code).to.equal(-32003);
    const unknown = await client.getPrompt({ name: 'nope' }).then(() => undefined, (e: unknown) => e);
    expect((unknown as McpError).code).to.equal(-32602);
    expect(governance.audit.events.filter((e) => e.action === 'prompts/get').map((e) => [e.target, e.outcome])).to.deep.equal([
      ['greet', 'success'],
      ['summarise', 'success'],
      ['summarise', 'refused'],
      ['audit-all', 'denied'],
      ['nope', 'refused'],
    ]);
  });

  it('completes prompt arguments (with context) and resource template variables', async () => {
    const client = await t.connect({ token: 'reader-token' });
    const prompt = await client.complete({ ref: { type: 'ref/prompt', name: 'summarise' }, argument: { name: 'page', value: 'in' } });
    expect(prompt.completion).to.deep.equal({ values: ['intro', 'install'], total: 2, hasMore: false });
    const withContext = await client.complete({ ref: { type: 'ref/prompt', name: 'summarise' }, argument: { name: 'page', value: 'u' }, context: { arguments: { tone: 'dry' } } });
    expect(withContext.completion.values).to.deep.equal(['usage (dry)']);
    const template = await client.complete({ ref: { type: 'ref/resource', uri: 'docs://pages/{slug}' }, argument: { name: 'slug', value: 'us' } });
    expect(template.completion.values).to.deep.equal(['usage']);
    const none = await client.complete({ ref: { type: 'ref/prompt', name: 'summarise' }, argument: { name: 'tone', value: 'x' } });
    expect(none.completion).to.deep.equal({ values: [], total: 0, hasMore: false });
    const denied = await client.complete({ ref: { type: 'ref/resource', uri: 'secrets://vault/{key}' }, argument: { name: 'key', value: '' } }).then(() => undefined, (e: unknown) => e);
    expect((denied as McpError).code).to.equal(-32003);
  });

  it('rejects a forged cursor with -32602', async () => {
    const response = await post(t.engine.mcpUrl(), 'reader-token', { jsonrpc: '2.0', id: 1, method: 'prompts/list', params: { cursor: 'not-a-cursor' } });
    expect((await body(response)).error.code).to.equal(-32602);
  });

  it('subscribing without sessions is refused: the method does not exist', async () => {
    const response = await post(t.engine.mcpUrl(), 'reader-token', { jsonrpc: '2.0', id: 1, method: 'resources/subscribe', params: { uri: 'docs://readme' } });
    expect((await body(response)).error.code).to.equal(-32601);
  });
});

describe('protocol: capabilities follow what the plugins provide', () => {
  it('an engine without resources or prompts advertises neither, and answers their methods with -32601', async () => {
    const governance = recordingGovernance();
    const t = await createTestEngine({ plugins: [governance.edition], tenant: governance.tenant, connect: false });
    try {
      const client = await t.connect({ token: 'reader-token' });
      expect(client.getServerCapabilities()).to.deep.equal({ tools: { listChanged: false }, logging: {} });
      const response = await post(t.engine.mcpUrl(), 'reader-token', { jsonrpc: '2.0', id: 1, method: 'resources/list' });
      expect((await body(response)).error.code).to.equal(-32601);
    } finally {
      await t.close();
    }
  });
});
