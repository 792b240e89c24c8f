import net from 'node:net';

/** What a cut interrupted: an explicit `COMMIT`, or a statement that committed on its own. */
export type CutKind = 'commit' | 'statement';

export interface PgProxy {
  readonly port: number;
  /** A copy of `url` that goes through the proxy. */
  url(url: string): string;
  /**
   * Cut the next `times` commits: let the commit reach PostgreSQL, wait until PostgreSQL answers
   * that it is done (ReadyForQuery), then close both sides without passing the answer on. The
   * commits cut are `COMMIT`s, or, with `statements`, only statements run outside a transaction
   * (which commit on their own) whose text `statements` matches.
   */
  arm(times: number, statements?: RegExp): void;
  cuts(): readonly CutKind[];
  /** Round trips so far: answers PostgreSQL marked "ready for the next query". */
  roundTrips(): number;
  /**
   * Stop passing bytes either way, keeping every connection open (a database host that stops
   * answering at the network level: packets dropped, no reset), or with `replies` only PostgreSQL's
   * answers (the statements still arrive and run); `false` passes what was held, in order.
   */
  blackhole(on: boolean, what?: 'both' | 'replies'): void;
  /**
   * Make every connection open now a dead one its client has not heard of (a failover whose
   * resets never reached the client): each is closed when its client next sends on it, before
   * anything reaches PostgreSQL. Connections opened afterwards work.
   */
  staleAll(): void;
  /**
   * Cut every connection but those that ran a `LISTEN` (the change feed's listener) and refuse new
   * ones until {@link up}: the way a saturated or failing pool looks while the instance still hears
   * changes.
   */
  down(): void;
  /** Let connections in again after {@link down}. */
  up(): void;
  /** Client connections open now through the proxy. */
  openConnections(): number;
  close(): Promise<void>;
}

/** Reads the messages of a PostgreSQL protocol stream (type byte, 4-byte length, body). */
class MessageReader {
  private pending: Buffer = Buffer.alloc(0);
  constructor(private startup: boolean) {}

  /** Feed a chunk; returns the complete messages it finished. */
  feed(chunk: Buffer): { type: string; body: Buffer }[] {
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const messages: { type: string; body: Buffer }[] = [];
    for (;;) {
      if (this.startup) {
        // The client's first message (startup) has no type byte.
        if (this.pending.length < 4) break;
        const length = this.pending.readInt32BE(0);
        if (this.pending.length < length) break;
        this.pending = this.pending.subarray(length);
        this.startup = false;
        continue;
      }
      if (this.pending.length < 5) break;
      const length = this.pending.readInt32BE(1);
      if (this.pending.length < 1 + length) break;
      messages.push({ type: String.fromCharCode(this.pending[0]!), body: this.pending.subarray(5, 1 + length) });
      this.pending = this.pending.subarray(1 + length);
    }
    return messages;
  }
}

const cstring = (body: Buffer, from = 0): string => body.toString('utf8', from, body.indexOf(0, from));

/** The SQL of a simple query (Q) or of a statement being prepared (P, after its name); else empty. */
function sqlOf(message: { type: string; body: Buffer }): string {
  if (message.type === 'Q') return cstring(message.body);
  if (message.type === 'P') return cstring(message.body, message.body.indexOf(0) + 1);
  return '';
}

/**
 * A TCP proxy in front of PostgreSQL that reads the wire protocol: it counts round trips and, when
 * armed, cuts connections right after PostgreSQL committed, so the client sees a lost connection
 * for a transaction that is in fact committed.
 */
export async function pgProxy(target: URL): Promise<PgProxy> {
  let armed = 0;
  let statements: RegExp | undefined;
  let roundTrips = 0;
  const cuts: CutKind[] = [];
  let holding: 'both' | 'replies' | undefined;
  /** Bytes held while the proxy is a black hole, each with the socket it is for. */
  const blackholed: { to: net.Socket; chunk: Buffer }[] = [];
  const forward = (to: net.Socket, chunk: Buffer, reply: boolean): void => {
    if (holding === 'both' || (holding === 'replies' && reply)) blackholed.push({ to, chunk });
    else to.write(chunk);
  };
  const sockets = new Set<net.Socket>();
  /** Each client connection open now, with what closes it and its upstream. */
  const clients = new Map<net.Socket, () => void>();
  /** Connections {@link PgProxy.staleAll} made dead. */
  const stale = new WeakSet<net.Socket>();
  /** Connections that ran a `LISTEN`, which {@link PgProxy.down} spares. */
  const listeners = new WeakSet<net.Socket>();
  let isDown = false;
  const server = net.createServer((client) => {
    if (isDown) return void client.destroy();
    const upstream = net.connect(Number(target.port || 5432), target.hostname);
    sockets.add(client).add(upstream);
    const fromClient = new MessageReader(true);
    const fromServer = new MessageReader(false);
    /** Transaction status of the last ReadyForQuery: I idle, T in a transaction, E failed one. */
    let status = 'I';
    let committing: CutKind | undefined;
    const held: Buffer[] = [];
    client.on('data', (chunk: Buffer) => {
      if (stale.has(client)) {
        client.destroy();
        upstream.destroy();
        return;
      }
      for (const message of fromClient.feed(chunk)) {
        if (/\bLISTEN\b/i.test(sqlOf(message))) listeners.add(client);
        if (armed === 0 || committing) continue;
        if (!statements) {
          if (message.type === 'Q' && /^\s*COMMIT\s*;?\s*$/i.test(cstring(message.body))) committing = 'commit';
        } else if (message.type === 'P' && status === 'I') {
          const name = cstring(message.body);
          if (statements.test(cstring(message.body, Buffer.byteLength(name) + 1))) committing = 'statement';
        }
        // Counted when chosen, not when cut: of concurrent commits on several connections, only `times` are cut.
        if (committing) armed--;
      }
      forward(upstream, chunk, false);
    });
    upstream.on('data', (chunk: Buffer) => {
      for (const message of fromServer.feed(chunk)) {
        if (message.type !== 'Z') continue;
        roundTrips++;
        status = String.fromCharCode(message.body[0]!);
        if (committing) {
          // PostgreSQL is done with the commit; the client never hears of it.
          cuts.push(committing);
          committing = undefined;
          client.destroy();
          upstream.destroy();
          return;
        }
      }
      // While a commit is on its way, its answer is held back (and dropped by the cut).
      if (!committing) forward(client, chunk, true);
      else held.push(chunk);
    });
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
      clients.delete(client);
    };
    clients.set(client, end);
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url(url) {
      const proxied = new URL(url);
      proxied.host = `127.0.0.1:${port}`;
      return proxied.toString();
    },
    arm(times, matching) {
      armed = times;
      statements = matching;
    },
    cuts: () => cuts,
    roundTrips: () => roundTrips,
    blackhole(on, what = 'both') {
      holding = on ? what : undefined;
      if (on) return;
      for (const { to, chunk } of blackholed.splice(0)) if (!to.destroyed) to.write(chunk);
    },
    staleAll() {
      for (const client of clients.keys()) stale.add(client);
    },
    down() {
      isDown = true;
      for (const [client, end] of clients) if (!listeners.has(client)) end();
    },
    up() {
      isDown = false;
    },
    openConnections: () => clients.size,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Four idle connections in `database`'s pool (connections left dead by an earlier step are passed over). */
export async function fillPool(database: { read<T>(run: () => PromiseLike<T>): Promise<T>; knex: { raw(sql: string): PromiseLike<unknown> } }): Promise<void> {
  await Promise.all([1, 2, 3, 4].map(() => database.read(() => database.knex.raw('select pg_sleep(0.05)'))));
}
