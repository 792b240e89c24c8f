import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

export interface LocalServer {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

async function serve(server: http.Server | net.Server, sockets: Set<net.Socket>): Promise<LocalServer> {
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A server that answers every request with this status and JSON body. */
export function answeringServer(status: number, body: unknown, headers: Record<string, string> = {}): Promise<LocalServer> {
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
  });
  return serve(server, new Set());
}

/** A server that accepts connections and never answers. */
export function silentServer(): Promise<LocalServer> {
  return serve(net.createServer(() => undefined), new Set());
}

/** Answers a request instead of the server behind a {@link faultyProxy} (true when it did). */
export type Fault = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

export interface FaultyProxy {
  /** The server's MCP endpoint through the proxy. */
  readonly url: string;
  /** When set, asked first for every request. */
  fault: Fault | undefined;
  close(): Promise<void>;
}

/** A pass-through proxy to `target` that lets `fault` answer a request instead. */
export async function faultyProxy(target: string): Promise<FaultyProxy> {
  const upstream = new URL(target);
  const state: { fault: Fault | undefined } = { fault: undefined };
  const server = http.createServer((req, res) => {
    if (state.fault?.(req, res)) return;
    const forward = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  const local = await serve(server, new Set());
  return Object.assign(state, { url: `${local.url}${upstream.pathname}`, close: () => local.close() });
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const probe = await silentServer();
  await probe.close();
  return probe.port;
}

export type ProxyMode = 'pass' | 'fail' | 'hang';

export interface ControllableProxy extends LocalServer {
  mode: ProxyMode;
  /** Answer this many of the next requests with 401 (as if the token had been revoked). */
  reject401: number;
  /** Bearer tokens of the requests seen. */
  readonly tokens: string[];
  /** Requests seen, by method. */
  readonly seen: string[];
}

/** A pass-through proxy to `target` that can be told to fail with 502 or 401, or to stop answering. */
export async function controllableProxy(target: string): Promise<ControllableProxy> {
  const upstream = new URL(target);
  const state = { mode: 'pass' as ProxyMode, reject401: 0, seen: [] as string[], tokens: [] as string[] };
  const server = http.createServer((req, res) => {
    state.seen.push(req.method ?? '');
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (bearer) state.tokens.push(bearer);
    if (state.reject401 > 0) {
      state.reject401--;
      req.resume();
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer error="invalid_token"' });
      res.end(JSON.stringify({ error: 'invalid_token', error_description: 'The token has been revoked.' }));
      return;
    }
    if (state.mode === 'hang') return;
    if (state.mode === 'fail') {
      req.resume();
      res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body>Bad Gateway</body></html>');
      return;
    }
    const forward = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  const local = await serve(server, new Set());
  return Object.assign(state, local) as ControllableProxy;
}
