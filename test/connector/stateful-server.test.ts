import { expect } from 'chai';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { connectConnector, type ConnectedConnector } from './support/connector-process.js';
import { startStatefulServer, type StatefulServer } from './support/stateful-server.js';

describe('connector: a stateful MCP server', function () {
  this.timeout(60_000);
  let server: StatefulServer;
  let connector: ConnectedConnector;

  before(async () => {
    server = await startStatefulServer();
    connector = await connectConnector(['--url', server.url, '--verbose'], { GATEHOUSE_API_KEY: 'fixture-key-not-checked' });
  });
  after(async () => {
    await connector?.close();
    await server?.close();
  });

  it('relays list-changed notifications from the server’s stream', async () => {
    let changed = 0;
    connector.client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
    expect(connector.client.getServerCapabilities()?.tools?.listChanged).to.equal(true);
    await connector.client.callTool({ name: 'add-tool', arguments: {} });
    const deadline = Date.now() + 5_000;
    while (changed === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
    expect(changed).to.be.greaterThan(0);
    expect((await connector.client.listTools()).tools.map((tool) => tool.name)).to.deep.equal(['add-tool', 'added-1']);
  });

  it('initializes a new session when the server has lost ours, and completes the request', async () => {
    expect(server.sessions()).to.equal(1);
    server.forgetSessions();
    const result = await connector.client.callTool({ name: 'add-tool', arguments: {} });
    expect(result.content).to.deep.equal([{ type: 'text', text: 'added-1' }]);
    expect(server.sessions()).to.equal(2);
    await connector.waitForStderr('the server lost the session; initialized a new one.');
  });
});
