import { createEngine, openDatabase } from '@gatehouse-mcp/engine';
import { enterpriseEdition } from '@gatehouse-mcp/engine/ee';
const { AuditQuery } = await import(process.cwd() + '/src/plugins/ee/audit/audit-query.ts');
const db = await openDatabase({ url: process.env.DATABASE_URL!, schema: process.argv[2]!, statementTimeoutMs: 0 });
const engine = await createEngine({ plugins: [enterpriseEdition({}) as any], database: { knex: db.knex }, logLevel: 'warn' });
const q = engine.resolve(AuditQuery);
for (let i = 0; i < 2; i++) {
  const t = performance.now(); let n = 0; let bytes = 0;
  for await (const page of q.pages('acme', {}, 500)) for (const entry of page) { n++; bytes += ('{"type":"event",' + JSON.stringify(entry).slice(1)).length; }
  console.log('export', n, ((performance.now() - t) / 1000).toFixed(2), 's', Math.round(n / ((performance.now() - t) / 1000)), 'rows/s');
}
await engine.close(); await db.close();
