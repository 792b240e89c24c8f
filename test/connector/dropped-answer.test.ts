import { expect } from 'chai';
import { definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { connectConnector } from './support/connector-process.js';
import { cutAnswer, type Cut } from './support/local-servers.js';
import { proxiedConnector } from './support/proxied-connector.js';
import { connectorTestTools } from './support/tools-plugin.js';

/** Far longer than any answer here should take: a failure reported only when it expires was reported too late. */
const TIMEOUT_MS = 30_000;
/** How soon a broken answer must be reported. */
const PROMPTLY_MS = 5_000;

type Failure = { code?: number; message?: string; data?: unknown };

const OUTCOME_UNKNOWN =
  'it may or may not have run on the server, and it was not resent automatically. Check the server (its audit log) before retrying it, and retry only if that is safe.';

describe("connector: a server's answer that breaks off before its response", function () {
  this.timeout(60_000);
  const its = proxiedConnector(connectorTestTools(), { timeoutMs: TIMEOUT_MS });

  const cuts: Record<Cut, string> = { close: 'its connection is closed', reset: 'its connection is reset', end: 'the stream ends' };
  for (const [how, what] of Object.entries(cuts) as [Cut, string][]) {
    it(`answers a tools/call whose response stream is dropped mid-answer (${what}) at once, not at --timeout: its outcome is unknown, and the next call works`, async () => {
      const cutter = cutAnswer('tools/call', how);
      its.proxy.fault = cutter.fault;
      const progress: number[] = [];
      const started = Date.now();
      const failure = await its.connector.client
        .callTool({ name: 'count', arguments: { n: 3 } }, undefined, { onprogress: ({ progress: step }) => void progress.push(step), timeout: 2 * TIMEOUT_MS })
        .then(
          () => undefined,
          (error: Failure) => error,
        );
      const waited = Date.now() - started;

      expect(cutter.cuts).to.equal(1);
      // The answer had begun: the progress reached the client before the stream broke off.
      expect(progress).to.deep.equal([1, 2, 3]);
      expect(waited, 'the error came only after').to.be.below(PROMPTLY_MS);
      expect(failure?.code).to.equal(-32603);
      expect(failure?.data).to.deep.equal({ kind: 'dropped' });
      expect(failure?.message).to.match(/^MCP error -32603: the server at http:\/\/127\.0\.0\.1:\d+ closed the connection before answering, after the call to tool "count" was sent: /);
      expect(failure?.message).to.include(OUTCOME_UNKNOWN);
      // Told once, and never resent.
      expect(its.connector.stderr().trim()).to.equal(`gatehouse-connector: ${failure?.message?.replace('MCP error -32603: ', '')}`);
      expect(cutter.seen.filter((method) => method === 'tools/call')).to.have.length(1);

      // The connector goes on serving.
      const next = await its.connector.client.callTool({ name: 'echo', arguments: { text: 'still here' } });
      expect(next.content).to.deep.equal([{ type: 'text', text: 'still here' }]);
      expect(its.connector.stderr().trim().split('\n')).to.have.length(1);
    });
  }

  it('answers a tools/call whose JSON answer is cut short with its unknown outcome, not "forwarding tools/call failed: terminated"', async () => {
    const cutter = cutAnswer('tools/call', 'close');
    its.proxy.fault = cutter.fault;
    const started = Date.now();
    const failure = await its.connector.client.callTool({ name: 'echo', arguments: { text: 'cut' } }, undefined, { timeout: 2 * TIMEOUT_MS }).then(
      () => undefined,
      (error: Failure) => error,
    );
    expect(cutter.cuts).to.equal(1);
    expect(Date.now() - started).to.be.below(PROMPTLY_MS);
    expect(failure?.data).to.deep.equal({ kind: 'dropped' });
    expect(failure?.message).to.include('closed the connection before answering, after the call to tool "echo" was sent: ').and.include(OUTCOME_UNKNOWN);
    expect(its.connector.stderr().trim().split('\n')).to.have.length(1);
    expect((await its.connector.client.callTool({ name: 'echo', arguments: { text: 'next' } })).content).to.deep.equal([{ type: 'text', text: 'next' }]);
  });

  it('sends a read-only request (tools/list) whose answer broke off once more, and it succeeds', async () => {
    const cutter = cutAnswer('tools/list', 'close');
    its.proxy.fault = cutter.fault;
    const listed = await its.connector.client.listTools(undefined, { timeout: 2 * TIMEOUT_MS });
    expect(listed.tools.map((tool) => tool.name)).to.include('count');
    expect(cutter.cuts).to.equal(1);
    expect(cutter.seen.filter((method) => method === 'tools/list')).to.have.length(2);
    expect(its.connector.stderr()).to.equal('');
  });

  it('answers a read-only request whose answer broke off twice at once, with the closed connection', async () => {
    const cutter = cutAnswer('tools/list', 'reset', 2);
    its.proxy.fault = cutter.fault;
    const started = Date.now();
    const failure = await its.connector.client.listTools(undefined, { timeout: 2 * TIMEOUT_MS }).then(
      () => undefined,
      (error: Failure) => error,
    );
    expect(Date.now() - started).to.be.below(PROMPTLY_MS);
    expect(cutter.cuts).to.equal(2);
    expect(failure?.code).to.equal(-32603);
    expect(failure?.data).to.deep.equal({ kind: 'unreachable' });
    expect(failure?.message).to.match(/the server at http:\/\/127\.0\.0\.1:\d+ closed the connection before answering\. It may be restarting/);
    expect(its.connector.stderr().trim().split('\n')).to.have.length(1);
    expect((await its.connector.client.listTools()).tools.map((tool) => tool.name)).to.include('echo');
  });
});

describe("connector: a session's resumable answer that the server ends early", function () {
  this.timeout(60_000);
  let t: TestEngine;

  /** A tool that reports progress, ends its response stream early (the client resumes it), then answers. */
  const resumable = definePlugin({
    id: 'resumable-tool',
    tools: [
      defineTool({
        name: 'poll',
        description: 'Reports progress, closes its stream, answers a little later.',
        input: z.object({}),
        async handler(_input, ctx) {
          await ctx.progress(1, 2, 'before');
          ctx.closeStream();
          await new Promise((resolve) => setTimeout(resolve, 300));
          await ctx.progress(2, 2, 'after');
          return 'answered after the stream was closed';
        },
      }),
    ],
  });

  before(async () => {
    t = await createTestEngine({ plugins: [communityEdition(), resumable], connect: false, sessions: true });
  });
  after(() => t?.close());

  it('is not taken for an answer that broke off: the connector resumes it and delivers the response', async () => {
    const key = (await t.createKey()).secret;
    const connector = await connectConnector(['--url', t.engine.mcpUrl(), '--timeout', String(TIMEOUT_MS)], { GATEHOUSE_API_KEY: key });
    try {
      const progress: number[] = [];
      const result = await connector.client.callTool({ name: 'poll', arguments: {} }, undefined, { onprogress: ({ progress: step }) => void progress.push(step) });
      expect(result.content).to.deep.equal([{ type: 'text', text: 'answered after the stream was closed' }]);
      expect(progress).to.deep.equal([1, 2]);
      expect(connector.stderr()).to.equal('');
    } finally {
      await connector.close();
    }
  });
});
