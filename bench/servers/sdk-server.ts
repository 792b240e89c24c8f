import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';
import { BENCH_TOOL } from '../harness/protocol.js';
import { runServer, serverConfig } from './child.js';

/**
 * What a user would write by hand with the SDK: its own `McpServer` with the same tool, stateless
 * Streamable HTTP — a new server and transport per request, as the SDK documents for stateless
 * servers — answering with JSON like the other scenarios. No authentication.
 */
const config = serverConfig('sdk');

function buildServer(): McpServer {
  const server = new McpServer({ name: 'bench-sdk', version: '1.0.0' });
  server.registerTool(
    BENCH_TOOL,
    { description: 'Echoes its text.', inputSchema: { text: z.string(), n: z.number().int() } },
    ({ text }) => ({ content: [{ type: 'text', text }] }),
  );
  return server;
}

runServer(async () => {
  const httpServer = http.createServer((req, res) => {
    const server = buildServer();
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    server
      .connect(transport)
      .then(() => transport.handleRequest(req, res))
      .catch(() => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
        res.end('{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"Internal error"}}');
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
