import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { AuditSink, type AuditEvent } from '@gatehouse-mcp/engine';
import { AuditCheckpointer, AuditVerifier, keyRing, verifyExport, type ChainVerification } from '@gatehouse-mcp/engine/ee';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { parseCheckpointLines } from '../../../src/plugins/ee/audit/audit-verifier.js';
import { anotherAuditSink, governanceEngine, type GovernanceTestEngine } from './support.js';

const ROWS = 8;

function event(tenant: string, i: number): AuditEvent {
  return {
    time: new Date(Date.now() - (ROWS - i) * 1000),
    tenant,
    principal: undefined,
    action: 'tools/call',
    target: `tickets.read`,
    decision: 'allowed',
    reason: undefined,
    outcome: 'success',
    arguments: { id: `T-${i}`, note: 'ünïcödé "quoted"', nested: { b: 1, a: [1.5, null, true] } },
    latencyMs: 1.25 + i,
    requestId: `req-${i}`,
    clientAddress: '127.0.0.1',
    details: { tool: 'tickets.read', zeta: 'last', alpha: 'first' },
  };
}

describe('EE audit chain', function () {
  this.timeout(60_000);
  let t: GovernanceTestEngine;
  let signing: { privateKey: KeyObject; publicKey: KeyObject };
  let published: string;
  const other = generateKeyPairSync('ed25519');

  before(async () => {
    signing = generateKeyPairSync('ed25519');
    published = path.join(mkdtempSync(path.join(tmpdir(), 'audit-chain-')), 'checkpoints.jsonl');
    t = await governanceEngine({ edition: { audit: { checkpoints: { signingKey: signing.privateKey, file: published, intervalMs: 3_600_000 } } } });
  });
  after(async () => {
    await t?.close();
  });

  /** A fresh tenant whose chain holds ROWS events written by the sink and a checkpoint at the head. */
  async function chainedTenant(): Promise<string> {
    const tenant = uniqueTenant('chain');
    const sink = t.engine.resolve<AuditSink>(AuditSink);
    for (let i = 1; i <= ROWS; i++) sink.record(event(tenant, i));
    await sink.flush();
    await t.engine.resolve(AuditCheckpointer).checkpoint();
    return tenant;
  }

  const verifyDb = (tenant: string, keys?: ReadonlyMap<string, KeyObject>): Promise<ChainVerification> =>
    t.engine.resolve(AuditVerifier).verify(tenant, keys ? { keys } : {});

  async function exportOf(tenant: string): Promise<string> {
    const admin = await t.adminOf(tenant);
    const response = await t.http('GET', '/api/v1/mcp/audit/export?format=jsonl', { token: admin });
    expect(response.status).to.equal(200);
    return response.text;
  }

  async function verifyBoth(tenant: string, keys = keyRing([signing.publicKey])): Promise<[ChainVerification, ChainVerification]> {
    const db = await verifyDb(tenant, keys);
    const [file] = await verifyExport(await exportOf(tenant), keys);
    return [db, file!];
  }

  const seqRow = async (tenant: string, seq: number): Promise<Record<string, any>> => t.knex('mcp_agent_audit').where({ tenant, seq }).first();

  it('verifies an untouched chain, in the database and from an export, with its signed checkpoint', async () => {
    const tenant = await chainedTenant();
    const [db, file] = await verifyBoth(tenant);
    for (const result of [db, file]) {
      expect(result.ok, JSON.stringify(result.break)).to.equal(true);
      expect(result).to.include({ rows: ROWS, firstSeq: 1, lastSeq: ROWS, checkpoints: 1, anchored: true });
      expect(result.lastCheckpoint?.seq).to.equal(ROWS);
    }
    const rows = await t.knex('mcp_agent_audit').where({ tenant }).orderBy('seq');
    expect(rows.map((r) => Number(r.seq))).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(rows[0].prev_hash).to.equal('0'.repeat(64));
    expect(new Set(rows.map((r) => r.event_id)).size).to.equal(ROWS);
    // The checkpoint went outward too.
    const outward = parseCheckpointLines(readFileSync(published, 'utf8')).filter((c) => c.tenant === tenant);
    expect(outward).to.have.length(1);
    expect(outward[0]).to.include({ seq: ROWS, index: 1 });
  });

  const COLUMNS: [string, unknown][] = [
    ['event_id', '00000000-0000-4000-8000-000000000000'],
    ['occurred_at', 'shifted'],
    ['principal_kind', 'agent'],
    ['principal_id', 'someone-else'],
    ['principal_label', 'Mallory'],
    ['agent_id', '22222222-2222-4222-8222-222222222222'],
    ['key_id', '33333333-3333-4333-8333-333333333333'],
    ['issuer', 'https://evil.example'],
    ['subject', 'mallory'],
    ['action', 'tools/list'],
    ['target', 'billing.charge'],
    ['decision', 'denied'],
    ['reason', 'nothing to see'],
    ['outcome', 'failed'],
    ['arguments_digest', 'f'.repeat(64)],
    ['arguments', JSON.stringify({ id: 'T-999' })],
    ['latency_ms', 99],
    ['request_id', 'req-forged'],
    ['client_address', '10.0.0.66'],
    ['details', JSON.stringify({ tool: 'other' })],
    ['prev_hash', 'a'.repeat(64)],
    ['hash', 'b'.repeat(64)],
  ];

  for (const [column, value] of COLUMNS) {
    it(`detects an UPDATE of ${column} as a changed row`, async () => {
      const tenant = await chainedTenant();
      const target = await seqRow(tenant, 4);
      const changed = value === 'shifted' ? new Date(new Date(target.occurred_at).getTime() + 1) : value;
      await t.knex('mcp_agent_audit').where({ tenant, seq: 4 }).update({ [column]: changed });
      const results = await verifyBoth(tenant);
      for (const result of results) {
        expect(result.ok).to.equal(false);
        expect(result.break, JSON.stringify(result.break)).to.include({ reason: 'changed-row', seq: 4 });
      }
      expect(results[0].break!.locator).to.equal(`id ${target.id}`);
    });
  }

  it('detects an UPDATE of seq as a changed row (the row now claims another place)', async () => {
    const tenant = await chainedTenant();
    await t.knex('mcp_agent_audit').where({ tenant, seq: 4 }).update({ seq: 100 });
    for (const result of await verifyBoth(tenant)) expect(result.break, JSON.stringify(result.break)).to.include({ reason: 'changed-row', seq: 4 });
  });

  it('detects an UPDATE of tenant as rows missing from the tenant', async () => {
    const tenant = await chainedTenant();
    await t.knex('mcp_agent_audit').where({ tenant, seq: 4 }).update({ tenant: uniqueTenant('elsewhere') });
    for (const result of await verifyBoth(tenant)) expect(result.break, JSON.stringify(result.break)).to.include({ reason: 'missing-rows', seq: 4 });
  });

  it('detects a DELETE of one row as missing rows', async () => {
    const tenant = await chainedTenant();
    await t.knex('mcp_agent_audit').where({ tenant, seq: 5 }).delete();
    for (const result of await verifyBoth(tenant)) {
      expect(result.break, JSON.stringify(result.break)).to.include({ reason: 'missing-rows', seq: 5 });
      expect(result.break!.message).to.match(/1 row\(s\) missing/);
    }
  });

  it('detects a DELETE of the tail (covered by a checkpoint) as missing rows', async () => {
    const tenant = await chainedTenant();
    await t.knex('mcp_agent_audit').where({ tenant }).andWhere('seq', '>', 6).delete();
    for (const result of await verifyBoth(tenant)) {
      expect(result.break, JSON.stringify(result.break)).to.include({ reason: 'missing-rows', seq: 7 });
      expect(result.break!.message).to.match(/tail was deleted/);
    }
  });

  it('detects a DELETE of the head of the chain as missing rows', async () => {
    const tenant = await chainedTenant();
    await t.knex('mcp_agent_audit').where({ tenant }).andWhere('seq', '<', 3).delete();
    for (const result of await verifyBoth(tenant)) expect(result.break, JSON.stringify(result.break)).to.include({ reason: 'missing-rows', seq: 1 });
  });

  it('detects an INSERTed row, even one whose own hash is consistent, as an inserted row', async () => {
    const tenant = await chainedTenant();
    const { id: _id, ...copy } = await seqRow(tenant, 3);
    const { chainHash, contentOfRow } = await import('../../../src/plugins/ee/audit/audit-chain.js');
    const forged: Record<string, any> = { ...copy, event_id: '44444444-4444-4444-8444-444444444444', request_id: 'req-forged', seq: 4, prev_hash: copy.hash };
    forged.hash = chainHash(forged.prev_hash, contentOfRow(forged));
    await t.knex('mcp_agent_audit').insert({ ...forged, arguments: JSON.stringify(forged.arguments), details: JSON.stringify(forged.details) });
    for (const result of await verifyBoth(tenant)) expect(result.break, JSON.stringify(result.break)).to.include({ reason: 'inserted-row', seq: 4 });
  });

  it('detects two swapped rows as reordered', async () => {
    const tenant = await chainedTenant();
    await t.knex.raw(`update mcp_agent_audit set seq = case seq when 3 then 4 else 3 end where tenant = ? and seq in (3, 4)`, [tenant]);
    for (const result of await verifyBoth(tenant)) expect(result.break, JSON.stringify(result.break)).to.include({ reason: 'reordered', seq: 3 });
  });

  it('detects a forged checkpoint as a bad signature', async () => {
    const tenant = await chainedTenant();
    const row = await seqRow(tenant, 2);
    const real = await t.knex('mcp_audit_checkpoints').where({ tenant }).first();
    await t.knex('mcp_audit_checkpoints').insert({ ...real, index: 2, seq: 2, hash: row.hash, signature: Buffer.alloc(64, 7).toString('base64url') });
    for (const result of await verifyBoth(tenant)) expect(result.break, JSON.stringify(result.break)).to.include({ reason: 'bad-signature', seq: 2 });
  });

  it('detects a checkpoint whose signed content was changed as a bad signature', async () => {
    const tenant = await chainedTenant();
    await t.knex('mcp_audit_checkpoints').where({ tenant }).update({ seq: 6, hash: (await seqRow(tenant, 6)).hash });
    for (const result of await verifyBoth(tenant)) expect(result.break, JSON.stringify(result.break)).to.include({ reason: 'bad-signature', seq: 6 });
  });

  it('refuses checkpoints checked with the wrong key as a bad signature', async () => {
    const tenant = await chainedTenant();
    for (const result of await verifyBoth(tenant, keyRing([other.publicKey]))) {
      expect(result.break, JSON.stringify(result.break)).to.include({ reason: 'bad-signature', seq: ROWS });
      expect(result.break!.message).to.match(/not among the public keys given/);
    }
  });

  it('detects a deleted checkpoint as a missing checkpoint, and one deleted at the end against the published file', async () => {
    const tenant = await chainedTenant();
    const sink = t.engine.resolve<AuditSink>(AuditSink);
    for (let round = 0; round < 2; round++) {
      sink.record(event(tenant, 100 + round));
      await sink.flush();
      await t.engine.resolve(AuditCheckpointer).checkpoint();
    }
    expect(Number((await t.knex('mcp_audit_checkpoints').where({ tenant }).count({ n: '*' }))[0]!.n)).to.equal(3);
    await t.knex('mcp_audit_checkpoints').where({ tenant, index: 2 }).delete();
    for (const result of await verifyBoth(tenant)) expect(result.break, JSON.stringify(result.break)).to.include({ reason: 'missing-checkpoint' });

    // The export just made is itself audited in this tenant's chain: let that row be written
    // before the tail is cut, so it goes with the tail (written after the cut, it left a gap at
    // seq 9–10 that the verifier rightly reported first as missing rows).
    await sink.flush();
    await t.knex('mcp_audit_checkpoints').where({ tenant, index: 3 }).delete();
    await t.knex('mcp_agent_audit').where({ tenant }).andWhere('seq', '>', ROWS).delete();
    // From the database alone, the cut-off end looks whole; the published checkpoints do not.
    const keys = keyRing([signing.publicKey]);
    const outward = parseCheckpointLines(readFileSync(published, 'utf8'));
    const db = await t.engine.resolve(AuditVerifier).verify(tenant, { keys, published: outward });
    const [file] = await verifyExport(await exportOf(tenant), keys, outward);
    for (const result of [db, file!]) expect(result.break, JSON.stringify(result.break)).to.include({ reason: 'missing-checkpoint' });
  });

  it('keeps one chain per tenant when several writers append at once (two sinks, one database)', async () => {
    const tenant = uniqueTenant('writers');
    const first = t.engine.resolve<AuditSink>(AuditSink);
    const second = anotherAuditSink(t);
    for (let i = 0; i < 300; i++) (i % 2 ? first : second).record(event(tenant, i));
    await Promise.all([first.flush(), second.flush()]);
    await second.close();
    const result = await verifyDb(tenant);
    expect(result.ok, JSON.stringify(result.break)).to.equal(true);
    expect(result.rows).to.equal(300);
  });

  it('answers the verification on the admin API', async () => {
    const tenant = await chainedTenant();
    const admin = await t.adminOf(tenant);
    let response = await t.http('GET', '/api/v1/mcp/audit/verify', { token: admin });
    expect(response.status).to.equal(200);
    expect(response.body.data).to.include({ ok: true, rows: ROWS, checkpoints: 1, signingConfigured: true });
    await t.knex('mcp_agent_audit').where({ tenant, seq: 2 }).update({ outcome: 'error' });
    response = await t.http('GET', '/api/v1/mcp/audit/verify', { token: admin });
    expect(response.body.data.ok).to.equal(false);
    expect(response.body.data.break).to.include({ reason: 'changed-row', seq: 2 });
    expect((await t.http('GET', '/api/v1/mcp/audit/verify?from=yesterday', { token: admin })).status).to.equal(400);
    expect((await t.http('GET', '/api/v1/mcp/audit/verify')).status).to.equal(401);
  });
});
