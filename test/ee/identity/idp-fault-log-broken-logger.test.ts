/**
 * The IdP fault log writes through the host's logger while a token is being checked. A host logger
 * that throws (its transport is down) made that throw escape into the token's check: the agent got
 * a 500 instead of the 503 of an IdP that is down, and, once the IdP was back, the line saying so
 * failed the first good token too. Logging is best effort: the answer is the same whatever the logger does.
 */
import { expect } from 'chai';
import type { Logger } from '@gatehouse-mcp/engine';
import { startLocalIdp, mcpPost, bearer, type LocalIdp } from '../support/identity-engine.js';

const COOLDOWN_MS = 2_000;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Writes nothing; once `broken`, every line throws (the engine starts with it working). */
let broken = false;
const line = (): void => {
  if (broken) throw new Error('the log transport is down');
};
const brokenLogger: Logger = { debug: line, info: line, warn: line, error: line, child: () => brokenLogger };

describe('EE identity: an IdP fault while the host logger throws', function () {
  this.timeout(60_000);
  let local: LocalIdp;

  before(async () => {
    local = await startLocalIdp('broken-log-bot', { logger: brokenLogger, jwksRefetchCooldownMs: COOLDOWN_MS, jwksFetchTimeoutMs: 1_000 });
  });
  after(() => {
    broken = false;
    return local?.close();
  });

  it('a token checked while the IdP is down was answered 500 when the fault line could not be logged: it gets 503, and passes once the IdP is back', async () => {
    const agent = await local.agent({ tenant: 'brokenlog', idp: { jwksUri: local.oidc.jwksUri } });
    const token = await agent.token();
    broken = true;
    await local.oidc.stop();
    try {
      const down = await mcpPost(agent.url, bearer(token), 'tools/call');
      expect(down.status, JSON.stringify(down.body)).to.equal(503);
      expect(down.retryAfter).to.match(/^\d+$/);
    } finally {
      await local.oidc.restart();
    }
    await pause(COOLDOWN_MS + 100);
    const back = await mcpPost(agent.url, bearer(token), 'tools/call');
    expect(back.status, JSON.stringify(back.body)).to.equal(200);
    expect(JSON.parse(back.body.result.content[0].text)).to.include({ tenant: agent.tenant, kind: 'agent' });
  });
});
