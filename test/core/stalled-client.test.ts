import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { writeNodeResponse, type WriteStallOptions } from '../../src/core/http/node-adapter.js';
import { SseStream } from '../../src/core/mcp/sse-stream.js';
import type { HttpBody } from '../../src/core/http/types.js';

/** A promise with its resolver: tests wait on these, never on sleeps. */
function latch<T = void>(): { promise: Promise<T>; open: (value: T) => void } {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => (open = resolve));
  return { promise, open };
}

/** A server answering every request with `body()` through the engine's Node writer. */
async function serve(
  body: () => HttpBody,
  written: (outcome: string) => void,
  responding: (res: http.ServerResponse) => void = () => {},
  stall?: WriteStallOptions,
): Promise<{ port: number; close: () => Promise<void> }> {
  const server = http.createServer((_req, res) => {
    responding(res);
    writeNodeResponse(res, { status: 200, headers: { 'content-type': 'application/octet-stream' }, body: body() }, stall).then(() => written('returned'), () => written('threw'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A raw client that sends a request, reads nothing, and hangs up when told. */
async function stalledClient(port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', resolve));
  socket.pause();
  socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  return socket;
}

describe('response writers stop when the client goes away', () => {
  it('a client that stops reading while writes are backed up, then disconnects: the writer returns and the body is told to stop', async () => {
    const response = latch<http.ServerResponse>();
    const bodyStopped = latch<number>();
    const writerDone = latch<string>();
    let produced = 0;
    const chunk = 'x'.repeat(64 * 1024);
    const server = await serve(
      () => (async function* endless() {
        try {
          for (;;) {
            produced++;
            yield chunk;
          }
        } finally {
          bodyStopped.open(produced);
        }
      })(),
      writerDone.open,
      response.open,
    );
    try {
      const socket = await stalledClient(server.port);
      // Wait (by condition, not by time) until the writer is blocked on a full socket.
      const res = await response.promise;
      while (!res.writableNeedDrain) await new Promise((resolve) => setImmediate(resolve));
      const blockedAt = produced;
      socket.destroy();
      expect(await writerDone.promise).to.equal('returned');
      const total = await bodyStopped.promise;
      expect(total - blockedAt).to.be.at.most(1);
    } finally {
      await server.close();
    }
  });

  it('an idle SSE stream whose client disconnects is closed at once, not at its next message', async () => {
    const stream = new SseStream();
    const writerDone = latch<string>();
    const server = await serve(() => stream.response().body, writerDone.open);
    try {
      const socket = await stalledClient(server.port);
      stream.send({ jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'hello' } });
      socket.destroy();
      expect(await writerDone.promise).to.equal('returned');
      expect(stream.closed).to.equal(true);
    } finally {
      await server.close();
    }
  });

  it('a long streamed body is not kept in memory while it is written (the export that held all of itself)', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    const chunk = 'x'.repeat(64 * 1024);
    const chunks = 2_000; // 128 MB in all
    let peak = 0;
    let baseline = 0;
    const outcome = latch<string>();
    const server = await serve(
      () =>
        (async function* () {
          for (let i = 0; i < chunks; i++) {
            if (i % 250 === 0) {
              gc();
              const used = process.memoryUsage().heapUsed;
              if (i === 0) baseline = used;
              peak = Math.max(peak, used);
            }
            // Each chunk is a string of its own, as a serialiser's output is.
            yield `${i}${chunk}`;
          }
        })(),
      outcome.open,
    );
    try {
      let received = 0;
      await new Promise<void>((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: server.port, path: '/' }, (res) => {
          res.on('data', (data: Buffer) => (received += data.length));
          res.on('end', resolve);
          res.on('error', reject);
        });
      });
      expect(await outcome.promise).to.equal('returned');
      expect(received).to.be.greaterThan(chunks * chunk.length);
      expect(peak - baseline, 'heap growth while streaming 128 MB').to.be.below(32 * 1024 * 1024);
    } finally {
      await server.close();
    }
  });

  it('a large answer to a client that stopped reading held its connection forever: it is dropped after the stall timeout', async () => {
    const response = latch<http.ServerResponse>();
    const writerDone = latch<string>();
    const stalls: number[] = [];
    // 32 MB in one answer: far more than the connection buffers for a client that reads nothing.
    const server = await serve(() => 'x'.repeat(32 * 1024 * 1024), writerDone.open, response.open, { timeoutMs: 300, onStall: (_res, unsent) => stalls.push(unsent) });
    try {
      const socket = await stalledClient(server.port);
      const res = await response.promise;
      const closed = new Promise<void>((resolve) => res.once('close', () => resolve()));
      while (!res.writableNeedDrain) await new Promise((resolve) => setImmediate(resolve));
      await closed;
      expect(res.writableFinished).to.equal(false);
      expect(await writerDone.promise).to.equal('returned');
      expect(stalls).to.have.length(1);
      expect(stalls[0]).to.be.above(0);
      socket.destroy();
    } finally {
      await server.close();
    }
  });
});
