import { expect } from 'chai';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { connectConnector, runConnector } from './support/connector-process.js';
import { answeringServer, closedPort, controllableProxy, silentServer } from './support/local-servers.js';
import { connectorTestTools } from './support/tools-plugin.js';

const KEY = { GATEHOUSE_API_KEY: 'gh_not-a-real-key-0123456789' };

/** The connector's stderr must be exactly one line, starting with its name. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines, `stderr: ${stderr}`).to.have.length(1);
  expect(lines[0]).to.match(/^gatehouse-connector: /);
  return lines[0]!;
}

describe('connector: failures a user can act on', function () {
  this.timeout(60_000);
  let t: TestEngine;

  before(async () => {
    t = await createTestEngine({ plugins: [communityEdition(), connectorTestTools()], connect: false });
  });
  after(() => t?.close());

  describe('at start-up (exit code 1, one line on stderr)', () => {
    it('server not running: connection refused', async () => {
      const port = await closedPort();
      const run = await runConnector(['--url', `http://127.0.0.1:${port}/api/mcp`], KEY);
      expect(run.code).to.equal(1);
      expect(oneLine(run.stderr)).to.include(`cannot reach the server at http://127.0.0.1:${port}: connection refused`).and.include('--url');
      expect(run.stdout).to.equal('');
    });

    it('a client that sent its initialize is answered with the same line, so it can show why (it saw only the connection close)', async () => {
      const port = await closedPort();
      let refused: Error | undefined;
      try {
        const connected = await connectConnector(['--url', `http://127.0.0.1:${port}/api/mcp`], KEY);
        await connected.close();
      } catch (error) {
        refused = error as Error;
      }
      expect(refused?.message).to.match(new RegExp(`^the connector did not start: MCP error -32000: gatehouse-connector: cannot reach the server at http://127\\.0\\.0\\.1:${port}: connection refused`));
    });

    it('unknown host: DNS failure', async () => {
      const run = await runConnector(['--url', 'https://gatehouse-nowhere.invalid/api/mcp'], KEY);
      expect(run.code).to.equal(1);
      expect(oneLine(run.stderr)).to.include('cannot resolve the host "gatehouse-nowhere.invalid"');
    });

    it('https spoken to a plain-http port: TLS failure', async () => {
      const url = t.engine.mcpUrl().replace('http://', 'https://');
      const run = await runConnector(['--url', url], KEY);
      expect(run.code).to.equal(1);
      expect(oneLine(run.stderr)).to.match(/TLS handshake with https:\/\/127\.0\.0\.1:\d+ failed/).and.include('use an http:// URL');
    });

    it('a wrong API key: 401 naming the variable to fix, without the key', async () => {
      const run = await runConnector(['--url', t.engine.mcpUrl()], KEY);
      expect(run.code).to.equal(1);
      const line = oneLine(run.stderr);
      expect(line).to.include('the server rejected the API key in GATEHOUSE_API_KEY (401: The API key is not valid. This server takes API keys, not OAuth');
      expect(line).not.to.include(KEY.GATEHOUSE_API_KEY);
    });

    it('an expired API key: 401 that says it expired', async () => {
      const { secret } = await t.createKey({ expiresAt: new Date(Date.now() + 1_000) });
      await new Promise((resolve) => setTimeout(resolve, 1_200));
      const run = await runConnector(['--url', t.engine.mcpUrl(), '--api-key-env', 'MY_KEY'], { MY_KEY: secret });
      expect(run.code).to.equal(1);
      expect(oneLine(run.stderr)).to.include('the server rejected the API key in MY_KEY: it has expired').and.include('Create a new key');
    });

    it('a 403 from the server', async () => {
      const server = await answeringServer(403, { error: 'forbidden', error_description: 'Host header is not allowed.' });
      try {
        const run = await runConnector(['--url', `${server.url}/api/mcp`], KEY);
        expect(run.code).to.equal(1);
        expect(oneLine(run.stderr)).to.include('the server refused access (403: Host header is not allowed.)');
      } finally {
        await server.close();
      }
    });

    it('a 5xx from the server', async () => {
      const server = await answeringServer(500, { error: 'internal_error', error_description: 'Internal error (request 42).' });
      try {
        const run = await runConnector(['--url', `${server.url}/api/mcp`], KEY);
        expect(run.code).to.equal(1);
        expect(oneLine(run.stderr)).to.include('the server failed with HTTP 500 (Internal error (request 42).)');
      } finally {
        await server.close();
      }
    });

    it('a server that never answers: timeout', async () => {
      const server = await silentServer();
      try {
        const started = Date.now();
        const run = await runConnector(['--url', `${server.url}/api/mcp`, '--timeout', '800'], KEY);
        expect(run.code).to.equal(1);
        expect(oneLine(run.stderr)).to.include(`the server at ${server.url} did not answer within 800 ms`).and.include('--timeout');
        expect(Date.now() - started).to.be.lessThan(10_000);
      } finally {
        await server.close();
      }
    });

    it('a URL that is not an MCP endpoint: 404', async () => {
      const { secret } = await t.createKey();
      const run = await runConnector(['--url', `${t.url}/api/not-mcp`], { GATEHOUSE_API_KEY: secret });
      expect(run.code).to.equal(1);
      expect(oneLine(run.stderr)).to.include('there is no MCP endpoint at').and.include('Check the path in --url');
    });
  });

  describe('mid-session (a protocol error to the client, the connector keeps running)', () => {
    it('5xx and timeouts, then recovery', async () => {
      const proxy = await controllableProxy(t.url);
      const { secret } = await t.createKey();
      const connector = await connectConnector(['--url', `${proxy.url}/api/mcp`, '--timeout', '1500'], { GATEHOUSE_API_KEY: secret });
      try {
        expect((await connector.client.callTool({ name: 'echo', arguments: { text: 'a' } })).content).to.deep.equal([{ type: 'text', text: 'a' }]);

        proxy.mode = 'fail';
        const failed = await connector.client.callTool({ name: 'echo', arguments: { text: 'b' } }).then(
          () => undefined,
          (error: { code?: number; message?: string }) => error,
        );
        expect(failed?.code).to.equal(-32603);
        expect(failed?.message).to.include('the server failed with HTTP 502');
        await connector.waitForStderr('the server failed with HTTP 502');

        proxy.mode = 'hang';
        const timedOut = await connector.client.callTool({ name: 'echo', arguments: { text: 'c' } }).then(
          () => undefined,
          (error: { code?: number; message?: string }) => error,
        );
        expect(timedOut?.code).to.equal(-32001);
        expect(timedOut?.message).to.include('did not answer within 1500 ms');
        await connector.waitForStderr('did not answer within 1500 ms');

        proxy.mode = 'pass';
        expect((await connector.client.callTool({ name: 'echo', arguments: { text: 'd' } })).content).to.deep.equal([{ type: 'text', text: 'd' }]);
        expect(connector.stderr()).not.to.include(secret);
      } finally {
        await connector.close();
        await proxy.close();
      }
    });

    it('an API key that expires during the session', async () => {
      const expiresAt = new Date(Date.now() + 8_000);
      const { secret } = await t.createKey({ expiresAt });
      const connector = await connectConnector(['--url', t.engine.mcpUrl()], { GATEHOUSE_API_KEY: secret });
      try {
        expect((await connector.client.callTool({ name: 'echo', arguments: { text: 'ok' } })).content).to.deep.equal([{ type: 'text', text: 'ok' }]);
        await new Promise((resolve) => setTimeout(resolve, expiresAt.getTime() - Date.now() + 200));
        const failed = await connector.client.callTool({ name: 'echo', arguments: { text: 'late' } }).then(
          () => undefined,
          (error: { code?: number; message?: string }) => error,
        );
        expect(failed?.message).to.include('it has expired');
        await connector.waitForStderr('the server rejected the API key in GATEHOUSE_API_KEY: it has expired');
      } finally {
        await connector.close();
      }
    });
  });
});
