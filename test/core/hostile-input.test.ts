import { expect } from 'chai';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { PinoLogger, defineTool, definePlugin, json, z } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';

const echo = defineTool({ name: 'echo', description: 'Echoes text.', input: z.object({ text: z.string() }), handler: ({ text }) => text });
const BOM = Buffer.from([0xef, 0xbb, 0xbf]);
const LONG = 100_000;

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
});
