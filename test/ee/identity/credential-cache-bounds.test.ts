import { expect } from 'chai';
import { CredentialCache, enterpriseEdition } from '@gatehouse-mcp/engine/ee';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';

describe('EE identity: the credential cache is bounded in entries and bytes', () => {
  let t: TestEngine;
  before(async () => {
    t = await createTestEngine({ plugins: [enterpriseEdition()], connect: false });
  });
  after(() => t?.close());

  it('flooded with 25,000 distinct verified identities of 2 KB it holds at most 10,000 entries and 32 MiB, newest kept', () => {
    const cache = t.engine.resolve(CredentialCache);
    const big = 'x'.repeat(2_048);
    for (let i = 0; i < 25_000; i++) cache.set('flood-tenant', `jwt:flood-tenant:token-${i}`, { agentId: `a-${i}`, label: big });
    const { entries, bytes } = cache.usage;
    expect(entries).to.be.at.most(10_000);
    expect(bytes).to.be.at.most(32 * 1024 * 1024);
    expect(cache.get<{ agentId: string }>('jwt:flood-tenant:token-24999')?.agentId).to.equal('a-24999');
    expect(cache.get('jwt:flood-tenant:token-0')).to.equal(undefined);
  });

  it('an entry whose token has already expired is not stored', () => {
    const cache = t.engine.resolve(CredentialCache);
    cache.set('flood-tenant', 'jwt:flood-tenant:expired', { agentId: 'gone' }, Date.now() - 1);
    expect(cache.get('jwt:flood-tenant:expired')).to.equal(undefined);
  });

  it('an expiry that is no time (NaN) stored an entry with no valid lifetime: it stores nothing; an infinite one is stored as if it had none (the cache lifetime)', () => {
    const cache = t.engine.resolve(CredentialCache);
    cache.set('flood-tenant', 'jwt:flood-tenant:nan', { agentId: 'nan' }, Number.NaN);
    expect(cache.get('jwt:flood-tenant:nan')).to.equal(undefined);
    cache.set('flood-tenant', 'jwt:flood-tenant:infinite', { agentId: 'infinite' }, Number.POSITIVE_INFINITY);
    expect(cache.get<{ agentId: string }>('jwt:flood-tenant:infinite')?.agentId).to.equal('infinite');
  });
});
