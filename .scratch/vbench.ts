import { createHash, randomBytes } from 'node:crypto';
import { createEngine, openDatabase } from '@gatehouse-mcp/engine';
import { enterpriseEdition, AuditVerifier, chainHash, GENESIS_HASH } from '@gatehouse-mcp/engine/ee';

const rows = Number(process.argv[2] ?? 200_000);
const schema = process.argv[3] ?? `vb_${randomBytes(3).toString('hex')}`;
const seed = process.argv[4] !== 'noseed';
const url = process.env.DATABASE_URL!;
const tenant = 'acme';
const db = await openDatabase({ url, schema, statementTimeoutMs: 0 });
const engine = await createEngine({ plugins: [enterpriseEdition({}) as any], database: { knex: db.knex }, logLevel: 'warn' });
const knex = db.knex;
if (seed) {
  const base = Date.now();
  const spacingMs = (30 * 86400000) / rows;
  const first = new Date(base - (rows - 1) * spacingMs);
  for (let month = new Date(Date.UTC(first.getUTCFullYear(), first.getUTCMonth(), 1)); month.getTime() <= base; ) {
    const next = new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1, 1));
    const name = `mcp_agent_audit_y${month.getUTCFullYear()}m${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
    await knex.raw(`create table if not exists ?? partition of mcp_agent_audit for values from ('${month.toISOString()}') to ('${next.toISOString()}')`, [name]);
    month = next;
  }
  let prev = GENESIS_HASH;
  const uuid = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  for (let from = 0; from < rows; from += 2000) {
    const batch: Record<string, unknown>[] = [];
    for (let g = from + 1; g <= Math.min(rows, from + 2000); g++) {
      const agent = uuid(g % 50);
      const content: Record<string, unknown> = {
        tenant, seq: g, event_id: uuid(1_000_000_000 + g), occurred_at: new Date(Math.round(base - (rows - g) * spacingMs)).toISOString(),
        principal_kind: 'agent', principal_id: agent, principal_label: `agent ${g % 50}`, agent_id: agent, key_id: null, issuer: 'https://idp.example.com',
        subject: `agent-${g % 50}`, action: 'tools/call', target: `tool.${g % 20}`, decision: 'allowed', reason: null, outcome: 'success',
        arguments_digest: createHash('md5').update(String(g)).digest('hex'), arguments: { n: g }, latency_ms: (g % 97) / 10,
        request_id: createHash('md5').update(`request-${g}`).digest('hex'), client_address: '127.0.0.1', details: null,
      };
      const hash = chainHash(prev, content as any);
      batch.push({ ...content, occurred_at: new Date(content.occurred_at as string), arguments: JSON.stringify(content.arguments), prev_hash: prev, hash });
      prev = hash;
    }
    await knex('mcp_agent_audit').insert(batch);
  }
  await knex('mcp_audit_chain_heads').insert({ tenant, seq: rows, hash: prev }).onConflict('tenant').merge();
  await knex.raw('analyze mcp_agent_audit');
  console.log('seeded', rows, 'in schema', schema);
}
const verifier = engine.resolve(AuditVerifier);
for (let i = 0; i < 2; i++) {
  const t = performance.now();
  const r = await verifier.verify(tenant);
  console.log('verify', r.ok, r.rows, ((performance.now() - t) / 1000).toFixed(2), 's', 'rss', Math.round(process.memoryUsage().rss/1e6), 'MB', 'heap', Math.round(process.memoryUsage().heapUsed/1e6));
}
await engine.close();
await db.close();
