import { spawn } from 'node:child_process';
import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { startBridge } from '../../src/connector/bridge.js';
import { StderrLogger } from '../../src/connector/stderr-logger.js';
import { ApiKeyTokenSource } from '../../src/connector/token-source.js';
import { FROM_SOURCE, baseEnv } from './support/connector-process.js';

/** How long the slow tool runs unless cancelled. */
const TOOL_MS = 20_000;
/** How soon closing must end the exchange (the server cancels the tool) and the connector. */
const PROMPTLY_MS = 3_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what} never happened within ${timeoutMs} ms`);
    await sleep(20);
  }
}

describe('connector: closing while a request is in flight', function () {
  this.timeout(60_000);
  let t: TestEngine;
  let key = '';
  /** When the server's slow tool was cancelled (0: not yet), and how many times it started. */
  const probe = { cancelledAt: 0, started: 0 };

  /** A tool whose answer has begun (progress streamed) and that then runs for a long time, unless cancelled. */
  const slow = defineTool({
    name: 'slow',
    description: 'Reports progress, then runs for a long time unless cancelled.',
    input: z.object({}),
    async handler(_input, ctx) {
      probe.started++;
      await ctx.progress(1, 2, 'started');
      return new Promise<string>((resolve) => {
        const timer = setTimeout(() => resolve('done'), TOOL_MS);
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer);
          probe.cancelledAt = Date.now();
          resolve('cancelled');
        });
      });
    },
  });

  /** A tool whose answer is larger than a pipe holds. */
  const big = defineTool({ name: 'big', description: 'Answers with 512 KiB of text.', input: z.object({}), handler: () => 'x'.repeat(512 * 1024) });

  before(async () => {
    t = await createTestEngine({ plugins: [communityEdition(), definePlugin({ id: 'slow-tool', tools: [slow, big] })], connect: false });
    key = (await t.createKey()).secret;
  });
  beforeEach(() => {
    probe.cancelledAt = 0;
    probe.started = 0;
  });
  after(() => t?.close());

  it("closing the bridge while a tool's answer streamed in left that exchange open (the tool ran on, the process stayed alive): it is ended at once, and the server cancels the tool", async () => {
    const [clientSide, bridgeSide] = InMemoryTransport.createLinkedPair();
    const logged: string[] = [];
    const bridge = await startBridge({
      url: new URL(t.engine.mcpUrl()),
      tokens: new ApiKeyTokenSource(key, 'GATEHOUSE_API_KEY'),
      timeoutMs: 30_000,
      logger: new StderrLogger(false, (text) => void logged.push(text)),
      local: bridgeSide,
    });
    const client = new Client({ name: 'closing-test', version: '1.0.0' });
    await client.connect(clientSide);
    let progressed = false;
    const call = client.callTool({ name: 'slow', arguments: {} }, undefined, { onprogress: () => (progressed = true), timeout: 2 * TOOL_MS }).catch((error: unknown) => error);
    await waitFor(() => progressed, 'the progress of the tool');

    const closing = Date.now();
    await bridge.close();
    await waitFor(() => probe.cancelledAt > 0, 'the cancellation of the tool on the server', PROMPTLY_MS);
    expect(probe.cancelledAt - closing).to.be.below(PROMPTLY_MS);
    await call;
    await client.close();
    expect(logged).to.deep.equal([]);
  });

  it('SIGTERM while the client has stopped reading stdout: the connector still exits (it waited for stdout to drain until a second signal)', async () => {
    const child = spawn(process.execPath, [...FROM_SOURCE, '--url', t.engine.mcpUrl(), '--timeout', '30000'], { env: baseEnv({ GATEHOUSE_API_KEY: key }), stdio: ['pipe', 'pipe', 'pipe'] });
    try {
      let out = '';
      const onData = (chunk: Buffer): void => void (out += chunk.toString('utf8'));
      child.stdout.on('data', onData);
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      const write = (message: unknown): boolean => child.stdin.write(`${JSON.stringify(message)}\n`);
      write({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
      await waitFor(() => out.includes('"id":0'), 'the answer to initialize');
      write({ jsonrpc: '2.0', method: 'notifications/initialized' });
      // The client stops reading: the big answer fills the pipe, and the slow call is still in flight.
      child.stdout.off('data', onData);
      child.stdout.pause();
      write({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'big', arguments: {} } });
      write({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'slow', arguments: {}, _meta: { progressToken: 'p' } } });
      await waitFor(() => probe.started > 0, 'the slow call on the server');
      // Time for the big answer to reach the connector and back up behind the full pipe.
      await sleep(500);
      child.kill('SIGTERM');
      const code = await Promise.race([exited, sleep(PROMPTLY_MS).then(() => 'still running')]);
      expect(code).to.equal(143);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`${signal} while a tool's answer streams in: the connector exits at once and the server cancels the tool`, async () => {
      const child = spawn(process.execPath, [...FROM_SOURCE, '--url', t.engine.mcpUrl(), '--timeout', '30000'], { env: baseEnv({ GATEHOUSE_API_KEY: key }), stdio: ['pipe', 'pipe', 'pipe'] });
      try {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString('utf8')));
        const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
        const write = (message: unknown): boolean => child.stdin.write(`${JSON.stringify(message)}\n`);
        write({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } });
        await waitFor(() => out.includes('"id":0'), 'the answer to initialize');
        write({ jsonrpc: '2.0', method: 'notifications/initialized' });
        write({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'slow', arguments: {}, _meta: { progressToken: 'p' } } });
        await waitFor(() => out.includes('notifications/progress'), 'the progress of the tool');

        const stopping = Date.now();
        child.kill(signal);
        const code = await Promise.race([exited, sleep(PROMPTLY_MS).then(() => 'still running')]);
        expect(code).to.equal(signal === 'SIGTERM' ? 143 : 130);
        await waitFor(() => probe.cancelledAt > 0, 'the cancellation of the tool on the server', PROMPTLY_MS);
        expect(probe.cancelledAt - stopping).to.be.below(PROMPTLY_MS);
        expect(out).to.include(`{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"gatehouse-connector is stopping (${signal})."}}`);
      } finally {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    });
  }
});
