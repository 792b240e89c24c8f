import { expect } from 'chai';
import { defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine } from '@gatehouse-mcp/engine/testing';

describe('smoke', () => {
  it('serves a tool to a real MCP client', async () => {
    const echo = defineTool({ name: 'echo', description: 'Echo', input: z.object({ text: z.string() }), handler: ({ text }) => text });
    const t = await createTestEngine({ plugins: [communityEdition(), definePlugin({ id: 'x', tools: [echo] })] });
    try {
      const tools = await t.client.listTools();
      expect(tools.tools.map((x) => x.name)).to.deep.equal(['echo']);
      const result = await t.client.callTool({ name: 'echo', arguments: { text: 'hi' } });
      expect(result.content).to.deep.equal([{ type: 'text', text: 'hi' }]);
    } finally {
      await t.close();
    }
  });
});
