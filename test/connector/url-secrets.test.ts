import { expect } from 'chai';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { connectConnector, runConnector } from './support/connector-process.js';
import { connectorTestTools } from './support/tools-plugin.js';
import { faultyProxy } from './support/local-servers.js';

/** Values a gateway in front of the server might take in the query: none may be printed. */
const SECRETS = ['sk-query-api-key-1234', 'tok-query-token-5678', 'sig-query-signature-90'];
const QUERY = `?api_key=${SECRETS[0]}&token=${SECRETS[1]}&sig=${SECRETS[2]}`;
const MASKED = '?api_key=***&token=***&sig=***';

function expectNoSecret(text: string | undefined): void {
  for (const secret of SECRETS) expect(text ?? '', 'a query value was printed').not.to.include(secret);
}


describe('connector: a URL with a key in its query', function () {
  this.timeout(60_000);
  let t: TestEngine;
  let key = '';

  before(async () => {
    t = await createTestEngine({ plugins: [communityEdition(), connectorTestTools()], connect: false });
    key = (await t.createKey()).secret;
  });
  after(() => t?.close());

  it('--verbose printed the query of --url with its key: every value is masked, the names stay', async () => {
    const connector = await connectConnector(['--url', `${t.engine.mcpUrl()}${QUERY}`, '--verbose'], { GATEHOUSE_API_KEY: key });
    try {
      expect((await connector.client.callTool({ name: 'echo', arguments: { text: 'ok' } })).content).to.deep.equal([{ type: 'text', text: 'ok' }]);
      const stderr = await connector.waitForStderr('connected to');
      expect(stderr).to.include(`at ${t.engine.mcpUrl()}${MASKED};`);
      expectNoSecret(stderr);
    } finally {
      await connector.close();
    }
  });

  it('a start-up failure printed the query of --url with its key, on stderr and to the client: every value is masked', async () => {
    const url = `${t.url}/api/not-mcp${QUERY}`;
    const run = await runConnector(['--url', url], { GATEHOUSE_API_KEY: key });
    expect(run.code).to.equal(1);
    expect(run.stderr).to.include(`there is no MCP endpoint at ${t.url}/api/not-mcp${MASKED} (404`);
    expectNoSecret(run.stderr);

    const refused = await connectConnector(['--url', url], { GATEHOUSE_API_KEY: key }).then(
      async (connected) => {
        await connected.close();
        return undefined;
      },
      (error: Error) => error,
    );
    expect(refused?.message).to.include(`there is no MCP endpoint at ${t.url}/api/not-mcp${MASKED}`);
    expectNoSecret(refused?.message);
  });

  it('a failure mid-session sent the query of --url with its key to the client and stderr: every value is masked', async () => {
    const proxy = await faultyProxy(t.engine.mcpUrl());
    const connector = await connectConnector(['--url', `${proxy.url}${QUERY}`], { GATEHOUSE_API_KEY: key });
    try {
      // The endpoint moves away.
      proxy.fault = (req, res) => {
        req.resume();
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
        return true;
      };
      const failure = await connector.client.callTool({ name: 'echo', arguments: { text: 'x' } }).then(
        () => undefined,
        (error: Error) => error,
      );
      expect(failure?.message).to.include(`there is no MCP endpoint at ${proxy.url}${MASKED} (404`);
      expectNoSecret(failure?.message);
      expectNoSecret(await connector.waitForStderr('there is no MCP endpoint'));
    } finally {
      await connector.close();
      await proxy.close();
    }
  });

  it('a --url that is no URL was echoed with the key in its query: the values are masked', async () => {
    const run = await runConnector(['--url', `https://mcp example.com/api/mcp${QUERY}`], { GATEHOUSE_API_KEY: key });
    expect(run.code).to.equal(2);
    expect(run.stderr).to.include(`--url "https://mcp example.com/api/mcp${MASKED}" is not a URL.`);
    expectNoSecret(run.stderr);
  });

  it('print-config printed the key in the query of --url: the configuration holds placeholders, and stderr says to fill them in', async () => {
    const run = await runConnector(['print-config', '--client', 'cursor', '--url', `https://mcp.example.com/api/mcp${QUERY}`]);
    expect(run.code).to.equal(0);
    expectNoSecret(run.stdout);
    expectNoSecret(run.stderr);
    const config = JSON.parse(run.stdout) as { mcpServers: { gatehouse: { args: string[] } } };
    expect(config.mcpServers.gatehouse.args).to.include('https://mcp.example.com/api/mcp?api_key=<your api_key>&token=<your token>&sig=<your sig>');
    expect(run.stderr).to.include('The values in the query of --url are printed as placeholders (<your …>), as secrets are: replace them in the configuration.');
  });
});
