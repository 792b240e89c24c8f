/**
 * Two requests that read a session at once (a client opening its standalone stream while another
 * request of the same session is served) each cached a session object of their own. The stream was
 * attached to one object while the session was kept under the other, so the session never showed
 * as streaming, and ending the session left its stream open.
 */
import { expect } from 'chai';
import { SessionStore, definePlugin } from '@gatehouse-mcp/engine';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';
import { recordingGovernance } from './support.js';

describe('protocol: a standalone stream opened while the session is read concurrently', function () {
  const governance = recordingGovernance();
  let t: TestEngine;

  before(async () => {
    t = await createTestEngine({ plugins: [governance.edition, definePlugin({ id: 'none' })], tenant: governance.tenant, connect: false, sessions: true });
  });
  after(() => t?.close());

  it('the session read by another request meanwhile still shows the stream, and ending the session ends the stream', async () => {
    const store = t.engine.resolve(SessionStore);
    const created = await store.create(governance.reader, {}, '2025-06-18');
    // Another instance changed the session: this one drops its cached copy and reads it again.
    await store.update(created, { logLevel: 'debug' });
    const [opening, other] = await Promise.all([store.get(created.id, governance.reader), store.get(created.id, governance.reader)]);
    expect(opening, 'two reads at once, two objects').to.not.equal(other);
    let closed = false;
    let closeListener: (() => void) | undefined;
    const stream = {
      send: () => undefined,
      sendEvent: () => undefined,
      close: () => {
        closed = true;
        closeListener?.();
      },
      onClose: (listener: () => void) => void (closeListener = listener),
    };
    await store.openStream(opening!, stream);
    expect((await store.get(created.id, governance.reader))?.stream).to.equal(stream);
    // The client ends its session (DELETE) through the other request's copy: its open stream ends too.
    await store.delete(other!);
    expect(closed, 'the stream of the ended session was closed').to.equal(true);
  });
});
