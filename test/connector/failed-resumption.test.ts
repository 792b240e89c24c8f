import { expect } from 'chai';
import { definePlugin, definePrompt, defineTool, z } from '@gatehouse-mcp/engine';
import { RECONNECTION } from '../../src/connector/remote-fetch.js';
import type { Fault } from './support/local-servers.js';
import { proxiedConnector } from './support/proxied-connector.js';

/** Far longer than any answer here should take: a failure reported only when it expires was reported too late. */
const TIMEOUT_MS = 30_000;
/** How soon an answer whose resumption failed must be reported. */
const PROMPTLY_MS = 6_000;

type Failure = { code?: number; message?: string; data?: unknown };

const OUTCOME_UNKNOWN =
  'it may or may not have run on the server, and it was not resent automatically. Check the server (its audit log) before retrying it, and retry only if that is safe.';

/** How a {@link refuseResumption} fault refuses a resumption: an HTTP status, the connection dropped, or a stream that ends at once. */
type Refusal = 404 | 400 | 405 | 503 | 'drop' | 'empty';

interface ResumptionRefuser {
  readonly fault: Fault;
  /** Resumptions refused so far. */
  refused: number;
  /** The JSON-RPC methods of the POSTs seen. */
  readonly posted: string[];
}

/**
 * A fault for the faulty proxy: the next `times` resumptions (a GET with `Last-Event-ID`) are
 * refused `how`, as by a server that restarted and forgot the session or its events (404), one
 * that serves no GET stream (405), or one that went away (the connection dropped).
 */
function refuseResumption(how: Refusal, times = Infinity): ResumptionRefuser {
  let left = times;
  const fault: Fault = (req, res) => {
    if (req.method === 'POST') {
      // Passed on as is (the proxy forwards it); only its method is noted.
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        try {
          state.posted.push(String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { method?: unknown }).method));
        } catch {
          // Not JSON: not noted.
        }
      });
      return false;
    }
    if (req.method !== 'GET' || req.headers['last-event-id'] === undefined || left <= 0) return false;
    left--;
    state.refused++;
    req.resume();
    if (how === 'drop') res.socket?.destroy();
    else if (how === 'empty') res.writeHead(200, { 'content-type': 'text/event-stream' }).end();
    else res.writeHead(how, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found.' } }));
    return true;
  };
  const state: ResumptionRefuser = { fault, refused: 0, posted: [] };
  return state;
}

/** A tool, and a prompt, whose answer comes after they ended their response stream early (the client resumes it). */
const resumable = definePlugin({
  id: 'resumable-answers',
  tools: [
    defineTool({
      name: 'poll',
      description: 'Closes its stream, answers a little later.',
      input: z.object({}),
      async handler(_input, ctx) {
        await ctx.progress(1, 2, 'before');
        ctx.closeStream();
        await new Promise((resolve) => setTimeout(resolve, 300));
        return 'answered after the stream was closed';
      },
    }),
  ],
  prompts: [
    definePrompt({
      name: 'slow-prompt',
      description: 'Closes its stream, answers a little later.',
      arguments: z.object({}),
      async handler(_args, ctx) {
        ctx.closeStream();
        await new Promise((resolve) => setTimeout(resolve, 300));
        return 'the prompt';
      },
    }),
  ],
});

describe('connector: a resumable answer whose resumption fails', function () {
  this.timeout(60_000);
  const its = proxiedConnector(resumable, { timeoutMs: TIMEOUT_MS, sessions: true });

  const refusals: [Refusal, string][] = [
    [404, 'the server forgot the session (404)'],
    [400, 'the server refuses the resumption (400)'],
    [405, 'the server serves no GET stream (405)'],
    [503, 'the server stays unavailable (503) through every reconnection attempt'],
    ['drop', 'the connection drops on every reconnection attempt'],
    ['empty', 'the resumed stream ends at once, without an event'],
  ];
  for (const [how, what] of refusals) {
    it(`answers a tools/call at once, not at --timeout, when its stream cannot be resumed because ${what}: its outcome is unknown, and the next call works`, async () => {
      const refuser = refuseResumption(how);
      its.proxy.fault = refuser.fault;
      const started = Date.now();
      const failure = await its.connector.client.callTool({ name: 'poll', arguments: {} }, undefined, { timeout: 2 * TIMEOUT_MS }).then(
        () => undefined,
        (error: Failure) => error,
      );
      const waited = Date.now() - started;

      // A refusal is final; a failure is retried, up to the connector's bound on attempts.
      expect(refuser.refused, 'resumptions refused').to.equal(how === 503 || how === 'drop' ? RECONNECTION.maxRetries : 1);
      expect(waited, 'the error came only after').to.be.below(PROMPTLY_MS);
      expect(failure?.code).to.equal(-32603);
      expect(failure?.data).to.deep.equal({ kind: 'dropped' });
      expect(failure?.message).to.match(/^MCP error -32603: the server at http:\/\/127\.0\.0\.1:\d+ closed the connection before answering, after the call to tool "poll" was sent: /);
      expect(failure?.message).to.include(OUTCOME_UNKNOWN);
      // Told once, and never resent.
      expect(its.connector.stderr().trim()).to.equal(`gatehouse-connector: ${failure?.message?.replace('MCP error -32603: ', '')}`);
      expect(refuser.posted.filter((method) => method === 'tools/call')).to.have.length(1);

      // The connector goes on serving; a stream that resumes is resumed again.
      its.proxy.fault = undefined;
      const next = await its.connector.client.callTool({ name: 'poll', arguments: {} });
      expect(next.content).to.deep.equal([{ type: 'text', text: 'answered after the stream was closed' }]);
      expect(its.connector.stderr().trim().split('\n')).to.have.length(1);
    });
  }

  it('sends a read-only request (prompts/get) whose resumption failed once more, and it succeeds', async () => {
    const refuser = refuseResumption(404, 1);
    its.proxy.fault = refuser.fault;
    const started = Date.now();
    const prompt = await its.connector.client.getPrompt({ name: 'slow-prompt', arguments: {} }, { timeout: 2 * TIMEOUT_MS });
    expect(Date.now() - started).to.be.below(PROMPTLY_MS);
    expect(prompt.messages).to.deep.equal([{ role: 'user', content: { type: 'text', text: 'the prompt' } }]);
    expect(refuser.refused).to.equal(1);
    expect(refuser.posted.filter((method) => method === 'prompts/get')).to.have.length(2);
    expect(its.connector.stderr()).to.equal('');
  });

  it('answers a read-only request whose resumption failed twice at once, with the closed connection', async () => {
    const refuser = refuseResumption(404);
    its.proxy.fault = refuser.fault;
    const started = Date.now();
    const failure = await its.connector.client.getPrompt({ name: 'slow-prompt', arguments: {} }, { timeout: 2 * TIMEOUT_MS }).then(
      () => undefined,
      (error: Failure) => error,
    );
    expect(Date.now() - started).to.be.below(PROMPTLY_MS);
    expect(refuser.refused).to.equal(2);
    expect(refuser.posted.filter((method) => method === 'prompts/get')).to.have.length(2);
    expect(failure?.code).to.equal(-32603);
    expect(failure?.data).to.deep.equal({ kind: 'unreachable' });
    expect(failure?.message).to.match(/the server at http:\/\/127\.0\.0\.1:\d+ closed the connection before answering\. It may be restarting/);
    expect(its.connector.stderr().trim().split('\n')).to.have.length(1);
  });
});
