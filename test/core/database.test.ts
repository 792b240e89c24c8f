import { expect } from 'chai';
import { TenantRequiredError, openDatabase } from '@gatehouse-mcp/engine';
import { freshDatabase, uniqueTenant } from '@gatehouse-mcp/engine/testing';

describe('database layer', () => {
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  before(async () => {
    db = await freshDatabase();
    await db.knex.schema.createTable('notes', (t) => {
      t.increments('id');
      t.text('tenant').notNullable();
      t.text('body');
    });
  });
  after(() => db.close());

  it('delete() resolves to the number of deleted rows (regression: the embedded database returned a result object)', async () => {
    await db.knex('notes').insert([{ tenant: 'a', body: 'x' }, { tenant: 'a', body: 'y' }]);
    expect(await db.knex('notes').where({ tenant: 'a' }).del()).to.equal(2);
    expect(await db.knex('notes').where({ tenant: 'a' }).del()).to.equal(0);
  });

  it('tenant-scoped access reads, changes and deletes only its own tenant’s rows', async () => {
    const database = await openDatabase({ knex: db.knex });
    const a = database.forTenant(uniqueTenant());
    const b = database.forTenant(uniqueTenant());
    await a.insert('notes', [{ body: 'a1' }, { body: 'a2' }]);
    await b.insert('notes', { body: 'b1' });
    expect(((await a.table('notes')) as { body: string }[]).map((row) => row.body).sort()).to.deep.equal(['a1', 'a2']);
    expect(await b.table('notes').update({ body: 'changed' })).to.equal(1);
    expect(await b.table('notes').del()).to.equal(1);
    expect(await a.table('notes').count<{ count: string | number }[]>('* as count').then((rows) => Number(rows[0]!.count))).to.equal(2);
    let refused: unknown;
    try {
      await a.insert('notes', { tenant: b.tenant, body: 'smuggled' });
    } catch (error) {
      refused = error;
    }
    expect(refused).to.be.instanceOf(TenantRequiredError);
    expect(await b.table('notes').count<{ count: string | number }[]>('* as count').then((rows) => Number(rows[0]!.count))).to.equal(0);
  });

  it('refuses malformed tenant ids', async () => {
    const database = await openDatabase({ knex: db.knex });
    for (const bad of ['', 'UPPER', 'has space', '-leading', 'x'.repeat(64)]) {
      expect(() => database.forTenant(bad)).to.throw(TenantRequiredError);
    }
  });

  it('refuses an invalid schema name before connecting', async () => {
    let error: unknown;
    try {
      await openDatabase({ url: 'postgres://127.0.0.1:1/none', schema: 'bad-name;drop' });
    } catch (caught) {
      error = caught;
    }
    expect(String(error)).to.match(/schema "bad-name;drop" is invalid/);
  });

  it('refuses embedded: true beside a url, before opening anything', async () => {
    let error: unknown;
    try {
      await openDatabase({ embedded: true, url: 'postgres://127.0.0.1:1/none' });
    } catch (caught) {
      error = caught;
    }
    expect(String(error)).to.match(/both a url and embedded: true; give one of them/);
  });
});
