/**
 * After a database restart or failover every pooled connection is dead, but the pool learns so only
 * as each termination arrives. Credential reads made in that window used to fail with 503 ("the
 * admin-key lookup got a pooled connection the database had just terminated"); a read survives it.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import knexFactory, { type Knex } from 'knex';
import { ApiKeyStore, PinoLogger, openDatabase, readAttemptsFor, readSurvivingLostConnection, runMigrations } from '@gatehouse-mcp/engine';

type KnexDatabase = Awaited<ReturnType<typeof openDatabase>>;

const URL_ = process.env.DATABASE_URL;

describe('Database restart: reads made while the pool still holds terminated connections', function () {
  this.timeout(60_000);
  let db: KnexDatabase;
  let admin: Knex;
  let appName: string;
  let schema: string;

  before(async function () {
    if (!URL_) this.skip();
    appName = `gh_restart_${randomBytes(4).toString('hex')}`;
    schema = `gh_restart_${randomBytes(4).toString('hex')}`;
    const separator = URL_!.includes('?') ? '&' : '?';
    db = await openDatabase({ url: `${URL_}${separator}application_name=${appName}`, schema, pool: { min: 0, max: 3 } });
    await runMigrations(db.knex, [{ id: 'core', directory: fileURLToPath(new URL('../../migrations/', import.meta.url)) }]);
    admin = knexFactory({ client: 'pg', connection: URL_ });
  });
  after(async () => {
    await db?.close().catch(() => undefined);
    await admin?.raw('drop schema if exists ?? cascade', [schema]).catch(() => undefined);
    await admin?.destroy();
  });

  /** Fill the pool with idle connections, then terminate them all on the server. */
  async function restartUnderThePool(): Promise<void> {
    await Promise.all([1, 2, 3].map(() => db.knex.raw('select pg_sleep(0.05)')));
    const { rows } = await admin.raw('select pg_terminate_backend(pid) as done from pg_stat_activity where application_name = ?', [appName]);
    expect(rows.length, 'pooled connections to terminate').to.be.at.least(1);
  }

  it('an API key check right after every pooled connection was terminated answers valid, not an error', async () => {
    const keys = new ApiKeyStore(db);
    const { secret } = await keys.create({ tenant: 'default', name: 'restart' });
    for (let round = 0; round < 5; round++) {
      await restartUnderThePool();
      const check = await keys.check(secret);
      expect(check.status, `round ${round}`).to.equal('valid');
    }
  });

  it('a pool of ten: a key check right after all ten pooled connections were terminated answers valid', async () => {
    const big = await openDatabase({ url: `${URL_}${URL_!.includes('?') ? '&' : '?'}application_name=${appName}_big`, schema, pool: { min: 0, max: 10 } });
    try {
      const keys = new ApiKeyStore(big);
      const { secret } = await keys.create({ tenant: 'default', name: 'restart, big pool' });
      const pool = big.knex.client as { acquireConnection(): Promise<{ query(text: string): Promise<unknown> }>; releaseConnection(connection: unknown): Promise<unknown> };
      for (let round = 0; round < 5; round++) {
        // Ten connections held at once, each used, then back in the pool (queries that merely overlap
        // let a slow machine serve the last of them on a connection another one has given back).
        const held = await Promise.all(Array.from({ length: 10 }, () => pool.acquireConnection()));
        await Promise.all(held.map((connection) => connection.query('select 1')));
        await Promise.all(held.map((connection) => pool.releaseConnection(connection)));
        const { rows } = await admin.raw('select pg_terminate_backend(pid) as done from pg_stat_activity where application_name = ?', [`${appName}_big`]);
        expect(rows.length, 'pooled connections to terminate').to.equal(10);
        const check = await keys.check(secret);
        expect(check.status, `round ${round}`).to.equal('valid');
      }
    } finally {
      await big.close().catch(() => undefined);
    }
  });

  it('the database driver’s “Connection Error” lines about terminated connections go to the engine’s logger as JSON, not to the console', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = new PinoLogger('warn', { write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const name = `${appName}_log`;
    const logged = await openDatabase({ url: `${URL_}${URL_!.includes('?') ? '&' : '?'}application_name=${name}`, schema, pool: { min: 0, max: 3 } }, { logger });
    const consoleLines: string[] = [];
    const original = console.warn;
    console.warn = (...args: unknown[]) => void consoleLines.push(args.map(String).join(' '));
    try {
      await Promise.all([1, 2, 3].map(() => logged.knex.raw('select pg_sleep(0.05)')));
      await admin.raw('select pg_terminate_backend(pid) from pg_stat_activity where application_name = ?', [name]);
      await readSurvivingLostConnection(() => logged.knex.raw('select 1'), readAttemptsFor(logged.knex));
    } finally {
      console.warn = original;
      await logged.close().catch(() => undefined);
    }
    const fromDriver = lines.filter((line) => line.component === 'database');
    expect(fromDriver.length, 'structured lines from the driver').to.be.at.least(1);
    expect(String(fromDriver[0]!.msg)).to.match(/^Connection Error: /);
    expect(consoleLines.filter((line) => line.includes('Connection Error')), 'console lines').to.deep.equal([]);
  });

  it('a lost connection is read again (at most three attempts), never any other error', async () => {
    let attempts = 0;
    const lost = Object.assign(new Error('Connection terminated unexpectedly'), {});
    expect(await readSurvivingLostConnection(async () => (++attempts === 1 ? Promise.reject(lost) : 'read'))).to.equal('read');
    expect(attempts).to.equal(2);

    attempts = 0;
    const syntax = Object.assign(new Error('syntax error'), { code: '42601' });
    await readSurvivingLostConnection(async () => {
      attempts++;
      throw syntax;
    }).then(
      () => expect.fail('a syntax error must not be retried'),
      (error: unknown) => expect(error).to.equal(syntax),
    );
    expect(attempts).to.equal(1);

    attempts = 0;
    await readSurvivingLostConnection(async () => {
      attempts++;
      throw lost;
    }).then(
      () => expect.fail('a database that stays unreachable fails the read'),
      (error: unknown) => expect(error).to.equal(lost),
    );
    expect(attempts).to.equal(3);
  });

  it('a pool full of dying connections cannot exhaust a read: it gets one attempt more than the pool holds', async () => {
    expect(readAttemptsFor(db.knex), 'a pool of three').to.equal(4);
    let attempts = 0;
    const lost = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });
    // Each of the three pooled connections fails in turn; the fourth attempt opens a new one.
    const answer = await readSurvivingLostConnection(async () => (++attempts <= 3 ? Promise.reject(lost) : 'read'), readAttemptsFor(db.knex));
    expect(answer).to.equal('read');
    expect(attempts).to.equal(4);
  });
});
