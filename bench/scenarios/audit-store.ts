import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { summariseProfile, type ProfileSummary } from '../harness/cpu-profile.js';
import type { BenchDatabases } from '../harness/databases.js';
import type { BenchDatabase } from '../harness/protocol.js';
import { startServer, type ServerHandle } from '../harness/processes.js';
import { loadEnterprise } from './enterprise-availability.js';

export type AuditStoreResult =
  | { readonly available: false; readonly rows: number; readonly reason: string }
  | {
      readonly available: true;
      readonly rows: number;
      readonly insertSeconds: number;
      /** The whole tenant chain verified through `GET /api/v1/mcp/audit/verify`. */
      readonly verify: { readonly rows: number; readonly seconds: number; readonly ok: boolean };
      readonly query: { readonly samples: number; readonly rowsPerPage: number; readonly p50Ms: number; readonly p95Ms: number; readonly maxMs: number };
      readonly export: {
        readonly format: string;
        readonly rows: number;
        readonly seconds: number;
        readonly rowsPerSecond: number;
        /** Highest RSS of the exporting server process sampled during the export (every 50 ms). */
        readonly peakRssMb: number;
        /** Its RSS just before the export started. */
        readonly rssBeforeMb: number;
        /** Its lifetime peak RSS (includes start-up), for reference. */
        readonly lifetimeMaxRssMb: number;
      };
    };

const AGENTS = 100;
const SPAN_DAYS = 30;
const PAGE = 100;
const DAY_MS = 86_400_000;

/** The agent id the generated rows use for agent number `i` (the same md5-derived UUID as the SQL). */
function agentId(i: number): string {
  const md5 = createHash('md5').update(`bench-agent-${i}`).digest('hex');
  // Version 4 and the RFC 4122 variant, so the id passes UUID validation (the SQL does the same).
  const hex = `${md5.slice(0, 12)}4${md5.slice(13, 16)}8${md5.slice(17)}`;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function percentile(sorted: readonly number[], p: number): number {
  return Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! * 10) / 10;
}

const EXPORT_TARGET_ROWS_PER_SECOND = 50_000;

/** Stream the whole JSON Lines export of the server's tenant; returns the number of rows. */
async function exportAll(server: ServerHandle): Promise<number> {
  const { baseUrl, adminSecret } = server.credentials;
  const response = await fetch(`${baseUrl}/api/v1/mcp/audit/export?format=jsonl`, { headers: { 'x-bench-admin': adminSecret! } });
  if (response.status !== 200 || !response.body) throw new Error(`audit export answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
  // Count event lines only (the export also holds a header line and the tenant's checkpoints).
  const EVENT = Buffer.from('{"type":"event"');
  let exported = 0;
  let position = 0;
  let matching = true;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    for (const byte of chunk) {
      if (byte === 10) {
        if (matching && position >= EVENT.length) exported++;
        position = 0;
        matching = true;
        continue;
      }
      if (position < EVENT.length && byte !== EVENT[position]) matching = false;
      position++;
    }
  }
  return exported;
}

/**
 * Audit query and streamed export over `rows` generated audit rows of one tenant (100 agents over
 * 30 days), through the Enterprise admin API of a server process of its own. With `profileIfSlow`,
 * an export slower than its target is run once more under `node --cpu-prof`.
 */
export async function measureAuditStore(
  databases: BenchDatabases,
  rows: number,
  log: (message: string) => void,
  options: { profileIfSlow?: boolean } = {},
): Promise<{ result: AuditStoreResult; exportProfile?: ProfileSummary }> {
  const measured = await measure(databases, rows, log);
  if (!options.profileIfSlow || !measured.result.available || measured.result.export.rowsPerSecond >= EXPORT_TARGET_ROWS_PER_SECOND) {
    return { result: measured.result };
  }
  log('CPU profile of the exporting server');
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-bench-profile-'));
  try {
    const server = await startServer({ kind: 'ee', database: measured.database! }, { cpuProfileDir: dir });
    let window: { fromMicros: number; toMicros: number };
    try {
      const fromMicros = await server.mark();
      await exportAll(server);
      window = { fromMicros, toMicros: await server.mark() };
    } finally {
      await server.stop();
    }
    const files = (await readdir(dir)).filter((file) => file.endsWith('.cpuprofile'));
    const summaries = await Promise.all(files.map((file) => summariseProfile(path.join(dir, file), window).catch(() => undefined)));
    return { result: measured.result, exportProfile: summaries.filter((summary) => summary !== undefined).sort((a, b) => b.busyMs - a.busyMs)[0] };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function measure(databases: BenchDatabases, rows: number, log: (message: string) => void): Promise<{ result: AuditStoreResult; database?: BenchDatabase }> {
  const loaded = await loadEnterprise();
  if ('reason' in loaded) {
    log(`audit query/export: not available (${loaded.reason})`);
    return { result: { available: false, rows, reason: loaded.reason } };
  }
  const database = await databases.create('audit');
  // A first boot applies the migrations and names the tenant the admin API serves.
  const first = await startServer({ kind: 'ee', database });
  const tenant = first.credentials.tenant!;
  await first.stop();

  log(`audit store: inserting ${rows.toLocaleString('en-US')} rows`);
  const base = Date.now();
  const spacingMs = (SPAN_DAYS * DAY_MS) / rows;
  const knex = await databases.open(database);
  let insertSeconds: number;
  try {
    const started = performance.now();
    // Rows oldest first, each chained the way the audit sink chains them (see docs/security.md).
    const ee = loaded.module as unknown as { chainHash(prev: string, content: Record<string, unknown>): string; GENESIS_HASH: string };
    const first = new Date(base - (rows - 1) * spacingMs);
    for (let month = new Date(Date.UTC(first.getUTCFullYear(), first.getUTCMonth(), 1)); month.getTime() <= base; ) {
      const next = new Date(Date.UTC(month.getUTCFullYear(), month.getUTCMonth() + 1, 1));
      const name = `mcp_agent_audit_y${month.getUTCFullYear()}m${String(month.getUTCMonth() + 1).padStart(2, '0')}`;
      await knex.raw(`create table if not exists ?? partition of mcp_agent_audit for values from ('${month.toISOString()}') to ('${next.toISOString()}')`, [name]);
      month = next;
    }
    let prev = ee.GENESIS_HASH;
    const BATCH = 2_000;
    for (let from = 0; from < rows; from += BATCH) {
      const batch: Record<string, unknown>[] = [];
      for (let g = from + 1; g <= Math.min(rows, from + BATCH); g++) {
        const agent = agentId(g % AGENTS);
        const denied = g % 50 === 0;
        const argumentsValue = { n: g };
        const content: Record<string, unknown> = {
          tenant,
          seq: g,
          event_id: agentId(1_000_000_000 + g),
          occurred_at: new Date(Math.round(base - (rows - g) * spacingMs)).toISOString(),
          principal_kind: 'agent',
          principal_id: agent,
          principal_label: `agent ${g % AGENTS}`,
          agent_id: agent,
          key_id: null,
          issuer: 'https://idp.example.com',
          subject: `agent-${g % AGENTS}`,
          action: 'tools/call',
          target: `tool.${g % 20}`,
          decision: denied ? 'denied' : 'allowed',
          reason: null,
          outcome: denied ? 'denied' : 'success',
          arguments_digest: createHash('md5').update(String(g)).digest('hex'),
          arguments: argumentsValue,
          latency_ms: (g % 97) / 10,
          request_id: createHash('md5').update(`request-${g}`).digest('hex'),
          client_address: '127.0.0.1',
          details: null,
        };
        const hash = ee.chainHash(prev, content);
        batch.push({ ...content, occurred_at: new Date(content.occurred_at as string), arguments: JSON.stringify(argumentsValue), prev_hash: prev, hash });
        prev = hash;
      }
      await knex('mcp_agent_audit').insert(batch);
    }
    await knex('mcp_audit_chain_heads').insert({ tenant, seq: rows, hash: prev }).onConflict('tenant').merge();
    await knex.raw('analyze mcp_agent_audit');
    insertSeconds = Math.round((performance.now() - started) / 100) / 10;
  } finally {
    await knex.destroy();
  }

  const server = await startServer({ kind: 'ee', database });
  try {
    const { baseUrl, adminSecret } = server.credentials;
    const headers = { 'x-bench-admin': adminSecret! };
    const samples = rows >= 100_000 ? 100 : 20;
    const timings: number[] = [];
    for (let i = -5; i < samples; i++) {
      const agent = agentId((i + 5) % AGENTS);
      const to = base - ((i + 5) % SPAN_DAYS) * DAY_MS;
      const query = new URLSearchParams({ agent, from: new Date(to - DAY_MS).toISOString(), to: new Date(to).toISOString(), limit: String(PAGE) });
      const started = performance.now();
      const response = await fetch(`${baseUrl}/api/v1/mcp/audit?${query}`, { headers });
      const body = (await response.json()) as { data?: unknown[] };
      const elapsed = performance.now() - started;
      if (response.status !== 200 || !Array.isArray(body.data) || body.data.length === 0) {
        throw new Error(`audit query answered ${response.status} with ${JSON.stringify(body).slice(0, 300)}`);
      }
      if (i >= 0) timings.push(elapsed);
    }
    timings.sort((a, b) => a - b);

    log('audit store: verify the whole hash chain');
    const verifyStarted = performance.now();
    const verifyResponse = await fetch(`${baseUrl}/api/v1/mcp/audit/verify`, { headers });
    const verified = (await verifyResponse.json()) as { data?: { ok: boolean; rows: number } };
    const verifySeconds = Math.round((performance.now() - verifyStarted) / 10) / 100;
    if (verifyResponse.status !== 200 || !verified.data) throw new Error(`audit verify answered ${verifyResponse.status}: ${JSON.stringify(verified).slice(0, 300)}`);

    log('audit store: streamed export (JSON Lines)');
    const before = await server.stats();
    let peakRss = before.rssBytes;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        peakRss = Math.max(peakRss, (await server.stats()).rssBytes);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const started = performance.now();
    const exported = await exportAll(server);
    const seconds = (performance.now() - started) / 1000;
    sampling = false;
    await sampler;
    const after = await server.stats();
    peakRss = Math.max(peakRss, after.rssBytes);
    if (exported !== rows) throw new Error(`the export held ${exported} rows, not ${rows}`);
    const result: AuditStoreResult = {
      available: true,
      rows,
      insertSeconds,
      verify: { rows: verified.data.rows, seconds: verifySeconds, ok: verified.data.ok },
      query: { samples, rowsPerPage: PAGE, p50Ms: percentile(timings, 50), p95Ms: percentile(timings, 95), maxMs: percentile(timings, 100) },
      export: {
        format: 'jsonl',
        rows: exported,
        seconds: Math.round(seconds * 100) / 100,
        rowsPerSecond: Math.round(exported / seconds),
        peakRssMb: Math.round(peakRss / 2 ** 20),
        rssBeforeMb: Math.round(before.rssBytes / 2 ** 20),
        lifetimeMaxRssMb: Math.round(after.maxRssBytes / 2 ** 20),
      },
    };
    return { result, database };
  } finally {
    await server.stop();
  }
}
