// Inside a served Enterprise engine's network namespace: make one audited admin change with the
// admin key, then save the tenant's audit export as JSON Lines — the file an auditor verifies.
//   GATEHOUSE_ADMIN_KEY=… node export-audit.mjs <base url> <export file>
import { writeFileSync } from 'node:fs';

const [base, file] = process.argv.slice(2);
const headers = { authorization: `Bearer ${process.env.GATEHOUSE_ADMIN_KEY}` };
const created = await fetch(`${base}/api/v1/mcp/roles`, {
  method: 'POST',
  headers: { ...headers, 'content-type': 'application/json' },
  body: JSON.stringify({ name: 'triage', permissions: ['tickets:read'] }),
});
if (created.status !== 201) throw new Error(`creating a role answered ${created.status}: ${await created.text()}`);
// The trail is written in batches: export once the change is in it, so the export ends where the chain does.
const deadline = Date.now() + 30_000;
for (;;) {
  const listed = await (await fetch(`${base}/api/v1/mcp/audit?decision=admin`, { headers })).json();
  if (listed.data?.length > 0) break;
  if (Date.now() > deadline) throw new Error(`the role change never reached the audit trail: ${JSON.stringify(listed)}`);
  await new Promise((resolve) => setTimeout(resolve, 100));
}
const exported = await fetch(`${base}/api/v1/mcp/audit/export?format=jsonl`, { headers });
const text = await exported.text();
if (exported.status !== 200) throw new Error(`the export answered ${exported.status}: ${text}`);
writeFileSync(file, text);
process.stdout.write(`EXPORTED ${text.split('\n').filter(Boolean).length} lines\n`);
