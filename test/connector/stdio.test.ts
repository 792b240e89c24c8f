import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import net, { type AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { expect } from 'chai';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import type { JSONRPCMessage } from '@modelcontextprotocol/sdk/types.js';
import { ConnectorStdioTransport } from '../../src/connector/stdio-transport.js';
import { FROM_SOURCE, baseEnv } from './support/connector-process.js';
import { connectorTestTools } from './support/tools-plugin.js';

interface Answer {
  id?: unknown;
  result?: { content?: unknown };
  error?: { code: number; message: string };
}

const line = (message: unknown): string => `${JSON.stringify(message)}\n`;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The real connector on raw pipes, initialized: what the client writes and reads, byte for byte. */
class RawConnector {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<number | string | null>;
  private out = '';
  private err = '';

  constructor(url: string, key: string, args: string[] = []) {
    this.child = spawn(process.execPath, [...FROM_SOURCE, '--url', url, ...args], { env: baseEnv({ GATEHOUSE_API_KEY: key }), stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (chunk: Buffer) => (this.out += chunk.toString('utf8')));
    this.child.stderr.on('data', (chunk: Buffer) => (this.err += chunk.toString('utf8')));
    this.child.stdin.on('error', () => undefined);
    this.exited = new Promise((resolve) => this.child.on('close', (code, signal) => resolve(code ?? signal)));
  }

  async initialize(): Promise<void> {
    this.write(line({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }));
    await this.answer(0);
    this.write(line({ jsonrpc: '2.0', method: 'notifications/initialized' }));
  }

  write(text: string | Buffer): void {
    this.child.stdin.write(text);
  }

  stderr(): string {
    return this.err;
  }

  /** Every line read from stdout, each of which must be a JSON-RPC message. */
  messages(): Answer[] {
    return this.out
      .split('\n')
      .filter((text) => text !== '')
      .map((text) => {
        const message = JSON.parse(text) as Answer & { jsonrpc?: unknown };
        expect(message.jsonrpc, text).to.equal('2.0');
        return message;
      });
  }

  async answer(id: unknown, timeoutMs = 15_000): Promise<Answer> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages().find((message) => message.id === id && ('result' in message || 'error' in message));
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no answer to id ${JSON.stringify(id)}; stdout:\n${this.out.slice(0, 2000)}\nstderr:\n${this.err}`);
      await sleep(20);
    }
  }

  async exit(timeoutMs = 10_000): Promise<number | string | null> {
    return Promise.race([this.exited, sleep(timeoutMs).then(() => 'still running')]);
  }

  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

describe('connector: what a client writes on stdin, and how it goes away', function () {
  this.timeout(60_000);
  let t: TestEngine;
  let key = '';
  let connector: RawConnector | undefined;

  const held = new Set<net.Socket>();
  const silent = net.createServer((socket) => {
    held.add(socket.on('error', () => undefined));
  });

  before(async () => {
    t = await createTestEngine({ plugins: [communityEdition(), connectorTestTools()], connect: false });
    key = (await t.createKey()).secret;
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  afterEach(() => connector?.kill());
  after(async () => {
    await t?.close();
    for (const socket of held) socket.destroy();
    await new Promise((resolve) => silent.close(resolve));
  });

  async function started(args: string[] = []): Promise<RawConnector> {
    connector = new RawConnector(t.engine.mcpUrl(), key, args);
    await connector.initialize();
    return connector;
  }

  it('a line that is not JSON was dropped without an answer: it is answered with a parse error (id null) and the session goes on', async () => {
    const c = await started();
    c.write('this is not json\n');
    c.write(line({ jsonrpc: '2.0', id: 1, method: 'ping' }));
    expect(await c.answer(1)).to.have.property('result');
    expect(await c.answer(null)).to.deep.include({ error: { code: -32700, message: 'Parse error: the line is not JSON (each JSON-RPC message must be one line of JSON).' } });
  });

  it('JSON that is not a JSON-RPC request left its id without an answer: it is answered with -32600 and that id', async () => {
    const c = await started();
    c.write('{"jsonrpc":"2.0","id":7,"method":5}\n');
    c.write('{"jsonrpc":"2.0","id":"eight","method":"tools/call","params":"not an object"}\n');
    c.write(line({ jsonrpc: '2.0', id: 9, method: 'ping' }));
    expect((await c.answer(7)).error?.code).to.equal(-32600);
    expect((await c.answer('eight')).error?.message).to.match(/^Invalid Request: not a JSON-RPC 2\.0 message/);
    expect(await c.answer(9)).to.have.property('result');
  });

  it('a batch left every id in it without an answer: each request is answered with an error saying batches are not supported', async () => {
    const c = await started();
    c.write(line([{ jsonrpc: '2.0', id: 1, method: 'tools/list' }, { jsonrpc: '2.0', method: 'notifications/whatever' }, { jsonrpc: '2.0', id: 2, method: 'ping' }]));
    for (const id of [1, 2]) expect((await c.answer(id)).error).to.deep.equal({ code: -32600, message: 'Invalid Request: JSON-RPC batches are not supported (MCP 2025-06-18); send each message on its own line.' });
    c.write(line({ jsonrpc: '2.0', id: 3, method: 'ping' }));
    expect(await c.answer(3)).to.have.property('result');
    expect(c.messages().filter((message) => message.id === null)).to.deep.equal([], 'the notification in the batch is not answered');
  });

  it('a line starting with a byte order mark was dropped: it is read; CRLF line endings too', async () => {
    const c = await started();
    c.write(`\uFEFF${JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' })}\n`);
    c.write(`${JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'ping' })}\r\n`);
    expect(await c.answer(1)).to.have.property('result');
    expect(await c.answer(2)).to.have.property('result');
  });

  it('a 10 MB line ended the session without an answer: it is read and answered (here the server refuses its size), and the next request is served', async () => {
    // The server refuses the body past 1 MB and may close the connection while the rest is sent,
    // which the connector retries until --timeout: whichever way, the request is answered.
    const c = await started(['--timeout', '5000']);
    const huge = line({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(10 * 1024 * 1024) } } });
    expect(huge.length).to.be.greaterThan(10 * 1024 * 1024);
    c.write(huge);
    c.write(line({ jsonrpc: '2.0', id: 2, method: 'ping' }));
    expect(await c.answer(2)).to.have.property('result');
    const refused = await c.answer(1, 20_000);
    expect(refused.error?.message).to.match(/HTTP 413: .*exceeds 1048576 bytes|closed the connection before answering|did not answer within 5000 ms/);
    expect(c.child.exitCode).to.equal(null);
  });

  it('a request with the id of one still in flight: both are answered', async () => {
    const c = await started();
    c.write(line({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'count', arguments: { n: 3 } } }));
    c.write(line({ jsonrpc: '2.0', id: 1, method: 'ping' }));
    const deadline = Date.now() + 15_000;
    while (c.messages().filter((message) => message.id === 1).length < 2 && Date.now() < deadline) await sleep(20);
    expect(c.messages().filter((message) => message.id === 1).map((message) => Object.keys(message).includes('result'))).to.deep.equal([true, true]);
  });

  it('closing stdin with a request in flight dropped its answer: it is answered, then the connector exits 0', async () => {
    const c = await started();
    // The tool waits for a while (it is not cancelled); the connector is bounded by --timeout.
    c.write(line({ jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'count', arguments: { n: 3 } } }));
    c.write(line({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'wait', arguments: {} } }));
    await sleep(100);
    c.child.stdin.end();
    expect(await c.exit(30_000)).to.equal(0);
    expect((await c.answer(5)).result?.content).to.deep.equal([{ type: 'text', text: 'counted to 3' }]);
    expect(await c.answer(6)).to.have.property('result');
  });

  it('closing stdin with a request in flight beyond --timeout: it is answered with the timeout, then exit 0', async () => {
    const c = await started(['--timeout', '1000']);
    c.write(line({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'wait', arguments: {} } }));
    await sleep(100);
    c.child.stdin.end();
    expect(await c.exit(15_000)).to.equal(0);
    expect((await c.answer(6)).error?.code).to.equal(-32001);
  });

  for (const [signal, status] of [['SIGTERM', 143], ['SIGINT', 130]] as const) {
    it(`${signal} with a request in flight left it without an answer, and exited 0 as if nothing had stopped it: it is answered with an error, then exit ${status} (128 + the signal's number)`, async () => {
      const c = await started();
      c.write(line({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'wait', arguments: {} } }));
      await sleep(300);
      c.child.kill(signal);
      expect(await c.exit()).to.equal(status);
      expect((await c.answer(6)).error).to.deep.equal({ code: -32000, message: `gatehouse-connector is stopping (${signal}).` });
    });

    it(`${signal} before the connection to the server was up waited for the server (up to --timeout), then exited 1: it stops at once, answers the client's initialize, and exits ${status}`, async () => {
      // A server that takes the connection and never answers: the connector is stuck connecting.
      const connected = new Promise<void>((resolve) => silent.once('connection', () => resolve()));
      const c = new RawConnector(`http://127.0.0.1:${(silent.address() as AddressInfo).port}/api/mcp`, key, ['--timeout', '30000']);
      connector = c;
      c.write(line({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } } }));
      await connected;
      c.child.kill(signal);
      expect(await c.exit(5_000)).to.equal(status);
      expect((await c.answer(0, 1_000)).error).to.deep.equal({ code: -32000, message: `gatehouse-connector is stopping (${signal}).` });
    });
  }

  it('closing stdin with nothing in flight is the normal end of a session: exit 0', async () => {
    const c = await started();
    c.child.stdin.end();
    expect(await c.exit()).to.equal(0);
    expect(c.stderr()).to.equal('');
  });

  it('a client gone (EPIPE on stdout) crashed the connector with a stack trace: it stops quietly, exit 0', async () => {
    const c = await started();
    c.write(line({ jsonrpc: '2.0', id: 6, method: 'tools/call', params: { name: 'count', arguments: { n: 3 } } }));
    c.child.stdout.destroy();
    expect(await c.exit()).to.equal(0);
    expect(c.stderr()).to.equal('');
  });
});

describe('connector: a line longer than the stdio limit', () => {
  function transport(maxLineBytes: number) {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const written: JSONRPCMessage[] = [];
    stdout.on('data', (chunk: Buffer) => {
      for (const text of chunk.toString('utf8').split('\n')) if (text) written.push(JSON.parse(text) as JSONRPCMessage);
    });
    const local = new ConnectorStdioTransport({ stdin, stdout, maxLineBytes });
    const received: JSONRPCMessage[] = [];
    local.onmessage = (message) => received.push(message);
    return { stdin, written, received, local };
  }

  it('is skipped and answered with its id (found at either end), and the lines after it are read', async () => {
    const { stdin, written, received, local } = transport(200);
    await local.start();
    const padding = 'y'.repeat(500);
    stdin.write(`{"jsonrpc":"2.0","id":"first","method":"tools/call","params":{"text":"${padding}`);
    stdin.write(`"}}\n{"method":"tools/call","params":{"id":99,"text":"${padding}"},"jsonrpc":"2.0","id":12}\n`);
    stdin.write(`{"method":"x","params":{"text":"${padding}"}}\n`);
    stdin.write(line({ jsonrpc: '2.0', id: 3, method: 'ping' }));
    await sleep(20);
    expect(received).to.deep.equal([{ jsonrpc: '2.0', id: 3, method: 'ping' }]);
    const message = 'Invalid Request: the message is longer than 200 bytes and was not read.';
    expect(written).to.deep.equal([
      { jsonrpc: '2.0', id: 'first', error: { code: -32600, message } },
      { jsonrpc: '2.0', id: 12, error: { code: -32600, message } },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message } },
    ]);
  });
});
