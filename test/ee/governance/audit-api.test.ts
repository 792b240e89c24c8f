import { expect } from 'chai';
import { AuditSink } from '@gatehouse-mcp/engine';
import { governanceEngine, insertChainedAuditRows, type GovernanceTestEngine } from './support.js';

/** A small RFC 4180 reader, independent of the exporter. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field || row.length) rows.push([...row, field]);
  return rows;
}

const SEEDED = 1234;
const BASE = Date.parse('2026-01-01T00:00:00.000Z');

describe('EE audit API', () => {
  let t: GovernanceTestEngine;
  const agentId = '11111111-1111-4111-8111-111111111111';
  before(async function () {
    this.timeout(60_000);
    t = await governanceEngine();
    const rows = Array.from({ length: SEEDED }, (_, i) => ({
      tenant: t.tenant,
      // Pairs of rows share a timestamp, so the id must break ties.
      occurred_at: new Date(BASE + Math.floor(i / 2) * 1000),
      principal_kind: 'agent',
      principal_id: i % 3 === 0 ? agentId : null,
      principal_label: i === 7 ? 'Tricky, "quoted"\nname' : i === 8 ? '=HYPERLINK("x")' : 'bot',
      agent_id: i % 3 === 0 ? agentId : null,
      action: 'tools/call',
      target: i % 2 === 0 ? 'tickets.read' : 'tickets.write',
      decision: i % 5 === 0 ? 'denied' : 'allowed',
      reason: i % 5 === 0 ? 'missing permission tickets:write' : null,
      outcome: i % 5 === 0 ? 'denied' : 'success',
      arguments: JSON.stringify({ n: i, text: 'a,b "c"' }),
      arguments_digest: 'x'.repeat(64),
      latency_ms: 1.5,
      request_id: `seed-${i}`,
    }));
    await insertChainedAuditRows(t.knex, rows);
  });
  after(async () => {
    await t?.close();
  });

  it('pages newest first by cursor without gaps or repeats, up to 500 per page', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const response = await t.http('GET', `/api/v1/mcp/audit?action=tools%2Fcall&limit=500${cursor ? `&cursor=${cursor}` : ''}`, { token: t.adminKey });
      expect(response.status).to.equal(200);
      seen.push(...(response.body.data as { requestId: string }[]).map((e) => e.requestId));
      cursor = response.body.nextCursor;
      pages++;
    } while (cursor);
    expect(pages).to.equal(3);
    expect(seen).to.have.length(SEEDED);
    expect(new Set(seen).size).to.equal(SEEDED);
    expect(seen[0]).to.equal(`seed-${SEEDED - 1}`);
    expect(seen[SEEDED - 1]).to.equal('seed-0');
    const tooMany = await t.http('GET', '/api/v1/mcp/audit?limit=501', { token: t.adminKey });
    expect(tooMany.status).to.equal(400);
    expect(tooMany.body.error.details[0].field).to.equal('limit');
    expect((await t.http('GET', '/api/v1/mcp/audit?cursor=garbage', { token: t.adminKey })).status).to.equal(400);
  });

  it('filters by agent, tool, decision, outcome and time', async () => {
    const get = async (query: string): Promise<{ requestId: string; agentId: string | null; target: string; decision: string; occurredAt: string }[]> => {
      const response = await t.http('GET', `/api/v1/mcp/audit?limit=500&${query}`, { token: t.adminKey });
      expect(response.status, query).to.equal(200);
      return response.body.data;
    };
    const byAgent = await get(`agent=${agentId}`);
    expect(byAgent.length).to.equal(Math.min(500, Math.ceil(SEEDED / 3)));
    expect(byAgent.every((e) => e.agentId === agentId)).to.equal(true);
    expect((await get('tool=tickets.write&decision=denied')).every((e) => e.target === 'tickets.write' && e.decision === 'denied')).to.equal(true);
    const denied = await get('outcome=denied&tool=tickets.read');
    expect(denied.length).to.equal(Array.from({ length: SEEDED }, (_, i) => i).filter((i) => i % 5 === 0 && i % 2 === 0).length);
    const from = new Date(BASE + 10_000).toISOString();
    const to = new Date(BASE + 20_000).toISOString();
    const window = await get(`from=${from}&to=${to}`);
    expect(window.map((e) => e.requestId).sort()).to.deep.equal(Array.from({ length: 20 }, (_, i) => `seed-${i + 20}`).sort());
    const bad = await t.http('GET', '/api/v1/mcp/audit?decision=maybe&from=yesterday&agent=7', { token: t.adminKey });
    expect(bad.status).to.equal(400);
    expect((bad.body.error.details as { field: string }[]).map((d) => d.field).sort()).to.deep.equal(['agent', 'decision', 'from']);
  });

  it('exports CSV as a streamed attachment, properly escaped, with a header row', async () => {
    const response = await fetch(`${t.url}/api/v1/mcp/audit/export?format=csv&action=tools%2Fcall`, { headers: { authorization: `Bearer ${t.adminKey}` } });
    expect(response.status).to.equal(200);
    expect(response.headers.get('content-type')).to.match(/^text\/csv/);
    expect(response.headers.get('content-disposition')).to.match(/^attachment; filename="audit-.*\.csv"$/);
    expect(response.headers.get('content-length')).to.equal(null);
    expect(response.headers.get('transfer-encoding')).to.equal('chunked');
    let chunks = 0;
    let text = '';
    const decoder = new TextDecoder();
    for await (const chunk of response.body!) {
      chunks++;
      text += decoder.decode(chunk as Uint8Array, { stream: true });
    }
    expect(chunks).to.be.greaterThan(1);
    const rows = parseCsv(text);
    const header = rows[0]!;
    expect(header.slice(0, 3)).to.deep.equal(['id', 'occurred_at', 'principal_kind']);
    expect(rows).to.have.length(SEEDED + 1);
    const col = (name: string): number => header.indexOf(name);
    const byRequest = new Map(rows.slice(1).map((row) => [row[col('request_id')], row]));
    expect(byRequest.get('seed-7')![col('principal_label')]).to.equal('Tricky, "quoted"\nname');
    expect(byRequest.get('seed-8')![col('principal_label')]).to.equal(`'=HYPERLINK("x")`);
    expect(JSON.parse(byRequest.get('seed-3')![col('arguments')]!)).to.deep.equal({ n: 3, text: 'a,b "c"' });
    expect(rows.slice(1).every((row) => row.length === header.length)).to.equal(true);
  });

  it('exports JSON Lines with the same filters', async () => {
    const response = await fetch(`${t.url}/api/v1/mcp/audit/export?format=jsonl&decision=denied&action=tools%2Fcall`, { headers: { authorization: `Bearer ${t.adminKey}` } });
    expect(response.status).to.equal(200);
    expect(response.headers.get('content-disposition')).to.match(/\.jsonl"$/);
    const all = (await response.text()).split('\n').filter(Boolean).map((line) => JSON.parse(line) as { type: string; filtered?: boolean; decision: string; arguments: { n: number } });
    expect(all[0]).to.include({ type: 'export', tenant: t.tenant, filtered: true });
    const lines = all.filter((line) => line.type === 'event');
    expect(lines).to.have.length(Math.ceil(SEEDED / 5));
    expect(lines.every((line) => line.decision === 'denied' && line.arguments.n % 5 === 0)).to.equal(true);
    expect((await t.http('GET', '/api/v1/mcp/audit/export?format=xml', { token: t.adminKey })).status).to.equal(400);
    expect((await t.http('GET', '/api/v1/mcp/audit/export?format=csv')).status).to.equal(401);
  });

  it('includes live tool calls once flushed', async () => {
    const role = await t.role('live', ['tickets:read']);
    const agent = await t.agent({ roleIds: [role] });
    const client = await t.connect({ token: agent.key });
    await client.callTool({ name: 'tickets.read', arguments: { id: 'live' } });
    await t.engine.resolve<AuditSink>(AuditSink).flush();
    const response = await t.http('GET', `/api/v1/mcp/audit?agent=${agent.id}&tool=tickets.read`, { token: t.adminKey });
    expect(response.body.data).to.have.length(1);
    expect(response.body.data[0]).to.deep.include({ decision: 'allowed', outcome: 'success', arguments: { id: 'live' }, keyId: agent.keyId });
  });
});
