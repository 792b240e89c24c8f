import type { Knex } from 'knex';

/** What a change says: small, JSON-serialisable facts (ids, tenant), never secrets. */
export type ChangePayload = Readonly<Record<string, string | number | boolean | null>>;

/** How this instance hears about changes made by other instances. */
export interface ChangeFeedState {
  /**
   * `postgres`: LISTEN/NOTIFY on the engine's database, so every instance on that database hears
   * every change. `in-process`: the embedded database serves one instance, so changes are
   * delivered within this process only.
   */
  readonly mode: 'postgres' | 'in-process';
  /**
   * `listening`: changes from other instances arrive as they are made. `lost`: the listening
   * connection is down; caches were cleared and fall back to their time-to-live until it is back.
   * `single-instance`: nothing to listen to (in-process mode). `stopped`: the engine is closing.
   */
  readonly status: 'listening' | 'lost' | 'single-instance' | 'stopped';
  /** When the status last changed. */
  readonly since: Date;
  /** One sentence for people (health output, logs). */
  readonly detail: string;
}

export interface PublishOptions {
  /**
   * Publish as part of this transaction: other instances hear it only if and when it commits
   * (PostgreSQL delivers notifications at commit), and local subscribers after the commit.
   */
  readonly transaction?: Knex.Transaction;
}

/**
 * Cross-instance change notification: one instance says "this changed", every instance of the
 * fleet (this one included) hears it and drops what it cached about it. It carries invalidations
 * and wake-ups, not data: a subscriber that hears a change reads the current state from the
 * database. Delivery is at most once and may be missed while an instance's listening connection
 * is down; every missed stretch is reported to subscribers through `onMissed`, so they clear their
 * caches and rely on time-to-live until the feed is back.
 *
 * Topics are dotted names owned by their publisher (`api-keys.revoked`, `ee.agents.changed`);
 * payloads must stay well under 8000 bytes once serialised (a PostgreSQL NOTIFY limit).
 *
 * Subscribers run synchronously on delivery and must not throw (a throwing subscriber, or an async
 * one whose promise rejects, is logged and skipped). A change published on this instance reaches this instance's subscribers at once
 * (after commit when published in a transaction) and other instances' when their listener hears it.
 */
export interface ChangeFeed {
  /** Tell every instance that `topic` changed. Resolves once handed to the database (or delivered, in-process). */
  publish(topic: string, payload?: ChangePayload, options?: PublishOptions): Promise<void>;
  /**
   * Hear changes of `topic` from every instance. `onMissed` is called when changes may have been
   * lost (the listener dropped, or came back): clear whatever depends on them. Returns the way to
   * stop listening.
   */
  subscribe(topic: string, onChange: (payload: ChangePayload) => void, onMissed?: () => void): () => void;
  /** How this instance hears about changes right now. */
  state(): ChangeFeedState;
}

export const ChangeFeed = Symbol.for('gatehouse.ChangeFeed');
