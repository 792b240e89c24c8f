import { expect } from 'chai';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { connectConnector, runConnector } from './support/connector-process.js';
import { connectorTestTools } from './support/tools-plugin.js';
import { faultyProxy, type Fault } from './support/local-servers.js';

const KEY = { GATEHOUSE_API_KEY: 'gh_not-a-real-key-0123456789' };
/** What the engine answers, with 503, for a token it cannot check while the identity provider is down. */
const IDP_DOWN = 'The identity provider could not be reached to verify the token (its signing keys could not be fetched); try again later.';

/** One line on stderr, starting with the connector's name. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  expect(lines, `stderr: ${stderr}`).to.have.length(1);
  expect(lines[0]).to.match(/^gatehouse-connector: /);
  return lines[0]!;
}

const answer = (status: number, type: string, body: string, headers: Record<string, string> = {}): Fault => (req, res) => {
  req.resume();
  res.writeHead(status, { 'content-type': type, ...headers }).end(body);
  return true;
};

describe('connector: what a server, or what stands in front of it, answers', function () {
  this.timeout(60_000);
  let t: TestEngine;
  let key = '';

  before(async () => {
    t = await createTestEngine({ plugins: [communityEdition(), connectorTestTools()], connect: false });
    key = (await t.createKey()).secret;
  });
  after(() => t?.close());

  describe('at start-up', () => {
    async function start(fault: Fault) {
      const proxy = await faultyProxy(t.engine.mcpUrl());
      proxy.fault = fault;
      try {
        return await runConnector(['--url', proxy.url, '--timeout', '3000'], KEY);
      } finally {
        await proxy.close();
      }
    }

    it('a 429 was reported as "did not accept MCP … check --url": it says the server limits requests, and when to retry', async () => {
      const run = await start(answer(429, 'application/json', JSON.stringify({ error: 'rate_limited', error_description: 'Too many requests for this key.' }), { 'retry-after': '30' }));
      expect(run.code).to.equal(1);
      expect(oneLine(run.stderr)).to.include('the server is limiting requests (429 Too Many Requests: Too many requests for this key.). It asks to retry after 30 s.').and.not.include('--url');
    });

    it('a 503 with Retry-After (the identity provider is down) was reported as "the server failed": it says the server is unavailable for now, why, and when to retry', async () => {
      const run = await start(answer(503, 'application/json', JSON.stringify({ error: { code: 'unavailable', message: IDP_DOWN } }), { 'retry-after': '30' }));
      expect(run.code).to.equal(1);
      expect(oneLine(run.stderr)).to.include(`the server is unavailable for now (503 Service Unavailable: ${IDP_DOWN}). It asks to retry after 30 s. Try again later`).and.not.include('failed');
    });

    it('an HTML page with 200 (a proxy or login page) was reported as "HTTP -1": it names what answered', async () => {
      const run = await start(answer(200, 'text/html; charset=utf-8', '<html><head><title>Sign in - Corp Proxy</title></head><body>…</body></html>'));
      expect(run.code).to.equal(1);
      expect(oneLine(run.stderr)).to.match(/the server at http:\/\/127\.0\.0\.1:\d+ answered with text\/html \("Sign in - Corp Proxy"\), not MCP \(HTTP 200\)\. A proxy or login page may be in the way/);
    });

    it('JSON that is no JSON-RPC message was dumped over many lines: it is one line', async () => {
      const run = await start(answer(200, 'application/json', '{"hello":"world"}'));
      expect(run.code).to.equal(1);
      expect(oneLine(run.stderr)).to.include("the server's answer is not a JSON-RPC message");
    });
  });

  describe('during a session', () => {
    it('a 429 with Retry-After failed the request at once: it is retried after the wait, and succeeds', async () => {
      const proxy = await faultyProxy(t.engine.mcpUrl());
      try {
        const connector = await connectConnector(['--url', proxy.url, '--timeout', '10000', '--verbose'], { GATEHOUSE_API_KEY: key });
        try {
          let limited = 0;
          proxy.fault = (req, res, forward) => {
            if (limited++ > 0) return false;
            return answer(429, 'application/json', '{"error":"rate_limited"}', { 'retry-after': '1' })(req, res, forward);
          };
          const started = Date.now();
          const result = await connector.client.callTool({ name: 'echo', arguments: { text: 'after the limit' } });
          expect(result.content).to.deep.equal([{ type: 'text', text: 'after the limit' }]);
          expect(Date.now() - started).to.be.at.least(900);
          await connector.waitForStderr('the server is limiting requests (429); retrying in 1000 ms.');
        } finally {
          await connector.close();
        }
      } finally {
        await proxy.close();
      }
    });

    it('a 503 with Retry-After (the identity provider is down) is retried after the wait it asks, and succeeds', async () => {
      const proxy = await faultyProxy(t.engine.mcpUrl());
      try {
        const connector = await connectConnector(['--url', proxy.url, '--timeout', '10000', '--verbose'], { GATEHOUSE_API_KEY: key });
        try {
          let refused = 0;
          proxy.fault = (req, res, forward) => {
            if (refused++ > 0) return false;
            return answer(503, 'application/json', JSON.stringify({ error: { code: 'unavailable', message: IDP_DOWN } }), { 'retry-after': '1' })(req, res, forward);
          };
          const started = Date.now();
          const result = await connector.client.callTool({ name: 'echo', arguments: { text: 'after the outage' } });
          expect(result.content).to.deep.equal([{ type: 'text', text: 'after the outage' }]);
          expect(Date.now() - started).to.be.at.least(900);
          await connector.waitForStderr('the server is unavailable (503); retrying in 1000 ms.');
        } finally {
          await connector.close();
        }
      } finally {
        await proxy.close();
      }
    });

    it('a 429 that outlasts --timeout is answered with a JSON-RPC error saying so', async () => {
      const proxy = await faultyProxy(t.engine.mcpUrl());
      try {
        const connector = await connectConnector(['--url', proxy.url, '--timeout', '2000'], { GATEHOUSE_API_KEY: key });
        try {
          proxy.fault = answer(429, 'application/json', '{"error":"rate_limited"}', { 'retry-after': '60' });
          const failure = await connector.client.callTool({ name: 'echo', arguments: { text: 'x' } }).then(() => undefined, (error: { code?: number; message?: string; data?: unknown }) => error);
          expect(failure?.code).to.equal(-32603);
          expect(failure?.data).to.deep.equal({ kind: 'rate-limited' });
          expect(failure?.message).to.include('the server is limiting requests (429 Too Many Requests). It asks to retry after 60 s.');
        } finally {
          await connector.close();
        }
      } finally {
        await proxy.close();
      }
    });

    it('an HTML page with 200 mid-session is answered with an error that names it', async () => {
      const proxy = await faultyProxy(t.engine.mcpUrl());
      try {
        const connector = await connectConnector(['--url', proxy.url, '--timeout', '5000'], { GATEHOUSE_API_KEY: key });
        try {
          proxy.fault = answer(200, 'text/html', '<html><title>Captive portal</title></html>');
          const failure = await connector.client.callTool({ name: 'echo', arguments: { text: 'x' } }).then(() => undefined, (error: { message?: string; data?: unknown }) => error);
          expect(failure?.data).to.deep.equal({ kind: 'protocol' });
          expect(failure?.message).to.include('answered with text/html ("Captive portal"), not MCP (HTTP 200)');
          expect(oneLine(connector.stderr())).to.include('answered with text/html');
        } finally {
          await connector.close();
        }
      } finally {
        await proxy.close();
      }
    });
  });
});
