/**
 * Requests Node's HTTP parser refuses before the engine sees them (a garbage request line, invalid
 * header characters, a bad Content-Length, headers over the size limit, a request not received in
 * time): a server started by `listen()` answers them in JSON like every other error, and closes
 * the connection, instead of Node's bare status line.
 */
import { expect } from 'chai';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { PinoLogger, clientErrorHandler, definePlugin, defineTool, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';

const echo = defineTool({ name: 'echo', description: 'Echoes text.', input: z.object({ text: z.string() }), handler: ({ text }) => text });
const SECRET = 'gh-secret-0123456789abcdef';

interface RawAnswer {
  readonly status: number;
  readonly head: string;
  readonly body: string;
  readonly all: string;
}

/** Send `data` (chunks a little apart) on a fresh connection and read until the server hangs up. */
async function raw(port: number, data: string | readonly string[], timeoutMs = 5_000): Promise<RawAnswer> {
  const socket = net.connect(port, '127.0.0.1');
  let received = '';
  socket.setEncoding('latin1');
  socket.on('data', (chunk: string) => (received += chunk));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  for (const chunk of typeof data === 'string' ? [data] : data) {
    socket.write(chunk);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  await closed;
  clearTimeout(timer);
  return parse(received);
}

/** The last response on a connection (earlier ones of the same connection are in `all`). */
function parse(all: string): RawAnswer {
  const start = all.lastIndexOf('HTTP/1.1 ');
  const text = start < 0 ? all : all.slice(start);
  const split = text.indexOf('\r\n\r\n');
  const head = split < 0 ? text : text.slice(0, split);
  return { status: Number(/^HTTP\/1\.1 (\d{3}) /.exec(head)?.[1] ?? 0), head, body: split < 0 ? '' : text.slice(split + 4), all };
}

function expectJsonRefusal(answer: RawAnswer, status: number, code: string): { code: string; message: string } {
  expect(answer.status, answer.all.slice(0, 500)).to.equal(status);
  expect(answer.head).to.match(/\r\ncontent-type: application\/json; charset=utf-8\r\n/i);
  expect(answer.head).to.match(/\r\nconnection: close(\r\n|$)/i);
  const length = Number(/\r\ncontent-length: (\d+)/i.exec(answer.head)?.[1]);
  expect(length).to.equal(Buffer.byteLength(answer.body, 'latin1'));
  const parsed = JSON.parse(answer.body) as { error: { code: string; message: string } };
  expect(parsed.error.code).to.equal(code);
  expect(parsed.error.message).to.be.a('string').and.not.equal('');
  expect(answer.body).not.to.match(/\bat .+:\d+:\d+|node_modules|\.ts:\d+/);
  return parsed.error;
}

describe('requests Node cannot parse get a JSON answer (listen())', function () {
  this.timeout(20_000);
  const READ_TIMEOUT_MS = 1_000;
  let t: TestEngine;
  let port: number;
  const lines: string[] = [];

  before(async () => {
    t = await createTestEngine({
      plugins: [communityEdition(), definePlugin({ id: 'echo', tools: [echo] })],
      readTimeoutMs: READ_TIMEOUT_MS,
      metrics: { port: 0 },
      logger: new PinoLogger('debug', { write: (line) => void lines.push(line) }),
    });
    port = Number(new URL(t.url).port);
  });
  after(() => t.close());

  it('a garbage request line was answered with a bare 400: 400 bad_request in JSON, naming what the parser found', async () => {
    const error = expectJsonRefusal(await raw(port, `GARBAGE ${SECRET}\r\n\r\n`), 400, 'bad_request');
    expect(error.message).to.equal('The request is not valid HTTP: Invalid method encountered.');
  });

  it('invalid header characters, a bad Content-Length, two Content-Lengths, a bad chunk size: 400 bad_request in JSON', async () => {
    const host = `Host: 127.0.0.1:${port}\r\n`;
    const cases = [
      `GET /healthz HTTP/1.1\r\n${host}X-Bad\u0001Name: ${SECRET}\r\n\r\n`,
      `GET /healthz HTTP/1.1\r\n${host}X-Bad-Value: a\u0000${SECRET}\r\n\r\n`,
      `POST /api/mcp HTTP/1.1\r\n${host}Content-Length: ${SECRET}\r\n\r\n`,
      `POST /api/mcp HTTP/1.1\r\n${host}Content-Length: 1\r\nContent-Length: 2\r\n\r\nab`,
      `POST /api/mcp HTTP/1.1\r\n${host}Transfer-Encoding: chunked\r\n\r\nzz${SECRET}\r\n`,
      `GET /healthz HTTP/9.9\r\n${host}\r\n\r\n`,
    ];
    for (const request of cases) {
      const answer = await raw(port, request);
      const error = expectJsonRefusal(answer, 400, 'bad_request');
      expect(error.message, JSON.stringify(request)).to.match(/^The request is not valid HTTP/);
      expect(answer.all).not.to.contain(SECRET);
    }
  });

  it('headers over Node\'s size limit were answered with a bare 431: 431 in JSON', async () => {
    const answer = await raw(port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Big: ${SECRET}${'a'.repeat(40_000)}\r\n\r\n`);
    expectJsonRefusal(answer, 431, 'request_header_fields_too_large');
    expect(answer.all).not.to.contain(SECRET);
  });

  it('chunk extensions over Node\'s limit were answered with a bare 413: 413 in JSON', async () => {
    const request = `POST /api/mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${t.apiKey}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1;${'e'.repeat(20_000)}\r\n{\r\n`;
    expectJsonRefusal(await raw(port, request), 413, 'payload_too_large');
  });

  it('a request not received whole within readTimeoutMs was answered with a bare 408: 408 in JSON, and the connection is closed', async () => {
    const started = Date.now();
    const headers = await raw(port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n`);
    expectJsonRefusal(headers, 408, 'request_timeout');
    expect(Date.now() - started).to.be.below(READ_TIMEOUT_MS + 3_000);
    const body = await raw(port, `POST /api/mcp HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nAuthorization: Bearer ${t.apiKey}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"jsonrpc":`);
    expectJsonRefusal(body, 408, 'request_timeout');
  });

  it('a malformed request after a good one on the same connection: the good one is answered, then the JSON 400', async () => {
    const answer = await raw(port, [`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`, `NOT HTTP AT ALL\r\n\r\n`]);
    expect(answer.all).to.match(/^HTTP\/1\.1 200 /);
    expectJsonRefusal(answer, 400, 'bad_request');
  });

  it('the metrics listener of its own answers the same way', async () => {
    const metricsPort = Number(new URL(t.engine.metricsUrl()!).port);
    expectJsonRefusal(await raw(metricsPort, `GARBAGE\r\n\r\n`), 400, 'bad_request');
  });

  it('each refusal is logged at warn with its status and Node\'s error code, never the client\'s bytes', async () => {
    const refused = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((entry) => entry.msg === 'request refused before it was read');
    expect(refused.map((entry) => entry.status)).to.include.members([400, 408, 413, 431]);
    for (const entry of refused) {
      expect(entry.level).to.equal('warn');
      expect(entry.reason).to.match(/^(HPE_[A-Z_]+|ERR_HTTP_REQUEST_TIMEOUT)$/);
      expect(entry.clientAddress).to.equal('127.0.0.1');
    }
    expect(lines.join('\n')).not.to.contain(SECRET);
    for (const line of lines) expect(line.length).to.be.below(2_000);
  });

  it('well-formed requests are untouched', async () => {
    const response = await fetch(`${t.url}/healthz`);
    expect(response.status).to.equal(200);
    const answer = await raw(port, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n\r\n`);
    expect(answer.status).to.equal(200);
  });
});

describe('clientErrorHandler on a connection that cannot take an answer', () => {
  const socket = (): { socket: Duplex; written: string[] } => {
    const written: string[] = [];
    const duplex = new Duplex({
      read() {},
      write(chunk: Buffer, _encoding, callback) {
        written.push(chunk.toString());
        callback();
      },
    });
    return { socket: duplex, written };
  };

  it('a reset or no longer writable connection is closed without an answer', () => {
    const parseError = Object.assign(new Error('Parse Error: Invalid method encountered'), { code: 'HPE_INVALID_METHOD', reason: 'Invalid method encountered' });
    const ended = socket();
    ended.socket.end();
    clientErrorHandler()(parseError, ended.socket);
    expect(ended.socket.destroyed).to.equal(true);
    expect(ended.written).to.deep.equal([]);

    const reset = socket();
    clientErrorHandler()(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), reset.socket);
    expect(reset.socket.destroyed).to.equal(true);
    expect(reset.written).to.deep.equal([]);

    const writing = socket();
    (writing.socket as unknown as { _httpMessage: { headersSent: boolean } })._httpMessage = { headersSent: true };
    clientErrorHandler()(parseError, writing.socket);
    expect(writing.socket.destroyed).to.equal(true);
    expect(writing.written).to.deep.equal([]);
  });

  it('answers once: the parser reporting again on the same connection writes nothing more', () => {
    const parseError = Object.assign(new Error('Parse Error: Invalid method encountered'), { code: 'HPE_INVALID_METHOD', reason: 'Invalid method encountered' });
    const open = socket();
    const handler = clientErrorHandler();
    handler(parseError, open.socket);
    handler(parseError, open.socket);
    expect(open.written).to.have.length(1);
    expect(open.written[0]).to.match(/^HTTP\/1\.1 400 Bad Request\r\n/);
    open.socket.destroy();
  });
});
