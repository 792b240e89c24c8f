import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import { ApiKeyStore, Database, SessionStore } from '@gatehouse-mcp/engine';
import { communityEdition } from '@gatehouse-mcp/engine/oss';
import { createTestEngine, type TestEngine } from '@gatehouse-mcp/engine/testing';

/** More ids than one PostgreSQL statement takes parameters (65,535). */
const MANY = 70_000;

describe('batched activity writes with more ids than a statement takes parameters', function () {
  this.timeout(120_000);
  let t: TestEngine;
  afterEach(async () => {
    await t?.close();
  });

  it('records the activity of 70,000 sessions used in one interval (the write failed, and the sessions aged towards their idle timeout)', async () => {
    t = await createTestEngine({ plugins: [communityEdition()], connect: false, sessions: { idleTimeoutMs: 600_000 } });
    const knex = t.engine.resolve<Database>(Database).knex;
    const prefix = `many-${randomUUID()}-`;
    const old = new Date(Date.now() - 60_000);
    await knex.raw(
      `insert into mcp_sessions (id, tenant, owner, protocol_version, last_seen_at) select ? || n, ?, 'nobody', '2025-06-18', ? from generate_series(1, ?) as n`,
      [prefix, t.tenant, old, MANY],
    );
    const store = t.engine.resolve(SessionStore) as unknown as { touch(id: string): void; flushTouches(): Promise<void> };
    for (let n = 1; n <= MANY; n++) store.touch(`${prefix}${n}`);
    await store.flushTouches();
    const { rows } = (await knex.raw('select count(*)::int as n from mcp_sessions where tenant = ? and last_seen_at > ?', [t.tenant, old])) as { rows: { n: number }[] };
    expect(rows[0]!.n).to.equal(MANY);
    await knex('mcp_sessions').where({ tenant: t.tenant }).delete();
  });

  it('records the last use of a key among 70,000 keys used in one interval', async () => {
    t = await createTestEngine({ plugins: [communityEdition()], connect: false });
    const key = await t.createKey();
    const at = new Date();
    const ids = [...Array.from({ length: MANY - 1 }, () => randomUUID()), key.id];
    await t.engine.resolve(ApiKeyStore).touch(ids, at);
    const row = (await t.engine.resolve<Database>(Database).knex('api_keys').where({ id: key.id }).first('last_used_at')) as { last_used_at: Date };
    expect(row.last_used_at.getTime()).to.equal(at.getTime());
  });
});
