import type { ChangePayload } from '../ports/change-feed.js';
import { safeLog, type Logger } from '../log/logger.js';

interface Subscriber {
  readonly onChange: (payload: ChangePayload) => void;
  readonly onMissed: (() => void) | undefined;
}

/**
 * The subscribers of one instance, by topic. A throwing subscriber is logged, never fatal; so is a
 * subscriber that is an async function whose promise rejects (typed to return nothing, a plugin may
 * still pass one).
 */
export class LocalSubscribers {
  private readonly byTopic = new Map<string, Set<Subscriber>>();

  constructor(private readonly logger: Logger) {}

  add(topic: string, onChange: (payload: ChangePayload) => void, onMissed?: () => void): () => void {
    const subscriber: Subscriber = { onChange, onMissed };
    let set = this.byTopic.get(topic);
    if (!set) this.byTopic.set(topic, (set = new Set()));
    set.add(subscriber);
    return () => {
      set.delete(subscriber);
      if (set.size === 0 && this.byTopic.get(topic) === set) this.byTopic.delete(topic);
    };
  }

  deliver(topic: string, payload: ChangePayload): void {
    const set = this.byTopic.get(topic);
    if (!set) return;
    for (const subscriber of [...set]) this.run(topic, () => subscriber.onChange(payload));
  }

  /** Tell every subscriber that changes may have been missed. */
  missed(): void {
    for (const [topic, set] of this.byTopic) {
      for (const subscriber of [...set]) if (subscriber.onMissed) this.run(topic, subscriber.onMissed);
    }
  }

  /** Run one subscriber: what it throws, or what the promise it returns rejects with, is logged. */
  private run(topic: string, subscriber: () => unknown): void {
    const failed = (error: unknown): void => safeLog(this.logger, 'error', { err: error, topic }, 'a change subscriber failed');
    try {
      const returned = subscriber();
      if (typeof (returned as PromiseLike<unknown> | null)?.then === 'function') Promise.resolve(returned).catch(failed);
    } catch (error) {
      failed(error);
    }
  }
}

/** Reject payloads PostgreSQL could not carry and values that are not plain JSON scalars. */
export function encodeChange(instance: string, topic: string, payload: ChangePayload): string {
  if (!/^[a-z0-9][a-z0-9._-]{0,99}$/.test(topic)) throw new TypeError(`Change topic "${topic}" must be a lowercase dotted name.`);
  const text = JSON.stringify({ i: instance, t: topic, p: payload });
  if (Buffer.byteLength(text) > 7900) throw new RangeError(`The change payload of "${topic}" is too large to publish (over 7900 bytes).`);
  return text;
}
