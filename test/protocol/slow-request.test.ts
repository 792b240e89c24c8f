/**
 * Clients that send a request slowly, or stop in the middle of one: a server started by `listen()`
 * does not hold their connections for Node's default of five minutes.
 */
import { expect } from 'chai';
import net from 'node:net';
import { defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';

const READ_TIMEOUT_MS = 1_500;

const echo = defineTool({ name: 'echo', description: 'Echoes text.', input: z.object({ text: z.string() }), handler: ({ text }) => text });
const slow = defineTool({
  name: 'slow',
  description: 'Answers after twice the read timeout.',
  input: z.object({}),
  handler: () => new Promise<string>((resolve) => setTimeout(() => resolve('at last'), READ_TIMEOUT_MS * 2)),
});

/** A raw connection: what the server sent, and when it hung up (ms after the connection opened). */
function rawClient(port: number): { socket: net.Socket; received: () => string; closed: Promise<number> } {
  const socket = net.connect(port, '127.0.0.1');
  const opened = Date.now();
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (data += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - opened)));
  return { socket, received: () => data, closed };
}

describe('requests that arrive too slowly (readTimeoutMs)', function () {
  this.timeout(30_000);
  let t: TestEngine;
  let port: number;
  let headers: string;

  before(async () => {
    t = await createTestEngine({ plugins: [communityEdition(), definePlugin({ id: 'echo', tools: [echo, slow] })], readTimeoutMs: READ_TIMEOUT_MS });
    port = Number(new URL(t.url).port);
    headers = `Host: 127.0.0.1:${port}\r\nAuthorization: Bearer ${t.apiKey}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n`;
  });
  after(() => t.close());

  it('a body that stops half way held its connection for five minutes: it is answered 408 and disconnected within the read timeout', async () => {
    const client = rawClient(port);
    client.socket.write(`POST /api/mcp HTTP/1.1\r\n${headers}Content-Length: 200\r\n\r\n{"jsonrpc":"2.0",`);
    const after = await client.closed;
    expect(client.received()).to.match(/^HTTP\/1\.1 408 /);
    expect(after).to.be.within(READ_TIMEOUT_MS - 100, READ_TIMEOUT_MS + 2_500);
  });

  it('headers sent a byte at a time, never finished, are cut within the read timeout', async () => {
    const client = rawClient(port);
    const line = `POST /api/mcp HTTP/1.1\r\n${headers}X-Padding: `;
    let i = 0;
    const trickle = setInterval(() => {
      if (!client.socket.destroyed) client.socket.write(i < line.length ? line[i++]! : 'x');
    }, 50);
    try {
      const after = await client.closed;
      expect(after).to.be.within(READ_TIMEOUT_MS - 100, READ_TIMEOUT_MS + 2_500);
    } finally {
      clearInterval(trickle);
    }
  });

  it('a request that arrives whole within the timeout, slowly, is answered; an answer that takes longer than the timeout is not cut', async () => {
    const client = rawClient(port);
    const body = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { text: 'patient' } } });
    client.socket.write(`POST /api/mcp HTTP/1.1\r\n${headers}Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`);
    // Half the timeout between the halves of the body.
    client.socket.write(body.slice(0, 20));
    await new Promise((resolve) => setTimeout(resolve, READ_TIMEOUT_MS / 2));
    client.socket.write(body.slice(20));
    await client.closed;
    expect(client.received()).to.match(/^HTTP\/1\.1 200 /);
    expect(client.received()).to.contain('"text":"patient"');

    // A request that is whole is not cut by the read timeout while its answer takes longer.
    const waiting = rawClient(port);
    const slowCall = JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'slow', arguments: {} } });
    waiting.socket.write(`POST /api/mcp HTTP/1.1\r\n${headers}Content-Length: ${Buffer.byteLength(slowCall)}\r\nConnection: close\r\n\r\n${slowCall}`);
    const closedAfter = await waiting.closed;
    expect(closedAfter).to.be.at.least(READ_TIMEOUT_MS * 2);
    expect(waiting.received()).to.match(/^HTTP\/1\.1 200 /);
    expect(waiting.received()).to.contain('at last');
  });
});
