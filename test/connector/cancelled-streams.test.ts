import type http from 'node:http';
import { expect } from 'chai';
import { definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import type { Fault } from './support/local-servers.js';
import { proxiedConnector } from './support/proxied-connector.js';

/** How long the tool runs on after its cancellation (it ignores it), so an exchange left open shows. */
const RUNS_ON_MS = 4_000;
/** How soon the connector must have let go of a cancelled call's answer. */
const PROMPTLY_MS = 1_500;

/** What the server saw of the stubborn tool: when it saw its cancellation, and when it returned. */
const probe = { abortedAt: 0, returnedAt: 0 };

/**
 * A tool whose answer streams (a progress step), that may end its response stream early (the
 * client resumes it with `Last-Event-ID`), and that runs on for a while after its cancellation.
 */
const stubborn = definePlugin({
  id: 'stubborn-tool',
  tools: [
    defineTool({
      name: 'stubborn',
      description: 'Reports progress, optionally closes its stream, and runs on for a while even when cancelled.',
      input: z.object({ closeStream: z.boolean() }),
      async handler({ closeStream }, ctx) {
        ctx.signal.addEventListener('abort', () => (probe.abortedAt = Date.now()), { once: true });
        await ctx.progress(1, 2, 'started');
        if (closeStream) ctx.closeStream();
        await new Promise((resolve) => setTimeout(resolve, RUNS_ON_MS));
        probe.returnedAt = Date.now();
        return 'done anyway';
      },
    }),
  ],
});

/** An exchange the proxy passed to the server, and when it ended. */
interface Exchange {
  readonly at: number;
  endedAt: number;
}

/** What the proxy saw: the POSTs, and the resumptions (a GET with `Last-Event-ID`). */
interface Exchanges {
  readonly posts: Exchange[];
  readonly resumptions: Exchange[];
}

/** A fault that forwards everything, noting each POST and resumption and when its exchange ended. */
function watchExchanges(seen: Exchanges): Fault {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const list = req.method === 'POST' ? seen.posts : req.method === 'GET' && req.headers['last-event-id'] !== undefined ? seen.resumptions : undefined;
    if (list) {
      const exchange: Exchange = { at: Date.now(), endedAt: 0 };
      list.push(exchange);
      res.on('close', () => (exchange.endedAt = Date.now()));
    }
    return false;
  };
}

const waitUntil = async (done: () => boolean, ms: number): Promise<void> => {
  const deadline = Date.now() + ms;
  while (!done() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 25));
};

const cases = [
  { sessions: true, closeStream: false, where: 'while its answer streams in (a session: its events carry ids)' },
  { sessions: true, closeStream: true, where: 'while the connector resumes its answer stream (the server ended it early)' },
  { sessions: false, closeStream: false, where: 'while its answer streams in from a stateless server' },
];

for (const sessions of [true, false]) {
  describe(`connector: a cancelled call whose answer streams, ${sessions ? 'with sessions (resumable)' : 'stateless'}`, function () {
    this.timeout(60_000);
    const its = proxiedConnector(stubborn, { timeoutMs: 30_000, sessions });

    beforeEach(() => {
      probe.abortedAt = 0;
      probe.returnedAt = 0;
    });

    afterEach(async () => {
      // Let the tool of the last test return before the next starts.
      await waitUntil(() => probe.returnedAt > 0, RUNS_ON_MS + 2_000);
    });

    for (const { closeStream, where } of cases.filter((each) => each.sessions === sessions)) {
      it(`cancelled ${where}: the connector lets go of the answer at once and never resumes it (its exchange, and a resumption of it, stayed open until the tool returned)`, async () => {
        const seen: Exchanges = { posts: [], resumptions: [] };
        const { resumptions } = seen;
        its.proxy.fault = watchExchanges(seen);
        const controller = new AbortController();
        let progressed = false;
        const call = its.connector.client.callTool({ name: 'stubborn', arguments: { closeStream } }, undefined, {
          signal: controller.signal,
          onprogress: () => void (progressed = true),
        });
        const settled = call.then(
          () => 'answered',
          () => 'rejected',
        );
        await waitUntil(() => progressed && (!closeStream || resumptions.length > 0), 5_000);
        expect(progressed, 'the first progress step arrived').to.equal(true);
        if (closeStream) expect(resumptions, 'the connector resumed the stream the server ended').to.have.length(1);
        const resumedBefore = resumptions.length;

        const cancelledAt = Date.now();
        controller.abort('the user gave up');
        expect(await settled).to.equal('rejected');
        await waitUntil(() => probe.abortedAt > 0, PROMPTLY_MS);
        expect(probe.abortedAt, 'the tool on the server saw the cancellation').to.be.above(0);

        // The call's exchanges (its POST, every resumption of its stream) end promptly, not when the tool returns.
        const exchanges = [...seen.posts, ...resumptions];
        await waitUntil(() => exchanges.every((exchange) => exchange.endedAt > 0), PROMPTLY_MS);
        for (const [what, list] of [['POST', seen.posts], ['resumption', resumptions]] as const) {
          for (const exchange of list) {
            expect(exchange.endedAt, `a ${what} of the cancelled call was still open`).to.be.above(0);
            expect(exchange.endedAt - cancelledAt, `a ${what} of the cancelled call ended only after`).to.be.below(PROMPTLY_MS);
          }
        }
        // And the connector does not come back for it, before or after the tool returns.
        await waitUntil(() => probe.returnedAt > 0, RUNS_ON_MS + 2_000);
        await new Promise((resolve) => setTimeout(resolve, 2_500));
        expect(resumptions.slice(resumedBefore), 'resumptions of the cancelled answer after the cancellation').to.deep.equal([]);
        expect(its.connector.stderr(), 'the connector reported nothing for a call its client cancelled').to.equal('');

        // The connector goes on serving on the same session.
        its.proxy.fault = undefined;
        probe.returnedAt = 0;
        const next = await its.connector.client.callTool({ name: 'stubborn', arguments: { closeStream: false } });
        expect(next.content).to.deep.equal([{ type: 'text', text: 'done anyway' }]);
      });
    }
  });
}
