import { expect } from 'chai';
import { EventStreamCutter, standInAnswer, watchAnswer, type AnswerWatch } from '../../src/connector/answer-stream.js';

const STAND_IN = '{"jsonrpc":"2.0","id":7,"error":{"code":-32603,"message":"lost"}}';

/** A watch of request 7 that records what it was told. */
function watchOf(): AnswerWatch & { causes: unknown[]; finishes: number } {
  const watch = {
    id: 7,
    causes: [] as unknown[],
    finishes: 0,
    lost(cause: unknown) {
      watch.causes.push(cause);
      return STAND_IN;
    },
    finished() {
      watch.finishes++;
    },
  };
  return watch;
}

/** An SSE response whose body sends these chunks, then ends, or fails with `error`. */
function sse(chunks: string[], error?: Error, type = 'text/event-stream'): Response {
  const encoder = new TextEncoder();
  const left = [...chunks];
  // One chunk a read, then the end: erroring the stream at once would discard what it still holds.
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = left.shift();
      if (chunk !== undefined) controller.enqueue(encoder.encode(chunk));
      else if (error) controller.error(error);
      else controller.close();
    },
  });
  return new Response(body, { headers: { 'content-type': type } });
}

const PROGRESS = 'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}\n\n';
const RESULT = 'event: message\ndata: {"jsonrpc":"2.0","id":7,"result":{"content":[]}}\n\n';

describe('connector: watching the answer to a request for its response', () => {
  it('cuts an event stream at whole events, whatever its line endings and however it is split', () => {
    const text = 'event: message\r\ndata: {"a":1}\r\n\r\n: comment\rdata: {"b":\rdata: 2}\r\rid: 9\ndata: x\n\n';
    const seen: { type: string; data: string | undefined; id: string | undefined }[] = [];
    const cutter = new EventStreamCutter((event) => seen.push(event));
    let passed = '';
    for (const char of text) passed += cutter.push(char);
    expect(passed).to.equal(text);
    expect(seen).to.deep.equal([
      { type: 'message', data: '{"a":1}', id: undefined },
      { type: 'message', data: '{"b":\n2}', id: undefined },
      { type: 'message', data: 'x', id: '9' },
    ]);
  });

  it('passes on an event only once it is whole', () => {
    const cutter = new EventStreamCutter(() => undefined);
    expect(cutter.push('data: {"a"')).to.equal('');
    expect(cutter.push(':1}\n')).to.equal('');
    expect(cutter.push('\ndata: half')).to.equal('data: {"a":1}\n\n');
    // The stream ends in the middle of an event: it is never passed on.
    expect(cutter.push('')).to.equal('');
  });

  it('passes an answered stream through unchanged', async () => {
    const watch = watchOf();
    const text = await watchAnswer(sse([PROGRESS, RESULT.slice(0, 20), RESULT.slice(20)]), watch, () => new Error('unused')).text();
    expect(text).to.equal(PROGRESS + RESULT);
    expect(watch.causes).to.deep.equal([]);
    expect(watch.finishes).to.equal(1);
  });

  it('ends a stream that ended without the response with the stand-in, after the whole events only', async () => {
    const watch = watchOf();
    const text = await watchAnswer(sse([PROGRESS, RESULT.slice(0, 30)]), watch, () => new Error('unused')).text();
    expect(text).to.equal(`${PROGRESS}event: message\ndata: ${STAND_IN}\n\n`);
    expect(watch.causes).to.deep.equal([undefined]);
    expect(watch.finishes).to.equal(1);
  });

  it('ends a stream that broke without the response with the stand-in, told the cause', async () => {
    const watch = watchOf();
    const broken = new TypeError('terminated');
    const text = await watchAnswer(sse([PROGRESS], broken), watch, () => new Error('unused')).text();
    expect(text).to.equal(`${PROGRESS}event: message\ndata: ${STAND_IN}\n\n`);
    expect(watch.causes).to.deep.equal([broken]);
  });

  it('leaves a resumable stream (its events carry ids) and a cancelled one to the client transport', async () => {
    for (const [chunks, error] of [
      [[`id: 1\n${PROGRESS}`], new TypeError('terminated')],
      [[PROGRESS], new DOMException('cancelled', 'AbortError')],
    ] as const) {
      const watch = watchOf();
      const failed = await watchAnswer(sse([...chunks], error), watch, () => new Error('unused'))
        .text()
        .then(() => undefined, (reason: unknown) => reason);
      expect(failed).to.equal(error);
      expect(watch.causes).to.deep.equal([]);
      expect(watch.finishes).to.equal(1);
    }
  });

  it('tells the watch after which event id the client transport resumes a stream that broke off: the last one with data, as the transport counts', async () => {
    const suspended: string[] = [];
    const watch = Object.assign(watchOf(), { suspended: (lastEventId: string) => void suspended.push(lastEventId) });
    const failed = await watchAnswer(sse([`id: 1\ndata: \n\n`, `id: 2\n${PROGRESS}`, 'id: 3\n\n'], new TypeError('terminated')), watch, () => new Error('unused'))
      .text()
      .then(() => undefined, (reason: unknown) => reason);
    expect(failed).to.be.instanceOf(TypeError);
    expect(suspended).to.deep.equal(['2']);
    expect(watch.causes).to.deep.equal([]);
  });

  it('ends a resumed stream that brought no event with an id with the stand-in, under its own id, and answers a failed resumption with the stand-in alone', async () => {
    const suspended: string[] = [];
    const watch = Object.assign(watchOf(), { standInId: 'answered-1', suspended: (lastEventId: string) => void suspended.push(lastEventId) });
    const text = await watchAnswer(sse([PROGRESS]), watch, () => new Error('unused')).text();
    expect(text).to.equal(`${PROGRESS}id: answered-1\nevent: message\ndata: ${STAND_IN}\n\n`);
    expect(suspended).to.deep.equal([]);

    const refused = watchOf();
    const answer = standInAnswer(Object.assign(refused, { standInId: 'answered-2' }), 'HTTP 404');
    expect(answer.headers.get('content-type')).to.equal('text/event-stream');
    expect(await answer.text()).to.equal(`id: answered-2\nevent: message\ndata: ${STAND_IN}\n\n`);
    expect(refused.causes).to.deep.equal(['HTTP 404']);
    expect(refused.finishes).to.equal(1);
  });

  it('fails a JSON body that broke off with the failure made of its cause', async () => {
    const watch = watchOf();
    const failure = new Error('closed before answering');
    const broken = new TypeError('terminated');
    const made: unknown[] = [];
    const failed = await watchAnswer(sse(['{"jsonrpc":"2.0","id":7,"res'], broken, 'application/json'), watch, (cause) => {
      made.push(cause);
      return failure;
    })
      .json()
      .then(() => undefined, (reason: unknown) => reason);
    expect(failed).to.equal(failure);
    expect(made).to.deep.equal([broken]);
    expect(watch.finishes).to.equal(1);
  });
});
