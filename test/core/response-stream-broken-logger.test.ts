/**
 * The messages of a session's response stream are kept in its event log (for resumption) in a chain
 * of background steps, and the stream is closed by the last one. When a message could not be kept
 * (the database down) and the host's logger threw on the line saying so, the chain rejected: that
 * rejection went unhandled, which crashes a host with Node's default, and no later step ran, so the
 * response (the call's result) was never sent and the stream never ended.
 */
import { expect } from 'chai';
import type { Logger } from '@gatehouse-mcp/engine';
import { ResponseStream } from '../../src/core/http/response-stream.js';
import type { HttpResponse } from '../../src/core/http/types.js';
import type { SessionEventLog } from '../../src/core/mcp/session-event-log.js';

const throwing = (): never => {
  throw new Error('the log transport is down');
};
const brokenLogger: Logger = { debug: throwing, info: throwing, warn: throwing, error: throwing, child: () => brokenLogger };

describe('a session response stream whose events cannot be kept, with a host logger that throws', () => {
  it('still sends the messages and the response, and ends (the chain rejected unhandled, and the stream never ended)', async () => {
    let attempts = 0;
    const log = {
      append: async (): Promise<string> => {
        attempts++;
        throw new Error('the database is not answering');
      },
    } as unknown as SessionEventLog;
    let answered: HttpResponse | undefined;
    const response = new ResponseStream((answer) => (answered = answer), brokenLogger, () => undefined, { log, sessionId: 'session-1' });
    response.send({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1 } });
    response.finish({ status: 200, headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"result":{}}' });
    expect(answered?.status).to.equal(200);
    const chunks: string[] = [];
    const reading = (async () => {
      for await (const chunk of answered!.body as AsyncIterable<string>) chunks.push(chunk);
    })();
    const ended = await Promise.race([reading.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2_000))]);
    expect(ended, 'the stream ended').to.equal(true);
    expect(attempts).to.equal(3);
    expect(chunks.join('')).to.equal(
      'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}\n\n' + 'event: message\ndata: {"jsonrpc":"2.0","id":1,"result":{}}\n\n',
    );
  });
});
