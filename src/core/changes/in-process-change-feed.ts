import type { ChangeFeed, ChangeFeedState, ChangePayload, PublishOptions } from '../ports/change-feed.js';
import type { Logger } from '../log/logger.js';
import { LocalSubscribers, encodeChange } from './local-subscribers.js';

/**
 * The change feed of an engine on the embedded database: that database serves one process, so
 * every change is made here and delivered here. It says so in its state.
 */
export class InProcessChangeFeed implements ChangeFeed {
  private readonly subscribers: LocalSubscribers;
  private current: ChangeFeedState = {
    mode: 'in-process',
    status: 'single-instance',
    since: new Date(),
    detail: 'Embedded database: a single instance, so changes are delivered within this process (LISTEN/NOTIFY is not used).',
  };

  constructor(logger: Logger) {
    this.subscribers = new LocalSubscribers(logger);
  }

  async publish(topic: string, payload: ChangePayload = {}, options: PublishOptions = {}): Promise<void> {
    encodeChange('local', topic, payload);
    if (options.transaction) {
      void options.transaction.executionPromise.then(
        () => this.subscribers.deliver(topic, payload),
        () => undefined,
      );
      return;
    }
    this.subscribers.deliver(topic, payload);
  }

  subscribe(topic: string, onChange: (payload: ChangePayload) => void, onMissed?: () => void): () => void {
    return this.subscribers.add(topic, onChange, onMissed);
  }

  state(): ChangeFeedState {
    return this.current;
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    this.current = { ...this.current, status: 'stopped', since: new Date() };
  }
}
