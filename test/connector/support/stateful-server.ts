import http from 'node:http';
import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

export interface StatefulServer {
  readonly url: string;
  /** Sessions created so far. */
  readonly sessions: () => number;
  /** Forget every session, as a restarted stateful server would (old session ids then get 404). */
  forgetSessions(): void;
  close(): Promise<void>;
}

/**
 * A stateful MCP server built on the SDK (not Gatehouse, which is stateless): sessions, a standalone
 * GET stream for server notifications, and a tool that adds a tool (so the tool list changes).
 */
export async function startStatefulServer(): Promise<StatefulServer> {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  let created = 0;

  const newSession = (): StreamableHTTPServerTransport => {
    const mcp = new McpServer({ name: 'stateful-fixture', version: '1.0.0' }, { capabilities: { tools: { listChanged: true } } });
    let added = 0;
    mcp.registerTool('add-tool', { description: 'Adds a tool.', inputSchema: {} }, async () => {
      added++;
      mcp.registerTool(`added-${added}`, { description: 'An added tool.', inputSchema: { x: z.string().optional() } }, async () => ({ content: [{ type: 'text', text: 'added' }] }));
      return { content: [{ type: 'text', text: `added-${added}` }] };
    });
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      onsessioninitialized: (id) => {
        created++;
        transports.set(id, transport);
      },
    });
    void mcp.connect(transport);
    return transport;
  };

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const body = raw ? (JSON.parse(raw) as unknown) : undefined;
    const sessionId = req.headers['mcp-session-id'];
    let transport: StreamableHTTPServerTransport | undefined;
    if (typeof sessionId === 'string') {
      transport = transports.get(sessionId);
      if (!transport) {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }));
        return;
      }
    } else {
      transport = newSession();
    }
    await transport.handleRequest(req, res, body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    sessions: () => created,
    forgetSessions() {
      for (const transport of transports.values()) void transport.close();
      transports.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const transport of transports.values()) void transport.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
