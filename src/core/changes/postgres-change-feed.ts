import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Knex } from 'knex';
import type { ChangeFeed, ChangeFeedState, ChangePayload, PublishOptions } from '../ports/change-feed.js';
import { safeLog, type Logger } from '../log/logger.js';
import { LocalSubscribers, encodeChange } from './local-subscribers.js';
import { CONNECT_TIMEOUT_MS } from '../db/open-database.js';

export interface PostgresChangeFeedOptions {
  /** The engine's database (publishing goes through its pool). */
  readonly knex: Knex;
  /**
   * Where the listening connection goes: the same server and database, over a session-mode
   * connection (LISTEN does not survive a transaction-mode pooler).
   */
  readonly listenConnection: string | pg.ClientConfig;
  readonly logger: Logger;
  /** This engine instance, so it does not hear its own changes twice. */
  readonly instanceId: string;
  /** How often the listening connection is checked for life. Default 5 s. */
  readonly checkIntervalMs?: number;
}

const RECONNECT_MIN_MS = 100;
const RECONNECT_MAX_MS = 5_000;

/**
 * The notification channel: one per schema, so engines sharing a database under different schemas
 * (tests, side-by-side installs) do not hear each other.
 */
export async function changeChannel(knex: Knex): Promise<string> {
  const result = (await knex.raw('select current_schema() as schema')) as { rows: { schema: string | null }[] };
  const schema = result.rows[0]?.schema ?? 'public';
  const name = schema === 'public' ? 'gatehouse_changes' : `gatehouse_changes_${schema}`;
  return name.length <= 63 && /^[a-z0-9_]+$/.test(name) ? name : `gatehouse_changes_${createHash('sha256').update(schema).digest('hex').slice(0, 24)}`;
}

/**
 * The change feed of a fleet on one PostgreSQL: `pg_notify` to publish, one dedicated `LISTEN`
 * connection per instance to hear. When that connection is lost, subscribers are told that
 * changes may have been missed (they clear their caches and rely on time-to-live), and the feed
 * reconnects with backoff; when it is back, subscribers are told once more (changes made in
 * between were not heard).
 */
export class PostgresChangeFeed implements ChangeFeed {
  private readonly subscribers: LocalSubscribers;
  private channel: Promise<string> | undefined;
  private client: pg.Client | undefined;
  private stopped = false;
  private everListened = false;
  /** Publications not yet handed to the database; stopping waits for them. */
  private readonly sending = new Set<Promise<void>>();
  private reconnectDelay = RECONNECT_MIN_MS;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  /** A check's `select 1` is on its way: the next one waits for its answer (or for the connection to be given up). */
  private checking = false;
  private current: ChangeFeedState = { mode: 'postgres', status: 'lost', since: new Date(), detail: 'Not listening yet.' };

  constructor(private readonly options: PostgresChangeFeedOptions) {
    this.subscribers = new LocalSubscribers(options.logger);
  }

  private channelName(): Promise<string> {
    this.channel ??= changeChannel(this.options.knex).catch((error: unknown) => {
      this.channel = undefined;
      throw error;
    });
    return this.channel;
  }

  async publish(topic: string, payload: ChangePayload = {}, options: PublishOptions = {}): Promise<void> {
    const text = encodeChange(this.options.instanceId, topic, payload);
    // This instance hears a change made outside a transaction at once, before the round trip that
    // tells the others: the caller's next request must not find what it just changed in a cache.
    if (!options.transaction) this.subscribers.deliver(topic, payload);
    const sending = this.send(text, topic, payload, options);
    this.sending.add(sending);
    try {
      await sending;
    } finally {
      this.sending.delete(sending);
    }
  }

  private async send(text: string, topic: string, payload: ChangePayload, options: PublishOptions): Promise<void> {
    const channel = await this.channelName();
    const trx = options.transaction;
    await (trx ?? this.options.knex).raw('select pg_notify(?, ?)', [channel, text]);
    // Inside a transaction this instance hears the change once it is committed.
    if (trx) {
      void trx.executionPromise.then(
        () => this.subscribers.deliver(topic, payload),
        () => undefined,
      );
    }
  }

  subscribe(topic: string, onChange: (payload: ChangePayload) => void, onMissed?: () => void): () => void {
    return this.subscribers.add(topic, onChange, onMissed);
  }

  state(): ChangeFeedState {
    return this.current;
  }

  /** Start listening. A listener that cannot connect yet does not stop the engine: it retries. */
  async start(): Promise<void> {
    this.stopped = false;
    try {
      await this.connect();
    } catch (error) {
      this.markLost(error);
    }
    const every = this.options.checkIntervalMs ?? 5_000;
    this.checkTimer = setInterval(() => void this.check(), every);
    this.checkTimer.unref();
  }

  async stop(): Promise<void> {
    await Promise.allSettled([...this.sending]);
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.checkTimer) clearInterval(this.checkTimer);
    const client = this.client;
    this.client = undefined;
    this.setState('stopped', 'The engine is stopping.');
    if (client) await client.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    const channel = await this.channelName();
    const settings = this.options.listenConnection;
    const applicationName = `gatehouse-listen-${this.options.instanceId.slice(0, 8)}`;
    const config: pg.ClientConfig =
      typeof settings === 'string' ? { connectionString: settings, application_name: applicationName } : { application_name: applicationName, ...settings };
    // A server that accepts the connection and never answers does not hold up reconnecting for good.
    const client = new pg.Client({ connectionTimeoutMillis: CONNECT_TIMEOUT_MS, ...config, keepAlive: true });
    client.on('error', (error) => this.onLost(client, error));
    client.on('end', () => this.onLost(client, undefined));
    client.on('notification', (message) => this.receive(message));
    try {
      await client.connect();
      await client.query(`listen "${channel}"`);
    } catch (error) {
      client.removeAllListeners('end');
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.stopped) {
      await client.end().catch(() => undefined);
      return;
    }
    // Heard nothing while away: changes made meanwhile may be missing from every cache.
    const wasLost = this.everListened;
    this.client = client;
    this.everListened = true;
    this.reconnectDelay = RECONNECT_MIN_MS;
    this.setState('listening', 'Listening for changes from other instances (PostgreSQL LISTEN/NOTIFY).');
    if (wasLost) {
      safeLog(this.options.logger, 'info', { channel }, 'change feed listening again; caches cleared for changes made meanwhile');
      this.subscribers.missed();
    }
  }

  private receive(message: pg.Notification): void {
    if (!message.payload) return;
    let parsed: { i?: unknown; t?: unknown; p?: unknown };
    try {
      parsed = JSON.parse(message.payload) as typeof parsed;
    } catch {
      return;
    }
    if (parsed.i === this.options.instanceId || typeof parsed.t !== 'string') return;
    const payload = typeof parsed.p === 'object' && parsed.p !== null ? (parsed.p as ChangePayload) : {};
    this.subscribers.deliver(parsed.t, payload);
  }

  /**
   * A connection that stops answering is as lost as one that closed. One check at a time: a tick
   * that comes while the last check's `select 1` is unanswered (a connection that went silent, a
   * check interval below the answer's bound) sends nothing, as a query sent on a client that is
   * still running one is refused from pg 9 on.
   */
  private async check(): Promise<void> {
    const client = this.client;
    if (!client || this.stopped || this.checking) return;
    this.checking = true;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.query('select 1'),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('The listening connection did not answer within 5 s.')), 5_000))),
      ]);
    } catch (error) {
      this.onLost(client, error);
    } finally {
      if (timer) clearTimeout(timer);
      this.checking = false;
    }
  }

  private onLost(client: pg.Client, error: unknown): void {
    if (client !== this.client || this.stopped) return;
    this.client = undefined;
    client.removeAllListeners('notification');
    void client.end().catch(() => undefined);
    this.markLost(error);
  }

  private markLost(error: unknown): void {
    if (this.stopped) return;
    const wasListening = this.current.status === 'listening';
    this.setState('lost', 'The listening connection is down: caches were cleared and changes from other instances take effect within the cache time-to-live until it is back.');
    if (wasListening) {
      safeLog(this.options.logger, 'warn', { err: error }, 'change feed lost its listening connection; caches cleared, falling back to their time-to-live until it reconnects');
      this.subscribers.missed();
    } else {
      safeLog(this.options.logger, 'warn', { err: error }, 'change feed cannot listen yet; retrying');
    }
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.connect().catch((error: unknown) => this.markLost(error));
    }, delay);
    this.reconnectTimer.unref();
  }

  private setState(status: ChangeFeedState['status'], detail: string): void {
    if (this.current.status === status && this.current.detail === detail) return;
    this.current = { mode: 'postgres', status, since: this.current.status === status ? this.current.since : new Date(), detail };
  }
}
