import { expect } from 'chai';
import net from 'node:net';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { PinoLogger, defineTool, definePlugin, json, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { clipClientText } from '../../src/core/client-text.js';
import { recordingGovernance } from '../protocol/support.js';

const echo = defineTool({ name: 'echo', description: 'Echoes text.', input: z.object({ text: z.string() }), handler: ({ text }) => text });
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const LONG = 100_000;
const long = (char: string): string => char.repeat(LONG);
/** How an error message, a log line or an audit row quotes a client's long text. */
const clipped = (text: string): string => `${text.slice(0, 200)}…(${text.length} chars)`;

function expectNoStack(body: string): void {
  expect(body).not.to.match(/\bat .+\(.+:\d+:\d+\)|node_modules|\.ts:\d+/);
}

interface Answer {
  readonly status: number;
  readonly json: any;
  readonly text: string;
  readonly headers: Headers;
}

async function send(url: string, init: RequestInit): Promise<Answer> {
  const response = await fetch(url, init);
  const text = await response.text();
  expectNoStack(text);
  let parsed: any;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: response.status, json: parsed, text, headers: response.headers };
}

const rpc = (method: string, params?: Record<string, unknown>, id: number | string = 1): string => JSON.stringify({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });

describe('Hostile input on the MCP endpoint', () => {
  let t: TestEngine;
  let mcp: string;
  let auth: Record<string, string>;

  before(async () => {
    t = await createTestEngine({
      plugins: [
        communityEdition(),
        definePlugin({
          id: 'echo',
          tools: [echo],
          routes: [{ method: 'POST', path: '/api/v1/echo-body', handler: async (req) => json(200, { got: await req.json() }) }],
        }),
      ],
    });
    mcp = t.engine.mcpUrl();
    auth = { authorization: `Bearer ${t.apiKey}` };
  });
  after(() => t.close());

  const post = (body: string | Uint8Array, headers: Record<string, string> = {}): Promise<Answer> =>
    send(mcp, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...auth, ...headers }, body });

  describe('a body that starts with a UTF-8 byte-order mark', () => {
    it('was refused as malformed JSON on the MCP endpoint: one leading BOM is ignored', async () => {
      const res = await post(Buffer.concat([BOM, Buffer.from(rpc('tools/call', { name: 'echo', arguments: { text: 'after a BOM' } }))]));
      expect(res.status, res.text).to.equal(200);
      expect(res.json.result.content[0].text).to.equal('after a BOM');
      // Only one: a second BOM is text before the JSON.
      const twice = await post(Buffer.concat([BOM, BOM, Buffer.from(rpc('ping'))]));
      expect(twice.status).to.equal(400);
      expect(twice.json.error.code).to.equal(-32700);
    });

    it('was refused as malformed JSON by a contributed route reading its body as JSON', async () => {
      const res = await send(`${t.url}/api/v1/echo-body`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: Buffer.concat([BOM, Buffer.from('{"a":1}')]) });
      expect(res.status, res.text).to.equal(200);
      expect(res.json).to.deep.equal({ got: { a: 1 } });
    });
  });

  describe('a body declared in a charset other than UTF-8', () => {
    const FOREIGN = ['iso-8859-1', 'ISO-8859-1', 'windows-1252', 'utf-16', 'UTF-16LE', 'us-ascii'];
    const UTF8 = ['utf-8', 'UTF-8', '"utf-8"', 'Utf8'];
    const cafe = (encoding: BufferEncoding): Buffer => Buffer.from(rpc('tools/call', { name: 'echo', arguments: { text: 'café' } }), encoding);
    const route = (body: Uint8Array | string, type: string): Promise<Answer> => send(`${t.url}/api/v1/echo-body`, { method: 'POST', headers: { 'content-type': type }, body });

    /** The status line of the answer to a request whose head is sent and whose body never is. */
    async function answerBeforeBody(path: string, headers: Record<string, string>): Promise<string> {
      const { port } = new URL(t.url);
      const socket = net.connect(Number(port), '127.0.0.1');
      socket.on('error', () => undefined);
      const head = Object.entries({ host: `127.0.0.1:${port}`, accept: 'application/json', ...headers, 'content-length': '1000' }).map(([name, value]) => `${name}: ${value}`);
      socket.write(`POST ${path} HTTP/1.1\r\n${head.join('\r\n')}\r\n\r\n{"jsonrpc":`);
      try {
        return await new Promise<string>((resolve) => {
          let received = '';
          const timer = setTimeout(() => resolve(`no answer within 3 s: ${received}`), 3_000);
          socket.on('data', (chunk: Buffer) => {
            received += chunk.toString('latin1');
            if (received.includes('\r\n')) {
              clearTimeout(timer);
              resolve(received.slice(0, received.indexOf('\r\n')));
            }
          });
        });
      } finally {
        socket.destroy();
      }
    }

    it('was read as UTF-8 on the MCP endpoint (a latin-1 "é" answered -32700): 415 naming the charset, and before the body for UTF-16', async () => {
      const latin1 = await post(cafe('latin1'), { 'content-type': 'application/json; charset=iso-8859-1' });
      expect(latin1.status, latin1.text).to.equal(415);
      expect(latin1.json.error).to.deep.include({ code: -32600, message: 'Content-Type charset iso-8859-1 is not supported: JSON is UTF-8 (RFC 8259); send the body as UTF-8.' });
      expect(latin1.json.id).to.equal(null);
      for (const charset of FOREIGN) {
        const res = await post(cafe(charset.toLowerCase().startsWith('utf-16') ? 'utf16le' : 'latin1'), { 'content-type': `application/json; charset=${charset}` });
        expect(res.status, charset).to.equal(415);
        expect(res.json.error.message).to.contain(`charset ${charset} is not supported`);
      }
      expect(await answerBeforeBody('/api/mcp', { ...auth, 'content-type': 'application/json; charset=utf-16' })).to.match(/^HTTP\/1\.1 415 /);
    });

    it('was read as UTF-8 by a contributed route reading its body as JSON: 415 unsupported_media_type naming the charset, and before the body for UTF-16', async () => {
      for (const charset of FOREIGN) {
        const res = await route(cafe(charset.toLowerCase().startsWith('utf-16') ? 'utf16le' : 'latin1'), `application/json; charset=${charset}`);
        expect(res.status, charset).to.equal(415);
        expect(res.json.error).to.deep.equal({ code: 'unsupported_media_type', message: `Content-Type charset ${charset} is not supported: JSON is UTF-8 (RFC 8259); send the body as UTF-8.` });
      }
      expect(await answerBeforeBody('/api/v1/echo-body', { 'content-type': 'application/json; charset=utf-16' })).to.match(/^HTTP\/1\.1 415 /);
    });

    it('a body of ASCII only is read whatever ASCII-compatible charset it declares (clients label JSON iso-8859-1 and escape the rest as \\uXXXX)', async () => {
      const escaped = rpc('tools/call', { name: 'echo', arguments: { text: 'caf\u00e9' } }).replace('caf\u00e9', 'caf\\u00e9');
      expect(Buffer.from(escaped).every((byte) => byte < 0x80), 'the body is ASCII').to.equal(true);
      for (const charset of ['iso-8859-1', 'ISO-8859-1', 'windows-1252', 'us-ascii', 'x-made-up']) {
        const res = await post(escaped, { 'content-type': `application/json; charset=${charset}` });
        expect(res.status, `${charset}: ${res.text}`).to.equal(200);
        expect(res.json.result.content[0].text, charset).to.equal('caf\u00e9');
        const routed = await route('{"text":"caf\\u00e9"}', `application/json; charset=${charset}`);
        expect(routed.status, charset).to.equal(200);
        expect(routed.json).to.deep.equal({ got: { text: 'caf\u00e9' } });
      }
      // Not for UTF-16, whose ASCII characters are not ASCII bytes.
      expect((await post(escaped, { 'content-type': 'application/json; charset=utf-16' })).status).to.equal(415);
    });

    it('UTF-8 declared any way (any case, quoted, utf8), or no charset, is read as before', async () => {
      for (const type of [...UTF8.map((charset) => `application/json; charset=${charset}`), 'application/json', 'application/json;charset=utf-8;foo=bar']) {
        const res = await post(cafe('utf8'), { 'content-type': type });
        expect(res.status, type).to.equal(200);
        expect(res.json.result.content[0].text, type).to.equal('café');
        const routed = await route(Buffer.from('{"text":"café"}'), type);
        expect(routed.status, type).to.equal(200);
        expect(routed.json).to.deep.equal({ got: { text: 'café' } });
      }
      // A type that is not JSON is still refused as such, whatever its charset.
      const text = await route('{}', 'text/plain; charset=iso-8859-1');
      expect(text.json.error.message).to.equal('Content-Type must be application/json.');
    });

    it('a charset of 8 KB came back whole in the 415', async () => {
      const charset = 'x'.repeat(8_000);
      const res = await post(cafe('latin1'), { 'content-type': `application/json; charset=${charset}` });
      expect(res.status).to.equal(415);
      expect(res.json.error.message).to.equal(`Content-Type charset ${clipped(charset)} is not supported: JSON is UTF-8 (RFC 8259); send the body as UTF-8.`);
      const routed = await route(Buffer.from('{"text":"caf\u00e9"}', 'latin1'), `application/json; charset="${charset}"`);
      expect(routed.status).to.equal(415);
      expect(routed.text.length).to.be.below(1_000);
    });
  });

  describe('client text quoted in an error comes back clipped to 200 characters and its length', () => {

    it('the clipping helper keeps short text whole and never cuts a surrogate pair', () => {
      expect(clipClientText('echo')).to.equal('echo');
      expect(clipClientText('x'.repeat(200))).to.equal('x'.repeat(200));
      expect(clipClientText('x'.repeat(201))).to.equal(`${'x'.repeat(200)}…(201 chars)`);
      const emoji = `${'x'.repeat(199)}😀😀`;
      expect(clipClientText(emoji)).to.equal(`${'x'.repeat(199)}…(203 chars)`);
    });

    it('an unknown tool name of 100 KB came back whole in the -32602 error', async () => {
      const name = long('t');
      const res = await post(rpc('tools/call', { name, arguments: {} }));
      expect(res.json.error.code).to.equal(-32602);
      expect(res.json.error.message).to.equal(`Unknown tool: ${clipped(name)}`);
    });

    it('an unknown method name of 100 KB came back whole in the -32601 error', async () => {
      const method = long('m');
      const res = await post(rpc(method));
      expect(res.json.error.code).to.equal(-32601);
      expect(res.json.error.message).to.equal(`Method not found: ${clipped(method)}`);
    });

    it('header values (MCP-Protocol-Version, Origin, Content-Encoding) came back whole in the HTTP error', async () => {
      // Node reads at most 16 KB of headers: 8 KB values are long enough to need clipping.
      const version = 'v'.repeat(8_000);
      const unsupported = await post(rpc('ping'), { 'mcp-protocol-version': version });
      expect(unsupported.status).to.equal(400);
      expect(unsupported.json.error.message).to.contain(`"${clipped(version)}"`);
      expect(unsupported.text.length).to.be.below(1_000);
      const origin = `https://${'o'.repeat(8_000)}.example`;
      const foreign = await post(rpc('ping'), { origin });
      expect(foreign.status).to.equal(403);
      expect(foreign.json.error.message).to.equal(`Origin ${clipped(origin)} is not allowed.`);
      const coding = 'g'.repeat(8_000);
      const encoded = await post(rpc('ping'), { 'content-encoding': coding });
      expect(encoded.status).to.equal(415);
      expect(encoded.json.error.message).to.equal(`Content-Encoding ${clipped(coding)} is not supported: send the body uncompressed.`);
    });

    it('a validation issue quoting a client key of 100 KB came back whole in the isError result', async () => {
      const strict = defineTool({ name: 'strict', description: 'Takes nothing.', input: z.strictObject({}), handler: () => 'ok' });
      const s = await createTestEngine({ plugins: [communityEdition(), definePlugin({ id: 'strict', tools: [strict] })], connect: false });
      try {
        const key = (await s.createKey()).secret;
        const res = await send(s.engine.mcpUrl(), {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${key}` },
          body: rpc('tools/call', { name: 'strict', arguments: { [long('k')]: 1 } }),
        });
        expect(res.json.result.isError).to.equal(true);
        expect(res.json.result.content[0].text.length).to.be.below(600);
        expect(res.json.result.content[0].text).to.match(/^Invalid arguments for strict: Unrecognized key: "k+…\(\d+ chars\)$/);
      } finally {
        await s.close();
      }
    });
  });

  describe('client text in the audit trail and the request log is clipped too', () => {
    it('an unknown tool name of 100 KB was stored whole as the audit event\'s target', async () => {
      const governance = recordingGovernance();
      const g = await createTestEngine({ plugins: [governance.edition, definePlugin({ id: 'echo', tools: [echo] })], connect: false });
      try {
        const name = long('a');
        const res = await send(g.engine.mcpUrl(), {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json', authorization: 'Bearer reader-token' },
          body: rpc('tools/call', { name, arguments: {} }),
        });
        expect(res.json.error.code).to.equal(-32602);
        const event = governance.audit.events.find((candidate) => candidate.reason === 'unknown tool');
        expect(event, 'the refusal is audited').to.not.equal(undefined);
        expect(event!.target).to.equal(clipped(name));
      } finally {
        await g.close();
      }
    });

    it('an unknown tool name of 100 KB was written whole in the request log line', async () => {
      const lines: string[] = [];
      const logged = await createTestEngine({
        plugins: [communityEdition(), definePlugin({ id: 'echo', tools: [echo] })],
        connect: false,
        logger: new PinoLogger('info', { write: (line) => void lines.push(line) }),
      });
      try {
        const key = (await logged.createKey()).secret;
        const name = long('l');
        await send(logged.engine.mcpUrl(), {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${key}` },
          body: rpc('tools/call', { name, arguments: {} }),
        });
        const request = lines.map((line) => JSON.parse(line)).find((entry) => entry.msg === 'request' && entry.method === 'tools/call');
        expect(request, lines.join('\n').slice(0, 2_000)).to.not.equal(undefined);
        expect(request.tool).to.equal(clipped(name));
        for (const line of lines) expect(line.length).to.be.below(5_000);
      } finally {
        await logged.close();
      }
    });
  });

  describe('params members the MCP schema makes objects, sent as anything else', () => {
    const kinds: [string, unknown][] = [
      ['a string', 'x'],
      ['a number', 5],
      ['an array', []],
      ['null', null],
    ];

    for (const [member, build] of [
      ['_meta', (value: unknown) => ({ name: 'echo', arguments: { text: 'a' }, _meta: value })],
      ['task', (value: unknown) => ({ name: 'echo', arguments: { text: 'a' }, task: value })],
      ['arguments', (value: unknown) => ({ name: 'echo', arguments: value })],
    ] as const) {
      it(`a tools/call "${member}" that is not an object was ignored or answered otherwise: -32602 naming it`, async () => {
        for (const [kind, value] of kinds) {
          const res = await post(rpc('tools/call', build(value)));
          expect(res.status, `${member} as ${kind}: ${res.text}`).to.equal(200);
          expect(res.json.error, `${member} as ${kind}: ${res.text}`).to.deep.equal({ code: -32602, message: `Invalid params for tools/call: "${member}" must be an object, not ${kind}.` });
        }
      });
    }

    it('a "_meta" that is not an object on any other method was ignored: -32602', async () => {
      for (const method of ['ping', 'tools/list', 'initialize']) {
        const res = await post(rpc(method, { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' }, _meta: 'x' }));
        expect(res.json.error, method).to.deep.equal({ code: -32602, message: `Invalid params for ${method}: "_meta" must be an object, not a string.` });
      }
    });

    it('a progress token, or a task ttl, of the wrong type was ignored: -32602', async () => {
      const token = await post(rpc('tools/call', { name: 'echo', arguments: { text: 'a' }, _meta: { progressToken: { id: 1 } } }));
      expect(token.json.error.code).to.equal(-32602);
      expect(token.json.error.message).to.contain('"_meta.progressToken" must be a string or a number');
      const ttl = await post(rpc('tools/call', { name: 'echo', arguments: { text: 'a' }, task: { ttl: 'soon' } }));
      expect(ttl.json.error.code).to.equal(-32602);
      expect(ttl.json.error.message).to.contain('"task.ttl" must be a number');
    });

    it('well-formed _meta, task and arguments still pass, from the SDK client too', async () => {
      const res = await post(rpc('tools/call', { name: 'echo', arguments: { text: 'fine' }, _meta: { progressToken: 'p1' }, task: { ttl: 60_000 } }));
      expect(res.json.result.content[0].text).to.equal('fine');
      const result = await t.client.callTool({ name: 'echo', arguments: { text: 'sdk' }, _meta: { progressToken: 7 } });
      expect(result.content).to.deep.equal([{ type: 'text', text: 'sdk' }]);
    });
  });

  describe('the Allow header of a 405', () => {
    it('said POST when sessions were on (where GET and DELETE are valid): it lists exactly GET, POST, DELETE', async () => {
      const s = await createTestEngine({ plugins: [communityEdition()], sessions: true, connect: false });
      try {
        const key = (await s.createKey()).secret;
        for (const method of ['PUT', 'PATCH']) {
          const res = await send(s.engine.mcpUrl(), { method, headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: rpc('ping') });
          expect(res.status).to.equal(405);
          expect(res.headers.get('allow')).to.equal('GET, POST, DELETE');
          expect(res.json.error.message).to.equal(`Method ${method} is not allowed; use GET, POST or DELETE.`);
        }
        // The methods it names are taken: an SDK client opens a session and ends it.
        const client = new Client({ name: 'allow-check', version: '1.0.0' });
        const transport = new StreamableHTTPClientTransport(new URL(s.engine.mcpUrl()), { requestInit: { headers: { authorization: `Bearer ${key}` } } });
        await client.connect(transport);
        await transport.terminateSession();
        await client.close();
      } finally {
        await s.close();
      }
    });

    it('stateless, it lists POST only, and a CORS preflight names the same methods', async () => {
      const res = await send(mcp, { method: 'PUT', headers: auth, body: rpc('ping') });
      expect(res.status).to.equal(405);
      expect(res.headers.get('allow')).to.equal('POST');
      const origin = new URL(t.url).origin;
      const preflight = await fetch(mcp, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
      expect(preflight.status).to.equal(204);
      expect(preflight.headers.get('access-control-allow-methods')).to.equal('POST, OPTIONS');
    });
  });
});
