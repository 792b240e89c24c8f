/**
 * A change subscriber is typed to return nothing, but a plugin may pass an async function. A
 * synchronous throw of a subscriber was logged; a rejection of the promise an async one returned
 * was left unhandled, which crashes a host with Node's default. It is now logged the same way.
 */
import { expect } from 'chai';
import { LocalSubscribers } from '../../src/core/changes/local-subscribers.js';
import { InProcessChangeFeed } from '../../src/core/changes/in-process-change-feed.js';
import { RecordingLogger, type LoggedLine } from '../support/recording-logger.js';

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 10));

describe('change subscribers that are async functions', () => {
  it('a rejection of an async subscriber is logged with its topic, like a throw (it was an unhandled rejection), and the others still hear the change', async () => {
    const lines: LoggedLine[] = [];
    const feed = new InProcessChangeFeed(new RecordingLogger(lines));
    const heard: string[] = [];
    feed.subscribe('plugin.things', async () => {
      await tick();
      throw new Error('the plugin could not refresh its things');
    });
    feed.subscribe('plugin.things', (payload) => void heard.push(String(payload.id)));
    await feed.publish('plugin.things', { id: 'thing-1' });
    await tick();
    await tick();
    expect(heard).to.deep.equal(['thing-1']);
    expect(lines.map((line) => [line.level, line.message, JSON.parse(line.json).topic, JSON.parse(line.json).err.message])).to.deep.equal([
      ['error', 'a change subscriber failed', 'plugin.things', 'the plugin could not refresh its things'],
    ]);
  });

  it('a rejection of an async subscriber told that changes may have been missed is logged too', async () => {
    const lines: LoggedLine[] = [];
    const subscribers = new LocalSubscribers(new RecordingLogger(lines));
    subscribers.add(
      'plugin.things',
      () => undefined,
      async () => {
        throw new Error('the plugin could not reload its things');
      },
    );
    subscribers.missed();
    await tick();
    expect(lines.map((line) => [line.level, line.message, JSON.parse(line.json).topic])).to.deep.equal([['error', 'a change subscriber failed', 'plugin.things']]);
  });
});
