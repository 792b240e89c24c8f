/**
 * A host's own AuditSink whose `record()` returns a promise (it writes each event to the host's
 * store). A rejected one escaped as an unhandled rejection, which crashes a Node host by default;
 * a slow one was not waited for: `engine.close()` closed the sink while events were still being
 * written. Now a rejection is logged with the event's request id and counted, and close() waits for
 * the pending ones, up to `drainTimeoutMs`.
 */
import { expect } from 'chai';
import { AuditSink, Authenticator, Policy, definePlugin, defineTool, z, type AuditEvent } from '@gatehouse-mcp/engine';
import { RecordingPolicy, StaticTokenAuthenticator, createTestEngine, testPrincipal, uniqueTenant, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { RecordingLogger } from '../support/recording-logger.js';

/** A host's sink that writes every event to its own store, asynchronously. */
class HostStoreSink implements AuditSink {
  readonly handed: AuditEvent[] = [];
  readonly stored: AuditEvent[] = [];
  /** How many events were stored when the engine closed the sink. */
  storedAtClose: number | undefined;
  constructor(private readonly mode: 'refuse' | 'slow' | 'hang') {}
  record(event: AuditEvent): Promise<void> {
    this.handed.push(event);
    if (this.mode === 'refuse') return Promise.reject(new Error('the host store refused the row'));
    if (this.mode === 'hang') return new Promise<void>(() => undefined);
    return new Promise<void>((resolve) =>
      setTimeout(() => {
        this.stored.push(event);
        resolve();
      }, 300),
    );
  }
  accepting(): boolean {
    return true;
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {
    this.storedAtClose = this.stored.length;
  }
}

const echo = defineTool({ name: 'echo', description: 'Echoes.', input: z.object({ text: z.string() }), handler: ({ text }) => text });

async function engineWith(sink: HostStoreSink, logger: RecordingLogger, options: { drainTimeoutMs?: number; metrics?: { port: number } } = {}): Promise<TestEngine> {
  const tenant = uniqueTenant();
  const edition = definePlugin({
    id: 'host-edition',
    register({ bind }) {
      bind(Authenticator).toConstantValue(new StaticTokenAuthenticator({ 'caller-token': testPrincipal({ tenant, id: 'caller' }) }));
      bind(Policy).toConstantValue(new RecordingPolicy());
      bind(AuditSink).toConstantValue(sink);
    },
  });
  return createTestEngine({ plugins: [edition, definePlugin({ id: 'echo', tools: [echo] })], tenant, connect: false, logger, ...options });
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("a host's audit sink whose record() returns a promise", () => {
  it('a rejected record() is logged with the request id and counted, never an unhandled rejection (it crashed a Node host)', async () => {
    const sink = new HostStoreSink('refuse');
    const logger = new RecordingLogger();
    const t = await engineWith(sink, logger, { metrics: { port: 0 } });
    try {
      const client = await t.connect({ token: 'caller-token' });
      const result = (await client.callTool({ name: 'echo', arguments: { text: 'hi' } })) as { isError?: boolean; content: { text: string }[] };
      // The call itself ran and was answered; what failed is the host's store, afterwards.
      expect(result.isError).to.equal(undefined);
      expect(result.content[0]!.text).to.equal('hi');
      // A refused credential at the tenant's own endpoint is audited through the same sink.
      const refused = await fetch(t.engine.mcpUrl(t.tenant), {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer wrong-token' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' }),
      });
      expect(refused.status).to.equal(401);
      // Long enough for an unhandled rejection to surface (test/hooks.ts fails the test with it).
      await pause(50);
      const call = sink.handed.find((event) => event.action === 'tools/call');
      const auth = sink.handed.find((event) => event.action === 'authenticate');
      expect(call, 'the tool call was audited').to.not.equal(undefined);
      expect(auth, 'the refused credential was audited').to.not.equal(undefined);
      const failures = logger.lines.filter((line) => line.message === 'the audit sink could not record an event');
      expect(failures.map((line) => line.level)).to.deep.equal(['error', 'error']);
      expect(failures.map((line) => (JSON.parse(line.json) as { requestId: string }).requestId)).to.have.members([call!.requestId, auth!.requestId]);
      expect(JSON.parse(failures[0]!.json)).to.deep.include({ err: { message: 'the host store refused the row', cause: 'undefined' } });
      const metrics = await (await fetch(t.engine.metricsUrl()!)).text();
      expect(metrics).to.match(/^gatehouse_audit_record_failures_total 2$/m);
    } finally {
      await t.close();
    }
  });

  it("engine.close() waits for a slow sink's pending record() before closing the sink", async () => {
    const sink = new HostStoreSink('slow');
    const t = await engineWith(sink, new RecordingLogger());
    let closed = false;
    try {
      const client = await t.connect({ token: 'caller-token' });
      await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
      expect(sink.stored, 'still being written when the call is answered').to.have.length(0);
    } finally {
      await t.close();
      closed = true;
    }
    expect(closed).to.equal(true);
    expect(sink.stored.map((event) => event.action)).to.deep.equal(['tools/call']);
    expect(sink.storedAtClose, 'the sink was closed after its pending write').to.equal(1);
  });

  it('a record() that never settles holds close() no longer than drainTimeoutMs, and close() says so in the log', async () => {
    const sink = new HostStoreSink('hang');
    const logger = new RecordingLogger();
    const t = await engineWith(sink, logger, { drainTimeoutMs: 300 });
    const client = await t.connect({ token: 'caller-token' });
    await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
    const started = Date.now();
    await t.close();
    const took = Date.now() - started;
    expect(took).to.be.at.least(250);
    expect(took).to.be.below(5_000);
    expect(sink.storedAtClose).to.equal(0);
    const unsettled = logger.lines.filter((line) => line.message.startsWith('the audit sink was closed with 1 event still being recorded'));
    expect(unsettled.map((line) => line.level)).to.deep.equal(['error']);
  });
});
