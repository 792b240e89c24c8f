import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { BENCH_TOOL } from '../harness/protocol.js';
import { runServer, serverConfig } from './child.js';

/**
 * What a competent user would write by hand with the SDK: its own `McpServer` with the same tool,
 * stateless Streamable HTTP — a new server and transport per request, as the SDK requires for
 * stateless servers (a stateless transport refuses a second request) — answering with JSON like
 * the other scenarios. What can be made once is made once: the tool's schema and handler, and the
 * body is read and parsed here and handed to the transport. No authentication.
 */
const config = serverConfig('sdk');

const INPUT = { text: z.string(), n: z.number().int() };
const TOOL = { description: 'Echoes its text.', inputSchema: INPUT };
const echo = ({ text }: { text: string }) => ({ content: [{ type: 'text' as const, text }] });

function buildServer(): McpServer {
  const server = new McpServer({ name: 'bench-sdk', version: '1.0.0' });
  server.registerTool(BENCH_TOOL, TOOL, echo);
  return server;
}

const INTERNAL_ERROR = '{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Internal error"}}';
const PARSE_ERROR = '{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}';

function readBody(req: http.IncomingMessage, done: (body: string) => void): void {
  let first: Buffer | undefined;
  let rest: Buffer[] | undefined;
  req.on('data', (chunk: Buffer) => {
    if (!first) first = chunk;
    else (rest ??= [first]).push(chunk);
  });
  req.on('end', () => done(rest ? Buffer.concat(rest).toString('utf8') : (first?.toString('utf8') ?? '')));
}

runServer(async () => {
  const httpServer = http.createServer((req, res) => {
    readBody(req, (text) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end(PARSE_ERROR);
        return;
      }
      const server = buildServer();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
      res.on('close', () => {
        void transport.close();
        void server.close();
      });
      server
        .connect(transport)
        .then(() => transport.handleRequest(req, res, parsed))
        .catch(() => {
          if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
          res.end(INTERNAL_ERROR);
        });
    });
  });
  httpServer.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => httpServer.listen(config.port ?? 0, '127.0.0.1', resolve));
  const { port } = httpServer.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/mcp`,
    close: () =>
      new Promise<void>((resolve) => {
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      }),
  };
});
