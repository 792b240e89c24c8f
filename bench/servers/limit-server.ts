import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { runServer, serverConfig } from './child.js';

/**
 * The physical limit of the exchange: a bare Node handler, as a competent user writes one, that
 * reads the body, parses the same JSON-RPC request and answers it with one write (status line,
 * headers and body together). No SDK, no validation library, no authentication.
 */
const config = serverConfig('limit');

const PARSE_ERROR = '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}';

function answer(body: string): { status: number; payload: string } {
  let message: { id?: unknown; method?: unknown; params?: { arguments?: { text?: unknown } } };
  try {
    message = JSON.parse(body) as typeof message;
  } catch {
    return { status: 400, payload: PARSE_ERROR };
  }
  const text = message.params?.arguments?.text;
  if (message.method !== 'tools/call' || typeof text !== 'string') {
    return { status: 200, payload: JSON.stringify({ jsonrpc: '2.0', id: message.id ?? null, error: { code: -32602, message: 'Invalid params' } }) };
  }
  return { status: 200, payload: JSON.stringify({ jsonrpc: '2.0', id: message.id, result: { content: [{ type: 'text', text }] } }) };
}

runServer(async () => {
  const server = http.createServer((req, res) => {
    let first: Buffer | undefined;
    let rest: Buffer[] | undefined;
    req.on('data', (chunk: Buffer) => {
      if (!first) first = chunk;
      else (rest ??= [first]).push(chunk);
    });
    req.on('end', () => {
      const { status, payload } = answer(rest ? Buffer.concat(rest).toString('utf8') : (first?.toString('utf8') ?? ''));
      res.writeHead(status, ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(payload))]);
      res.end(payload);
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(config.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/mcp`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
});
