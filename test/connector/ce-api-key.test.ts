import { expect } from 'chai';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { connectConnector, runConnector, type ConnectedConnector } from './support/connector-process.js';
import { connectorTestTools, type ToolProbe } from './support/tools-plugin.js';

describe('connector: Community Edition with an API key', function () {
  this.timeout(60_000);
  let t: TestEngine;
  let connector: ConnectedConnector;
  const probe: ToolProbe = { aborted: 0 };
  const localErrors: Error[] = [];
  let apiKey = '';

  before(async () => {
    t = await createTestEngine({ plugins: [communityEdition(), connectorTestTools(probe)], pageSize: 2, connect: false });
    apiKey = (await t.createKey()).secret;
    connector = await connectConnector(['--url', t.engine.mcpUrl(), '--verbose'], { GATEHOUSE_API_KEY: apiKey });
    connector.client.onerror = (error) => localErrors.push(error);
  });

  after(async () => {
    await connector?.close();
    await t?.close();
  });

  it('lists the remote tools page by page, passing the cursor through', async () => {
    const first = await connector.client.listTools();
    expect(first.tools).to.have.length(2);
    expect(first.nextCursor).to.be.a('string');
    const second = await connector.client.listTools({ cursor: first.nextCursor });
    expect(second.nextCursor).to.equal(undefined);
    expect([...first.tools, ...second.tools].map((tool) => tool.name).sort()).to.deep.equal(['count', 'echo', 'wait']);
  });

  it('calls a remote tool and returns its result', async () => {
    const result = await connector.client.callTool({ name: 'echo', arguments: { text: 'through the connector' } });
    expect(result.content).to.deep.equal([{ type: 'text', text: 'through the connector' }]);
  });

  it('passes the server’s protocol errors through unchanged', async () => {
    const failure = await connector.client.callTool({ name: 'no-such-tool', arguments: {} }).then(
      () => undefined,
      (error: { code?: number }) => error,
    );
    expect(failure?.code).to.equal(-32602);
  });

  it('forwards progress notifications with the client’s own progress token', async () => {
    const seen: { progress: number; total?: number; message?: string }[] = [];
    const result = await connector.client.callTool({ name: 'count', arguments: { n: 3 } }, undefined, { onprogress: (p) => seen.push(p) });
    expect(result.content).to.deep.equal([{ type: 'text', text: 'counted to 3' }]);
    expect(seen.map((p) => p.progress)).to.deep.equal([1, 2, 3]);
    expect(seen[2]).to.include({ total: 3, message: 'step 3' });
  });

  it('cancels the remote tool call when the client cancels', async () => {
    const controller = new AbortController();
    const call = connector.client.callTool({ name: 'wait', arguments: {} }, undefined, { signal: controller.signal });
    await new Promise((resolve) => setTimeout(resolve, 300));
    controller.abort('the user gave up');
    await call.then(
      () => expect.fail('the call should have been cancelled'),
      () => undefined,
    );
    const deadline = Date.now() + 5_000;
    while (probe.aborted === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(probe.aborted, 'the tool on the server saw the cancellation').to.equal(1);
    // The connector stays usable afterwards.
    const result = await connector.client.callTool({ name: 'echo', arguments: { text: 'still here' } });
    expect(result.content).to.deep.equal([{ type: 'text', text: 'still here' }]);
  });

  it('keeps stdout for protocol messages and never logs the API key, even with --verbose', async () => {
    expect(localErrors, 'the client read only valid JSON-RPC from stdout').to.deep.equal([]);
    expect(connector.stderr()).to.include('connected to');
    expect(apiKey).to.have.length.greaterThan(16);
    expect(connector.stderr()).not.to.include(apiKey);
  });

  it('is quiet by default and exits 0 when the client closes stdin', async () => {
    const run = await runConnector(['--url', t.engine.mcpUrl()], { GATEHOUSE_API_KEY: apiKey });
    expect(run.code).to.equal(0);
    expect(run.stderr).to.equal('');
    expect(run.stdout).to.equal('');
  });
});
