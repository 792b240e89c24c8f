import { expect } from 'chai';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { connectConnector } from './support/connector-process.js';
import { connectorTestTools } from './support/tools-plugin.js';

describe('connector: the server restarts mid-session', function () {
  this.timeout(60_000);
  const engines: TestEngine[] = [];
  after(async () => {
    for (const engine of engines) await engine.close();
  });

  it('keeps the client connected and completes the next call once the server is back', async () => {
    const first = await createTestEngine({ plugins: [communityEdition(), connectorTestTools()], connect: false });
    engines.push(first);
    const { secret } = await first.createKey();
    const port = Number(new URL(first.url).port);
    const connector = await connectConnector(['--url', first.engine.mcpUrl(), '--timeout', '20000', '--verbose'], { GATEHOUSE_API_KEY: secret });
    try {
      expect((await connector.client.callTool({ name: 'echo', arguments: { text: 'before' } })).content).to.deep.equal([{ type: 'text', text: 'before' }]);

      await first.close();
      const call = connector.client.callTool({ name: 'echo', arguments: { text: 'after' } });
      // The call is under way while nothing listens; the connector backs off and retries.
      await connector.waitForStderr(/connection refused.*Retrying in \d+ ms/);
      const second = await createTestEngine({ plugins: [communityEdition(), connectorTestTools()], connect: false });
      engines.push(second);
      await second.engine.listen({ port });

      expect((await call).content).to.deep.equal([{ type: 'text', text: 'after' }]);
      expect((await connector.client.listTools()).tools.map((tool) => tool.name)).to.include('echo');
    } finally {
      await connector.close();
    }
  });
});
