import { expect } from 'chai';
import { ConfigError, definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';

describe('approval-required tools in the Community Edition', () => {
  let t: TestEngine;
  let runs = 0;
  before(async () => {
    const wipe = defineTool({
      name: 'disk.wipe',
      description: 'Wipes a disk.',
      approval: 'required',
      input: z.object({ disk: z.string() }),
      handler: () => {
        runs++;
        return 'wiped';
      },
    });
    t = await createTestEngine({ plugins: [communityEdition(), definePlugin({ id: 'disks', tools: [wipe] })] });
  });
  after(() => t.close());

  it('refuses the call with a clear message and never runs it', async () => {
    const result = await t.client.callTool({ name: 'disk.wipe', arguments: { disk: 'sda' } });
    expect(result.isError).to.equal(true);
    expect((result.content as { text: string }[])[0]!.text).to.equal(
      'Permission denied: disk.wipe requires approval before it runs, and this engine has no approvals (the Enterprise edition provides them); it was not executed',
    );
    expect(runs).to.equal(0);
  });

  it('does not offer MCP tasks, which it could not answer', async () => {
    expect(t.client.getServerCapabilities()?.tasks).to.equal(undefined);
    const tools = (await t.client.listTools()).tools;
    expect(tools.map((tool) => tool.name)).to.deep.equal(['disk.wipe']);
    expect(tools[0]!.execution).to.equal(undefined);
  });

  it('rejects an approval declaration it does not understand at definition time', () => {
    expect(() => defineTool({ name: 'x', description: 'x', approval: 'maybe' as never, input: z.object({}), handler: () => '' })).to.throw(ConfigError, "approval must be 'required'");
    expect(() => defineTool({ name: 'x', description: 'x', approval: 'required', approvers: 3 as never, input: z.object({}), handler: () => '' })).to.throw(ConfigError, 'approvers must be 1 or 2');
  });
});
