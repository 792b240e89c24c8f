/**
 * The call limits while the database refuses their statements (a lock held on their tables makes
 * every statement on them time out). Calls stay counted conservatively — the budget an instance
 * holds is spent, then calls are refused with 503 — and the operator is told: reading the limits
 * failed silently (the last ones read were used without a word), and the failed leases and reports
 * wrote a line per call or per second, or were told only as one "dependency unavailable" per
 * refused request.
 */
import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import knexFactory, { type Knex } from 'knex';
import { openDatabase } from '@gatehouse-mcp/engine';
import { LimitMeter } from '../../../src/plugins/ee/limits/limit-meter.js';
import { RecordingLogger } from '../../support/recording-logger.js';
import { governanceEngine, toolCall, type GovernanceTestEngine } from './support.js';

const URL_ = process.env.DATABASE_URL;
const STATEMENT_TIMEOUT_MS = 300;
const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A `tools/call` of tickets.read over HTTP: the status a client sees. */
const call = async (t: GovernanceTestEngine, token: string, id: string): Promise<number> => (await toolCall(t, token, 'tickets.read', { id })).status;

describe('EE limits while the database refuses their statements', function () {
  this.timeout(120_000);
  const logger = new RecordingLogger();
  let t: GovernanceTestEngine;
  let admin: Knex;
  let schema: string;
  let close: () => Promise<void>;
  let role: string;

  before(async function () {
    if (!URL_) this.skip();
    schema = `gh_limitlog_${randomBytes(4).toString('hex')}`;
    const db = await openDatabase({ url: URL_!, schema, statementTimeoutMs: STATEMENT_TIMEOUT_MS });
    close = () => db.close();
    admin = knexFactory({ client: 'pg', connection: URL_, searchPath: [schema], pool: { min: 0, max: 2 } });
    // Credentials and grants cached for the whole test: only the limits need their tables.
    t = await governanceEngine({ database: { knex: db.knex }, logger, edition: { credentialCacheTtlMs: 600_000, rbac: { permissionCacheTtlMs: 600_000 } } });
    role = await t.role('reader', ['tickets:read']);
  });
  after(async () => {
    await t?.close().catch(() => undefined);
    await admin?.raw('drop schema if exists ?? cascade', [schema]).catch(() => undefined);
    await close?.().catch(() => undefined);
    await admin?.destroy();
  });

  /** Hold an exclusive lock on `table` until the returned function releases it. */
  async function locked(table: string): Promise<() => Promise<void>> {
    const trx = await admin.transaction();
    await trx.raw('lock table ?? in access exclusive mode', [table]);
    return async () => void (await trx.rollback());
  }

  const lines = (message: string, from = 0) => logger.lines.slice(from).filter((line) => line.message === message);

  it('leases and reports that fail were logged per call and per second: each is logged once per interval, saying what happens to the calls, and the calls stay counted', async () => {
    const agent = await t.agent({ name: 'limited', roleIds: [role] });
    // A limit of 1000 a day leases 20 calls at a time.
    const created = await t.http('POST', '/api/v1/mcp/limits', { token: t.adminKey, body: { scope: 'agent', agentId: agent.id, tool: 'tickets.read', window: 'day', max: 1000 } });
    expect(created.status, created.text).to.equal(201);
    const limitId = created.body.data.id as string;
    expect(await call(t, agent.key, '0')).to.equal(200);

    const from = logger.lines.length;
    const release = await locked('mcp_limit_usage');
    const statuses: number[] = [];
    try {
      for (let i = 1; i <= 25 && !statuses.includes(503); i++) statuses.push(await call(t, agent.key, String(i)));
      // The 19 calls left of the first block go through; the next one cannot be counted, nor can those after it.
      expect(statuses).to.deep.equal([...Array(19).fill(200), 503]);
      for (let i = 0; i < 4; i++) expect(await call(t, agent.key, `more-${i}`)).to.equal(503);
      // The calls made are reported every second, and each report fails meanwhile.
      await pause(3_000);
    } finally {
      await release();
    }

    const refused = lines('could not lease call budget; calls under this limit with no budget left on this instance are refused (503) until the database answers', from);
    expect(refused, 'the refused leases').to.have.length(1);
    expect(refused[0]!.level).to.equal('warn');
    expect(JSON.parse(refused[0]!.json)).to.include({ tenant: t.tenant, limit: limitId });
    expect(lines('request refused: dependency unavailable', from), 'a line per refused call').to.deep.equal([]);
    expect(lines('could not lease call budget in advance; calls spend the budget this instance holds, and the next one asks again', from), 'the leases in advance').to.have.length.at.most(1);
    expect(lines('could not report call counts; they are reported with the next round (the limits themselves are unaffected)', from), 'the reports, one a second').to.have.length(1);

    // The database answers again: the calls are counted, and those made during the outage are reported.
    let back = 0;
    for (let i = 0; i < 10 && back !== 200; i++) back = await call(t, agent.key, 'back');
    expect(back).to.equal(200);
    await t.engine.resolve(LimitMeter).report();
    const [usage] = (await admin('mcp_limit_usage').where({ limit_id: limitId }).sum('used as used')) as { used: string }[];
    expect(Number(usage!.used)).to.equal(21);

    // The repeats counted after the last warning were told only with a next failure, so a failure
    // that stopped never said how often it had repeated: its end is one line with the count.
    const leasedAgain = lines('call budget can be leased again', from);
    expect(leasedAgain.map((line) => line.level)).to.deep.equal(['info']);
    const leaseEnd = JSON.parse(leasedAgain[0]!.json);
    expect(leaseEnd).to.include({ tenant: t.tenant, limit: limitId, repeats: 4 });
    expect(leaseEnd.durationMs, 'failing through the 3 s pause').to.be.at.least(3_000);
    expect(Date.parse(leaseEnd.failingSince)).to.be.closeTo(Date.now() - leaseEnd.durationMs, 10_000);
    const reportedAgain = lines('call counts are reported again', from);
    expect(reportedAgain.map((line) => line.level)).to.deep.equal(['info']);
    expect(JSON.parse(reportedAgain[0]!.json).repeats, 'reports that failed after the first').to.be.at.least(1);
    // Working again is said once, not for every lease or report after.
    for (let i = 0; i < 3; i++) expect(await call(t, agent.key, `after-${i}`)).to.equal(200);
    await t.engine.resolve(LimitMeter).report();
    expect(lines('call budget can be leased again', from)).to.have.length(1);
    expect(lines('call counts are reported again', from)).to.have.length(1);
  });

  it('limits that could not be read were replaced by the last ones read without a word: the failure is logged, and the limits read last stay in force', async () => {
    const agent = await t.agent({ name: 'remembered', roleIds: [role] });
    const other = await t.agent({ name: 'other', roleIds: [role] });
    const limit = await t.http('POST', '/api/v1/mcp/limits', { token: t.adminKey, body: { scope: 'agent', agentId: agent.id, window: 'day', max: 1 } });
    expect(limit.status, limit.text).to.equal(201);
    expect(await call(t, agent.key, '1')).to.equal(200);
    // A change makes this instance read the tenant's limits again on the next call.
    expect((await t.http('POST', '/api/v1/mcp/limits', { token: t.adminKey, body: { scope: 'agent', agentId: other.id, window: 'day', max: 5 } })).status).to.equal(201);

    const from = logger.lines.length;
    const release = await locked('mcp_limits');
    try {
      // The limit of 1 read before still counts: the next call is refused by it, neither run uncounted nor put off.
      expect(await call(t, agent.key, '2')).to.equal(429);
    } finally {
      await release();
    }
    const warned = lines('could not read the call limits; the limits read last stay in force until they can be read again', from);
    expect(warned).to.have.length(1);
    expect(warned[0]!.level).to.equal('warn');
    expect(JSON.parse(warned[0]!.json)).to.include({ tenant: t.tenant, retryInMs: 5_000 });
  });
});
