import { expect } from 'chai';
import { ErrorCode as SdkErrorCode, LATEST_PROTOCOL_VERSION as SDK_LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS as SDK_SUPPORTED_PROTOCOL_VERSIONS } from '@modelcontextprotocol/sdk/types.js';
import { ErrorCode, LATEST_PROTOCOL_VERSION, SUPPORTED_PROTOCOL_VERSIONS } from '../../src/core/mcp/jsonrpc.js';
import { defineTool, definePlugin, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';

const echo = defineTool({ name: 'echo', description: 'Echoes text.', input: z.object({ text: z.string() }), handler: ({ text }) => text });

function expectNoStack(body: string): void {
  expect(body).not.to.match(/\bat .+\(.+:\d+:\d+\)|node_modules|\.ts:\d+/);
  expect(body).not.to.match(/<html|<!DOCTYPE/i);
}

describe('HTTP surface: bad input gets a clear JSON answer', () => {
  let t: TestEngine;
  let mcp: string;
  let auth: Record<string, string>;

  before(async () => {
    t = await createTestEngine({ plugins: [communityEdition(), definePlugin({ id: 'echo', tools: [echo] })], maxBodyBytes: 64 * 1024 });
    mcp = t.engine.mcpUrl();
    auth = { authorization: `Bearer ${t.apiKey}` };
  });
  after(() => t.close());

  async function post(body: string | Uint8Array, headers: Record<string, string> = {}): Promise<{ status: number; json: any; text: string; headers: Headers }> {
    const response = await fetch(mcp, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...auth, ...headers },
      body,
    });
    const text = await response.text();
    expectNoStack(text);
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, json, text, headers: response.headers };
  }

  const rpc = (method: string, params: Record<string, unknown> = {}, id: number | string = 1): string => JSON.stringify({ jsonrpc: '2.0', id, method, params });

  it('malformed JSON → 400 with JSON-RPC parse error -32700', async () => {
    const res = await post('{"jsonrpc": "2.0", "id": 1, "method": ');
    expect(res.status).to.equal(400);
    expect(res.json.error.code).to.equal(-32700);
    expect(res.json.id).to.equal(null);
  });

  it('a JSON-RPC batch → 400 -32600 saying batches are not supported', async () => {
    const res = await post(JSON.stringify([{ jsonrpc: '2.0', id: 1, method: 'ping' }]));
    expect(res.status).to.equal(400);
    expect(res.json.error).to.include({ code: -32600 });
    expect(res.json.error.message).to.match(/batch/i);
  });

  it('a message that is not JSON-RPC 2.0 → 400 -32600', async () => {
    const res = await post(JSON.stringify({ id: 1, method: 'ping' }));
    expect(res.status).to.equal(400);
    expect(res.json.error.code).to.equal(-32600);
  });

  it('wrong content type → 415', async () => {
    const res = await post(rpc('ping'), { 'content-type': 'text/plain' });
    expect(res.status).to.equal(415);
    expect(res.json.error.message).to.match(/application\/json/);
  });

  it('an Accept header that rules out JSON and SSE → 406 with a JSON-RPC error saying what to accept', async () => {
    const res = await post(rpc('ping'), { accept: 'text/html' });
    expect(res.status).to.equal(406);
    expect(res.json).to.deep.equal({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Accept must include application/json or text/event-stream.' } });
  });

  it('content negotiation honours q-values: q=0 rules a type out', async () => {
    const refused = await post(rpc('ping'), { accept: 'application/json;q=0, text/event-stream;q=0, text/html' });
    expect(refused.status).to.equal(406);
    expect(refused.json.error.message).to.equal('Accept must include application/json or text/event-stream.');
    const wildcard = await post(rpc('ping'), { accept: 'text/html, */*;q=0.1' });
    expect(wildcard.status).to.equal(200);
    expect(wildcard.json).to.deep.equal({ jsonrpc: '2.0', id: 1, result: {} });
  });

  it('Content-Type parameters and +json types are understood; a list of types is not a Content-Type (415)', async () => {
    expect((await post(rpc('ping'), { 'content-type': 'application/json; charset=utf-8' })).status).to.equal(200);
    expect((await post(rpc('ping'), { 'content-type': 'Application/JSON' })).status).to.equal(200);
    expect((await post(rpc('ping'), { 'content-type': 'application/json-seq' })).status).to.equal(415);
    const malformed = await post(rpc('ping'), { 'content-type': 'application/json,text/plain' });
    expect(malformed.status).to.equal(415);
    expect(malformed.json.error.message).to.equal('Content-Type must be application/json.');
  });

  it('a body over the limit → 413, declared or streamed, as a JSON-RPC error like the endpoint\'s other refusals (it was the admin API\'s shape)', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'x'.repeat(70 * 1024) } } });
    const res = await post(big);
    expect(res.status).to.equal(413);
    expect(res.json).to.deep.equal({ jsonrpc: '2.0', id: null, error: { code: -32600, message: `Invalid request: The request body exceeds ${64 * 1024} bytes.` } });
    // Without Content-Length (chunked), the limit still holds.
    const chunked = await fetch(mcp, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...auth },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 80; i++) controller.enqueue(new TextEncoder().encode('x'.repeat(1024)));
          controller.close();
        },
      }),
      duplex: 'half',
    } as RequestInit);
    expect(chunked.status).to.equal(413);
    expect(((await chunked.json()) as { error: { code: number } }).error.code).to.equal(-32600);
  });

  it('an unsupported MCP-Protocol-Version → 400 naming the supported ones', async () => {
    const res = await post(rpc('ping'), { 'mcp-protocol-version': '1999-01-01' });
    expect(res.status).to.equal(400);
    expect(res.json.error.message).to.match(/2025-11-25/);
  });

  it('every protocol version and error code the SDK knows is the engine\'s too (they are kept as constants so the SDK\'s schemas are not loaded at start)', () => {
    expect(SUPPORTED_PROTOCOL_VERSIONS).to.deep.equal(SDK_SUPPORTED_PROTOCOL_VERSIONS);
    expect(LATEST_PROTOCOL_VERSION).to.equal(SDK_LATEST_PROTOCOL_VERSION);
    for (const name of Object.keys(ErrorCode) as (keyof typeof ErrorCode)[]) expect(ErrorCode[name], name).to.equal(SdkErrorCode[name]);
  });

  it('a supported MCP-Protocol-Version is accepted', async () => {
    const res = await post(rpc('ping'), { 'mcp-protocol-version': '2025-06-18' });
    expect(res.status).to.equal(200);
    expect(res.json).to.deep.equal({ jsonrpc: '2.0', id: 1, result: {} });
  });

  it('GET without a session stream → 405 with Allow: POST; DELETE → 405', async () => {
    const get = await fetch(mcp, { headers: { accept: 'text/event-stream', ...auth } });
    expect(get.status).to.equal(405);
    expect(get.headers.get('allow')).to.equal('POST');
    expectNoStack(await get.text());
    const del = await fetch(mcp, { method: 'DELETE', headers: auth });
    expect(del.status).to.equal(405);
    expect(del.headers.get('allow')).to.equal('POST');
    expectNoStack(await del.text());
  });

  it('an Origin not on the allow-list → 403 JSON-RPC error, even with a valid key', async () => {
    const res = await post(rpc('ping'), { origin: 'https://evil.example' });
    expect(res.status).to.equal(403);
    expect(res.json.error.message).to.match(/Origin/);
    const allowed = await post(rpc('ping'), { origin: new URL(t.url).origin });
    expect(allowed.status).to.equal(200);
    expect(allowed.headers.get('access-control-allow-origin')).to.equal(new URL(t.url).origin);
    // A browser client can read when to retry a 503 or 429 (it could not: Retry-After was not exposed).
    expect(allowed.headers.get('access-control-expose-headers')?.split(/,\s*/)).to.include.members(['mcp-session-id', 'www-authenticate', 'retry-after']);
  });

  it('a Host header other than loopback → 403 (DNS rebinding guard)', async () => {
    const { request } = await import('node:http');
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(mcp, { method: 'POST', headers: { host: 'attacker.example', 'content-type': 'application/json', ...auth } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end(rpc('ping'));
    });
    expect(status).to.equal(403);
    expectNoStack(body);
    expect(JSON.parse(body).error.message).to.match(/Host/);
  });

  /** A POST written on a socket as it stands: header lines a fetch client would merge or refuse. */
  async function rawPost(headerLines: readonly string[], body: string): Promise<{ status: number; json: any }> {
    const { connect } = await import('node:net');
    const { port } = new URL(mcp);
    const text = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () => {
        const head = [`POST /api/mcp HTTP/1.1`, ...headerLines, 'Content-Type: application/json', 'Accept: application/json', `Content-Length: ${Buffer.byteLength(body)}`, 'Connection: close'];
        socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
      });
      let received = '';
      socket.on('data', (chunk: Buffer) => (received += chunk.toString('utf8')));
      socket.on('close', () => resolve(received));
      socket.on('error', reject);
    });
    const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1]);
    const payload = text.slice(text.indexOf('\r\n\r\n') + 4);
    expectNoStack(payload);
    return { status, json: JSON.parse(payload) };
  }

  it('two Authorization headers were judged by the first: the request is refused whichever comes first', async () => {
    const host = `Host: ${new URL(mcp).host}`;
    for (const order of [[t.apiKey, 'not-a-key'], ['not-a-key', t.apiKey]]) {
      const res = await rawPost([host, ...order.map((key) => `Authorization: Bearer ${key}`)], rpc('ping'));
      expect(res.status, `keys in the order ${order.map((key) => (key === t.apiKey ? 'valid' : 'junk')).join(', ')}`).to.equal(401);
    }
    expect((await rawPost([host, `Authorization: Bearer ${t.apiKey}`], rpc('ping'))).status).to.equal(200);
  });

  it('two Host headers were judged by the first (an allowed one before any other): 400', async () => {
    const res = await rawPost([`Host: ${new URL(mcp).host}`, 'Host: attacker.example', `Authorization: Bearer ${t.apiKey}`], rpc('ping'));
    expect(res.status).to.equal(400);
    expect(res.json.error.message).to.match(/more than one Host/);
  });

  it('a body that is not UTF-8 was read with replacement characters: 400 -32700', async () => {
    const valid = Buffer.from(rpc('ping', {}, 'id-'));
    const at = valid.indexOf('id-') + 3;
    const invalid = Buffer.concat([valid.subarray(0, at), Buffer.from([0xff, 0xfe]), valid.subarray(at)]);
    const res = await post(invalid);
    expect(res.status).to.equal(400);
    expect(res.json.error.code).to.equal(-32700);
    expect(res.json.error.message).to.match(/UTF-8/);
  });

  it('a compressed body was parsed as binary: Content-Encoding gzip → 415 asking for it uncompressed', async () => {
    const { gzipSync } = await import('node:zlib');
    const res = await post(gzipSync(rpc('ping')), { 'content-encoding': 'gzip' });
    expect(res.status).to.equal(415);
    expect(res.json.error.message).to.match(/Content-Encoding gzip is not supported/);
    expect((await post(rpc('ping'), { 'content-encoding': 'identity' })).status).to.equal(200);
  });

  it('an id past 2^53 was echoed with other digits than the client sent: 400 -32600', async () => {
    const res = await post('{"jsonrpc":"2.0","id":123456789012345678901234567890,"method":"ping"}');
    expect(res.status).to.equal(400);
    expect(res.json.error.code).to.equal(-32600);
    expect(res.json.id).to.equal(null);
    const largest = await post(`{"jsonrpc":"2.0","id":${Number.MAX_SAFE_INTEGER},"method":"ping"}`);
    expect(largest.status).to.equal(200);
    expect(largest.json.id).to.equal(Number.MAX_SAFE_INTEGER);
  });

  it('arguments nested a thousand levels deep crashed code that walks them (approval matching answered 500 and audited nothing): a message nesting deeper than 128 levels → 400 -32600', async () => {
    const nested = (depth: number, open: string, close: string, leaf: string): string => open.repeat(depth) + leaf + close.repeat(depth);
    // The envelope {params: {arguments: {deep: …}}} is 3 levels: 125 more is the deepest accepted.
    for (const [open, close, leaf] of [['[', ']', ''], ['{"a":', '}', '1']] as const) {
      const accepted = await post(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x","deep":${nested(125, open, close, leaf)}}}}`);
      expect(accepted.status, accepted.text).to.equal(200);
      expect(accepted.json.result.content[0].text).to.equal('x');
      const refused = await post(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x","deep":${nested(126, open, close, leaf)}}}}`);
      expect(refused.status, refused.text).to.equal(400);
      expect(refused.json.error.code).to.equal(-32600);
      expect(refused.json.error.message).to.contain('deeper than 128 levels');
      const huge = await post(`{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"echo","arguments":{"deep":${nested(5_000, open, close, leaf)}}}}`);
      expect(huge.status).to.equal(400);
      expect(huge.json.error.code).to.equal(-32600);
    }
    // Brackets inside strings (escaped quotes included) are text, not nesting.
    const text = `${'[{'.repeat(200)}\\"]}`;
    const inString = await post(rpc('tools/call', { name: 'echo', arguments: { text } }));
    expect(inString.status).to.equal(200);
    expect(inString.json.result.content[0].text).to.equal(text);
  });

  it('a number past the range of a double was read as Infinity and shown as null (an approval of null matched it): 400 -32600; finite numbers, and such text in strings, pass', async () => {
    const call = (raw: string): string => `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo","arguments":{"text":"n","n":${raw}}}}`;
    for (const raw of ['1e400', '-1e400', '1E+309', '-0.5e999', '9'.repeat(400), `-${'9'.repeat(310)}.5`]) {
      const res = await post(call(raw));
      expect(res.status, raw).to.equal(400);
      expect(res.json.error.code).to.equal(-32600);
      expect(res.json.error.message).to.contain('number out of range').and.contain('finite');
    }
    for (const raw of ['1e308', '-1.7976931348623157e308', '5e-324', '1e-400', '0', '-0', '123.5E+3', '9'.repeat(300), 'true', 'false', 'null', '"1e400"', '["1e400", 1e3]']) {
      const res = await post(call(raw));
      expect(res.status, `${raw}: ${res.text}`).to.equal(200);
      expect(res.json.result.content[0].text).to.equal('n');
    }
  });

  it('an unknown method → JSON-RPC -32601; an unknown tool → -32602', async () => {
    const unknownMethod = await post(rpc('nope/nothing'));
    expect(unknownMethod.json.error.code).to.equal(-32601);
    const unknownTool = await post(rpc('tools/call', { name: 'missing', arguments: {} }));
    expect(unknownTool.json.error.code).to.equal(-32602);
    expect(unknownTool.json.error.message).to.match(/Unknown tool: missing/);
  });

  it('invalid tool arguments → an isError result naming the field, not a protocol error', async () => {
    const res = await post(rpc('tools/call', { name: 'echo', arguments: { text: 42 } }));
    expect(res.status).to.equal(200);
    expect(res.json.result.isError).to.equal(true);
    expect(res.json.result.content[0].text).to.match(/text/);
  });

  it('notifications are accepted with 202 and an empty body', async () => {
    const res = await post(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }));
    expect(res.status).to.equal(202);
    expect(res.text).to.equal('');
  });

  it('unknown paths → 404 JSON, never HTML', async () => {
    const res = await fetch(`${t.url}/nowhere`);
    expect(res.status).to.equal(404);
    const body = (await res.json()) as { error: { code: string } };
    expect(body.error.code).to.equal('not_found');
  });

  it('/healthz reports the process alive', async () => {
    const res = await fetch(`${t.url}/healthz`);
    expect(res.status).to.equal(200);
    expect(((await res.json()) as { status: string }).status).to.equal('ok');
  });
});
