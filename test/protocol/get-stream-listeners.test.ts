import { expect } from 'chai';
import { getEventListeners } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { HttpHandler } from '../../src/core/http/http-handler.js';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { post, recordingGovernance } from './support.js';

const INIT = { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'leak-test', version: '1' } } };

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapAfterGc(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

describe('GET streams: the shutdown-signal listener leak (MaxListenersExceededWarning after 15 reconnects)', function () {
  this.timeout(180_000);
  let t: TestEngine;
  let shutdownSignal: AbortSignal;

  before(async () => {
    const governance = recordingGovernance();
    t = await createTestEngine({ plugins: [governance.edition], tenant: governance.tenant, connect: false, sessions: true });
    // The engine's drain signal: every open stream listens to it, and must stop listening when it ends.
    shutdownSignal = (t.engine.resolve(HttpHandler) as unknown as { shutdown: AbortController }).shutdown.signal;
  });
  after(() => t?.close());

  it('1,000 streams opened and closed leave the listeners and the heap where they were, without a warning', async () => {
    const url = t.engine.mcpUrl();
    const session = (await post(url, 'reader-token', INIT)).headers.get('mcp-session-id')!;
    expect(session).to.be.a('string');
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    const open = async (): Promise<void> => {
      const controller = new AbortController();
      const response = await fetch(url, { headers: { accept: 'text/event-stream', authorization: 'Bearer reader-token', 'mcp-session-id': session }, signal: controller.signal });
      expect(response.status).to.equal(200);
      controller.abort();
      await response.body?.cancel().catch(() => undefined);
    };
    try {
      for (let i = 0; i < 20; i++) await open();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const baselineListeners = getEventListeners(shutdownSignal, 'abort').length;
      const baselineHeap = heapAfterGc();
      for (let i = 0; i < 1_000; i++) await open();
      // The last disconnects reach the server a moment after the client aborted.
      const deadline = Date.now() + 10_000;
      while (getEventListeners(shutdownSignal, 'abort').length > baselineListeners && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(getEventListeners(shutdownSignal, 'abort').length).to.be.at.most(baselineListeners);
      const streamsGrowth = heapAfterGc() - baselineHeap;
      // The same number of plain requests on the session, as the yardstick of what any request costs in this process.
      const pingBaseline = heapAfterGc();
      for (let i = 0; i < 1_000; i++) await (await post(url, 'reader-token', { jsonrpc: '2.0', id: 2, method: 'ping' }, { 'mcp-session-id': session })).text();
      const pingsGrowth = heapAfterGc() - pingBaseline;
      expect(streamsGrowth, `1,000 streams grew the heap by ${streamsGrowth} bytes, 1,000 pings by ${pingsGrowth}`).to.be.below(Math.max(pingsGrowth, 0) * 1.5 + 2 * 1024 * 1024);
      expect(warnings).not.to.include('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
    }
  });
});
