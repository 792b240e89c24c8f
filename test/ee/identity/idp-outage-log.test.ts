/**
 * The log during an IdP outage: every refused verification wrote its own warning, so an outage
 * under load buried the log. Now one warning when the outage begins (per IdP), at most one summary
 * per `idpFaultLogIntervalMs` with the number of verifications refused meanwhile, and one line when
 * the keys serve again; agents keep getting the same 503 asking them to retry (docs/security.md, "Caches and the
 * revocation delay"). The real OpenID provider is stopped and restarted on its port.
 */
import { expect } from 'chai';
import { startLocalIdp, mcpPost, bearer, idpLinesOf, type LocalIdp, type LocalIdpAgent } from '../support/identity-engine.js';
import type { OidcFixture } from '../support/oidc.js';
import { RecordingLogger } from '../../support/recording-logger.js';

const COOLDOWN_MS = 300;
const INTERVAL_MS = 2_000;
const UNAVAILABLE = 'The identity provider could not be reached to verify the token (its signing keys could not be fetched); try again later.';
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('EE identity: the log during an IdP outage', function () {
  this.timeout(60_000);
  const logger = new RecordingLogger();
  let local: LocalIdp;
  let oidc: OidcFixture;

  before(async () => {
    local = await startLocalIdp('outage-bot', { logger, jwksRefetchCooldownMs: COOLDOWN_MS, jwksFetchTimeoutMs: 1_000, idpFaultLogIntervalMs: INTERVAL_MS });
    ({ oidc } = local);
  });
  after(() => local?.close());

  const tenantTrusting = (idp: { jwksUri?: string }): Promise<LocalIdpAgent> => local.agent({ tenant: 'outage', idp });
  const linesOf = (tenant: string, from = 0) => idpLinesOf(logger, tenant, from);

  async function refusedAsUnavailable(url: string, token: string): Promise<void> {
    const response = await mcpPost(url, bearer(token));
    expect(response.status, JSON.stringify(response.body)).to.equal(503);
    expect(Number(response.retryAfter), 'Retry-After').to.be.at.least(1);
    expect(response.body.error).to.deep.equal({ code: 'unavailable', message: UNAVAILABLE });
    expect(response.challenge).to.equal(null);
  }

  it('a JWKS outage logged one warning per token: it logs its start once, a summary per interval, and its end', async () => {
    const agent = await tenantTrusting({ jwksUri: oidc.jwksUri });
    const { url, tenant } = agent;
    await oidc.stop();
    try {
      const started = Date.now();
      const tokens = await Promise.all(Array.from({ length: 30 }, () => agent.mint()));
      await Promise.all(tokens.map((token) => refusedAsUnavailable(url, token)));
      const flood = linesOf(tenant);
      expect(flood.filter((line) => line.message === 'identity provider keys unavailable'), 'one line for the start').to.have.length(1);
      expect(flood[0]!.level).to.equal('warn');
      expect(flood[0]!.fields).to.include({ issuer: oidc.issuer });
      expect(flood[0]!.fields.reason).to.include(oidc.jwksUri);
      // However slow the machine, no more than one summary per elapsed interval.
      expect(flood.length, 'lines for 30 refusals').to.be.at.most(1 + Math.floor((Date.now() - started) / INTERVAL_MS));

      await pause(INTERVAL_MS + 100);
      for (let i = 0; i < 5; i++) await refusedAsUnavailable(url, await agent.mint());
      const summaries = linesOf(tenant).filter((line) => line.message === 'identity provider keys still unavailable');
      expect(summaries, 'a summary after the interval').to.have.length.at.least(1);
      const last = summaries.at(-1)!;
      expect(last.level).to.equal('warn');
      expect(last.fields.affected).to.be.a('number').and.at.least(1);
      expect(last.fields.reason).to.include(oidc.jwksUri);
      expect(Date.parse(last.fields.since)).to.be.closeTo(started, 5_000);
    } finally {
      await oidc.restart();
    }

    await pause(COOLDOWN_MS + 100);
    const before = logger.lines.length;
    const response = await mcpPost(url, bearer(await agent.token()), 'tools/call');
    expect(response.status, JSON.stringify(response.body)).to.equal(200);
    const recovered = linesOf(tenant, before);
    expect(recovered.map((line) => [line.level, line.message])).to.deep.equal([['info', 'identity provider keys available again']]);
    // Every refused verification is counted once: at the start, in a summary or at the end.
    const all = linesOf(tenant);
    const counted = 1 + all.filter((line) => line.message !== 'identity provider keys unavailable').reduce((sum, line) => sum + line.fields.affected, 0);
    expect(counted, 'refusals accounted for').to.equal(35);
    expect(recovered[0]!.fields.total).to.equal(35);

    // Healthy again: nothing more is logged, and a new outage is announced anew.
    const quiet = logger.lines.length;
    expect((await mcpPost(url, bearer(await agent.mint()))).status).to.equal(200);
    expect(linesOf(tenant, quiet)).to.deep.equal([]);
  });

  it('an unusable published key was logged as a fault that never ended: once the IdP publishes the key usable again, tokens pass and the end is logged once', async () => {
    const { kid, repair } = oidc.keys.damage();
    let repaired = false;
    try {
      // A JWKS URL of its own: the keys fetched for other tenants' IdPs are intact.
      const agent = await tenantTrusting({ jwksUri: `${oidc.jwksUri}?damaged=1` });
      const { url, tenant } = agent;
      const broken = await mcpPost(url, bearer(await agent.token()));
      expect(broken.status, JSON.stringify(broken.body)).to.equal(401);
      expect(broken.body.error_description).to.equal('The identity provider publishes a signing key for this token that cannot be used.');
      const started = linesOf(tenant);
      expect(started.map((line) => [line.level, line.message])).to.deep.equal([['warn', 'identity provider publishes an unusable key']]);
      expect(started[0]!.fields).to.include({ issuer: oidc.issuer });
      expect(started[0]!.fields.reason).to.include(`publishes a key "${kid}" that cannot be used`);

      // Tokens signed with the IdP's other, intact key pass meanwhile; the broken key is not over for that.
      const before = logger.lines.length;
      expect((await mcpPost(url, bearer(await agent.mint({}, { alg: 'RS256' })))).status).to.equal(200);
      await pause(COOLDOWN_MS + 100);
      expect((await mcpPost(url, bearer(await agent.token()))).status).to.equal(401);
      expect(linesOf(tenant, before), 'no end, and no second start, while the key stays broken').to.deep.equal([]);

      repair();
      repaired = true;
      await pause(COOLDOWN_MS + 100);
      const after = logger.lines.length;
      const fixed = await mcpPost(url, bearer(await agent.token()), 'tools/call');
      expect(fixed.status, JSON.stringify(fixed.body)).to.equal(200);
      const ended = linesOf(tenant, after);
      expect(ended.map((line) => [line.level, line.message])).to.deep.equal([['info', 'identity provider publishes usable keys again']]);
      expect(ended[0]!.fields).to.include({ kid, total: 2 });

      // Over once: later tokens log nothing.
      const quiet = logger.lines.length;
      for (let i = 0; i < 3; i++) expect((await mcpPost(url, bearer(await agent.token()))).status).to.equal(200);
      expect(linesOf(tenant, quiet)).to.deep.equal([]);
    } finally {
      if (!repaired) repair();
    }
  });

  it('an unusable key the IdP stops publishing is over too, and is logged so once', async () => {
    const { kid, repair } = oidc.keys.damage();
    let agent: LocalIdpAgent;
    try {
      agent = await tenantTrusting({ jwksUri: `${oidc.jwksUri}?damaged=2` });
      expect((await mcpPost(agent.url, bearer(await agent.token()))).status).to.equal(401);
    } finally {
      repair();
    }
    const { url, tenant } = agent;
    // The IdP moves to a new key and drops the broken one.
    const retired = oidc.keys.retire(kid);
    try {
      await oidc.keys.rotate('ES256');
      await pause(COOLDOWN_MS + 100);
      const before = logger.lines.length;
      expect((await mcpPost(url, bearer(await agent.mint()))).status).to.equal(200);
      expect(linesOf(tenant, before).map((line) => [line.message, line.fields.kid])).to.deep.equal([['identity provider publishes usable keys again', kid]]);
      const quiet = logger.lines.length;
      expect((await mcpPost(url, bearer(await agent.mint()))).status).to.equal(200);
      expect(linesOf(tenant, quiet)).to.deep.equal([]);
    } finally {
      retired();
    }
  });

  it('a fault whose provider was deactivated or deleted was followed for ever, never closed: it is closed with one line saying why', async () => {
    const kept = await tenantTrusting({ jwksUri: `${oidc.jwksUri}?kept=1` });
    const dropped = await tenantTrusting({ jwksUri: `${oidc.jwksUri}?dropped=1` });
    await oidc.stop();
    try {
      await refusedAsUnavailable(kept.url, await kept.mint());
      await refusedAsUnavailable(kept.url, await kept.mint());
      await refusedAsUnavailable(dropped.url, await dropped.mint());
      expect(linesOf(kept.tenant).map((line) => line.message)).to.deep.equal(['identity provider keys unavailable']);
      expect(linesOf(dropped.tenant).map((line) => line.message)).to.deep.equal(['identity provider keys unavailable']);

      const before = logger.lines.length;
      await local.t.idps.deactivate(kept.tenant, kept.idpId);
      for (const agent of await local.t.agents.list(dropped.tenant)) await local.t.agents.delete(dropped.tenant, agent.id);
      expect(await local.t.idps.delete(dropped.tenant, dropped.idpId)).to.equal(true);
      const closed = async (tenant: string) => {
        for (let i = 0; i < 50 && linesOf(tenant, before).length === 0; i++) await pause(20);
        return linesOf(tenant, before);
      };
      const deactivated = await closed(kept.tenant);
      expect(deactivated.map((line) => [line.level, line.message])).to.deep.equal([['info', 'identity provider fault no longer followed: the provider was deactivated']]);
      expect(deactivated[0]!.fields).to.include({ provider: 'deactivated', idpId: kept.idpId, issuer: oidc.issuer, total: 2, affected: 1 });
      expect(deactivated[0]!.fields.lastReason).to.include(oidc.jwksUri);
      const deleted = await closed(dropped.tenant);
      expect(deleted.map((line) => [line.level, line.message])).to.deep.equal([['info', 'identity provider fault no longer followed: the provider was deleted']]);
      expect(deleted[0]!.fields).to.include({ provider: 'deleted', idpId: dropped.idpId, issuer: oidc.issuer, total: 1 });

      // Trusted again while the outage lasts: the fault is new, and announced anew.
      await local.t.idps.setActive(kept.tenant, kept.idpId, true);
      await pause(COOLDOWN_MS + 100);
      const again = logger.lines.length;
      await refusedAsUnavailable(kept.url, await kept.mint());
      expect(linesOf(kept.tenant, again).map((line) => line.message)).to.deep.equal(['identity provider keys unavailable']);
    } finally {
      await oidc.restart();
    }
  });

  it('a discovery outage: the start is logged once for the IdP, however many tokens it refuses, and other IdPs get their own line', async () => {
    const first = await tenantTrusting({});
    const second = await tenantTrusting({});
    await oidc.stop();
    try {
      const before = logger.lines.length;
      for (let i = 0; i < 10; i++) await refusedAsUnavailable(first.url, await first.mint());
      await refusedAsUnavailable(second.url, await second.mint());
      const lines = [...linesOf(first.tenant, before), ...linesOf(second.tenant, before)];
      expect(lines.map((line) => [line.fields.tenant, line.message])).to.deep.equal([
        [first.tenant, 'identity provider keys unavailable'],
        [second.tenant, 'identity provider keys unavailable'],
      ]);
      expect(lines[0]!.fields.reason).to.equal(`OpenID discovery for ${oidc.issuer} failed.`);
    } finally {
      await oidc.restart();
    }
  });
});
