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

/**
 * Sends a request on to the server behind a {@link faultyProxy} (with `body` when the fault has read
 * the request's own) and resolves with the server's answer, for the fault to pass on, or not.
 */
export type Forward = (body?: Buffer) => Promise<http.IncomingMessage>;

/** Answers a request instead of the server behind a {@link faultyProxy} (true when it did). */
export type Fault = (req: http.IncomingMessage, res: http.ServerResponse, forward: Forward) => boolean;

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
    const forward: Forward = (body) =>
      new Promise((resolve, reject) => {
        const request = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, resolve);
        request.on('error', reject);
        if (body) request.end(body);
        else req.pipe(request);
      });
    if (state.fault?.(req, res, forward)) return;
    forward().then(
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
      () => res.destroy(),
    );
  });
  const local = await serve(server, new Set());
  return Object.assign(state, { url: `${local.url}${upstream.pathname}`, close: () => local.close() });
}

/** How {@link cutAnswer} ends an answer before its response: the connection closed, reset, or the answer ended normally. */
export type Cut = 'close' | 'reset' | 'end';

function methodOf(body: Buffer): string | undefined {
  try {
    const method = (JSON.parse(body.toString('utf8')) as { method?: unknown }).method;
    return typeof method === 'string' ? method : undefined;
  } catch {
    return undefined;
  }
}

/** Whether one SSE event (or a JSON body) holds a JSON-RPC response. */
function holdsResponse(text: string): boolean {
  const data = /^data:/m.test(text) ? text.split(/\r?\n/).filter((line) => line.startsWith('data:')).map((line) => line.slice(5).trim()).join('\n') : text;
  try {
    const message = JSON.parse(data) as Record<string, unknown>;
    return 'id' in message && ('result' in message || 'error' in message);
  } catch {
    return false;
  }
}

/** What a {@link cutAnswer} fault saw: the POSTs' JSON-RPC methods, and how many answers it cut. */
export interface AnswerCutter {
  readonly fault: Fault;
  readonly seen: string[];
  cuts: number;
}

/**
 * A fault for a {@link faultyProxy}: the next `times` POSTs of `method` reach the server, and its
 * answer is passed on up to its JSON-RPC response, which never arrives. An SSE answer is passed on
 * event by event (progress and all) until the event holding the response; a JSON answer, its first
 * half. Then `how` ends it. Other requests pass through.
 */
export function cutAnswer(method: string, how: Cut, times = 1): AnswerCutter {
  let left = times;
  const fault: Fault = (req, res, forward) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const called = req.method === 'POST' ? methodOf(body) : undefined;
      if (called) state.seen.push(called);
      const cut = called === method && left > 0;
      if (cut) left--;
      forward(body).then(
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          if (!cut) return void answer.pipe(res);
          const end = (): void => {
            answer.destroy();
            state.cuts++;
            // What was passed on is written and read first, as when an answer breaks off after a while.
            res.write('', () =>
              setTimeout(() => {
                if (how === 'close') res.socket?.destroy();
                else if (how === 'reset') res.socket?.resetAndDestroy();
                else res.end();
              }, 200),
            );
          };
          if (!/text\/event-stream/.test(String(answer.headers['content-type']))) {
            const whole: Buffer[] = [];
            answer.on('data', (chunk: Buffer) => whole.push(chunk));
            answer.on('end', () => {
              const all = Buffer.concat(whole);
              res.write(all.subarray(0, Math.floor(all.length / 2)));
              end();
            });
            return;
          }
          let text = '';
          answer.setEncoding('utf8');
          answer.on('data', (chunk: string) => {
            text += chunk;
            for (let boundary = text.indexOf('\n\n'); boundary !== -1 && !answer.destroyed; boundary = text.indexOf('\n\n')) {
              const event = text.slice(0, boundary + 2);
              text = text.slice(boundary + 2);
              if (holdsResponse(event)) end();
              else res.write(event);
            }
          });
        },
        () => res.destroy(),
      );
    });
    return true;
  };
  const state: AnswerCutter = { fault, seen: [], cuts: 0 };
  return state;
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
