/**
 * Item 4 of the hardening work: unauthenticated callers cannot fill the audit table. Failed
 * authentications are audited only for tenants that exist, aggregated per tenant, source address
 * and reason per window (with a count), and each source address opens a bounded number of rows.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { AuditSink } from '@gatehouse-mcp/engine';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { governanceEngine, type GovernanceTestEngine } from './support.js';

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A different garbage credential each time: junk, JWT look-alikes with attacker-chosen headers, unknown API keys. */
function garbage(i: number): string {
  switch (i % 5) {
    case 0:
      return randomBytes(24).toString('hex');
    case 1:
      return `${b64({ alg: `HS${i}`, typ: 'JWT' })}.${b64({ iss: `https://evil-${i}.example` })}.${randomBytes(8).toString('base64url')}`;
    case 2:
      return `${b64({ alg: 'RS256', typ: `t${i}+jwt` })}.${b64({ sub: 'x' })}.sig`;
    case 3:
      return `ghk_${randomBytes(20).toString('hex')}`;
    default:
      return `${randomBytes(6).toString('base64url')}==.${i}`;
  }
}

async function post(url: string, token: string): Promise<{ status: number; challenge: string | null }> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: '{"jsonrpc":"2.0","id":1,"method":"tools/list"}',
  });
  await response.arrayBuffer();
  return { status: response.status, challenge: response.headers.get('www-authenticate') };
}

describe('EE audit: authentication failures cannot flood the audit table', function () {
  this.timeout(180_000);
  let t: GovernanceTestEngine;

  afterEach(async () => {
    await t?.close();
  });

  const rowsOf = (tenant: string) => t.knex('mcp_agent_audit').where({ tenant, decision: 'auth-failed' }).orderBy('id');

  it('10,000 garbage tokens from one address against an existing and a missing tenant add a few dozen rows, counting every failure', async () => {
    t = await governanceEngine();
    const ghost = uniqueTenant('ghost');
    const targets = [t.engine.mcpUrl(t.tenant), t.engine.mcpUrl(ghost)];
    const total = 10_000;
    let next = 0;
    const statuses = new Map<number, number>();
    let slowest = 0;
    const worker = async () => {
      while (next < total) {
        const i = next++;
        const started = Date.now();
        const { status, challenge } = await post(targets[i % 2]!, garbage(i));
        slowest = Math.max(slowest, Date.now() - started);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
        if (status === 401) expect(challenge).to.match(/^Bearer /);
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    expect(Object.fromEntries(statuses)).to.deep.equal({ 401: total });
    await t.engine.resolve<AuditSink>(AuditSink).flush();

    expect(await rowsOf(ghost), 'no rows for a tenant that does not exist').to.have.length(0);
    const rows = await rowsOf(t.tenant);
    expect(rows.length, 'rows for the existing tenant').to.be.at.most(25).and.at.least(1);
    // Nothing is silently dropped: the counts add up to every refused request.
    expect(rows.reduce((sum: number, row: { details: { count: number } }) => sum + row.details.count, 0)).to.equal(total / 2);
    for (const row of rows) {
      expect(row).to.include({ action: 'authenticate', outcome: 'refused', client_address: rows[0].client_address });
      expect(row.details).to.have.keys('count', 'firstAt', 'lastAt', 'windowStartedAt', 'windowEndedAt');
    }
    expect(rows.some((row: { reason: string }) => row.reason === 'Further authentication failures from this address (over the per-address limit of distinct reasons).')).to.equal(true);
  });

  it('one row per tenant, source and reason per window, with a count, written when the window closes', async () => {
    t = await governanceEngine({ edition: { audit: { authFailureWindowMs: 400 } } });
    const url = t.engine.mcpUrl(t.tenant);
    for (let i = 0; i < 7; i++) expect((await post(url, 'not-a-token')).status).to.equal(401);
    for (let i = 0; i < 3; i++) expect((await post(url, `ghk_${randomBytes(20).toString('hex')}`)).status).to.equal(401);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const rows = await rowsOf(t.tenant);
    expect(rows.map((row: { reason: string; details: { count: number } }) => [row.reason, row.details.count])).to.have.deep.members([
      ['The token is not a compact JWS: it must be three base64url segments without padding, whitespace or other characters.', 7],
      ['The API key is not valid.', 3],
    ]);
    // The next window starts afresh.
    await post(url, 'not-a-token');
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    expect(await rowsOf(t.tenant)).to.have.length(3);
  });
});
