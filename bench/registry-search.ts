/**
 * Search latency of the API registry over the whole generated document (200+ operations).
 * Bounded: at most ITERATIONS searches or MAX_SECONDS, whichever comes first. Prints one JSON line
 * and exits 1 when p95 is not under the 5 ms budget.
 *
 *   node --conditions=gatehouse-source --import tsx bench/registry-search.ts
 */
import { ApiCatalog } from '../src/plugins/oss/api-registry/api-catalog.js';
import { countOperations, generateOpenApi } from '../scripts/generate-openapi.js';

const ITERATIONS = Number(process.env.ITERATIONS ?? 20_000);
const MAX_SECONDS = Number(process.env.MAX_SECONDS ?? 10);
const BUDGET_MS = 5;

const QUERIES = [
  'create a ticket',
  'list open invoices',
  'delete a contact',
  'add a comment to a ticket',
  'reboot a server',
  'remove a role from a user',
  'send a payment reminder for overdue bills',
  'which devices have missing patches',
  'approve submitted time entries for billing',
  'purple elephant quantum',
  'show me the sla compliance report for last month',
  'merge duplicate contacts at the same customer',
];

const document = generateOpenApi();
const built = performance.now();
const catalog = new ApiCatalog([{ source: document }]);
catalog.loadSync();
const loadMs = performance.now() - built;

for (let i = 0; i < 500; i++) catalog.search.search(QUERIES[i % QUERIES.length]!);

const samples: number[] = [];
const deadline = performance.now() + MAX_SECONDS * 1000;
for (let i = 0; i < ITERATIONS && performance.now() < deadline; i++) {
  const started = performance.now();
  catalog.search.search(QUERIES[i % QUERIES.length]!);
  samples.push(performance.now() - started);
}
samples.sort((a, b) => a - b);
const at = (q: number): number => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
const round = (ms: number): number => Math.round(ms * 1000) / 1000;
const result = {
  benchmark: 'registry-search',
  operations: countOperations(document),
  searches: samples.length,
  loadMs: round(loadMs),
  p50Ms: round(at(0.5)),
  p95Ms: round(at(0.95)),
  p99Ms: round(at(0.99)),
  maxMs: round(samples.at(-1)!),
  budgetMs: BUDGET_MS,
  ok: at(0.95) < BUDGET_MS,
};
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exitCode = result.ok ? 0 : 1;
