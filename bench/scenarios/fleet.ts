/**
 * Fleet scenarios: 1, 2 and 3 Community Edition instances behind HAProxy (round-robin, no
 * stickiness) on one PostgreSQL database, with and without MCP sessions; and how fast a revoked key
 * is refused on every instance of a 3-instance fleet. Uses the fleet harness of the fleet tests.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { LoadGenerator } from '../harness/processes.js';
import { PROTOCOL_VERSION, type LoadResult } from '../harness/protocol.js';

/** The fleet's echo tool (see scripts/fleet/fleet-tools.ts). */
const FLEET_TOOL = 'echo';

type Harness = typeof import('../../scripts/fleet/fleet-harness.js');

export interface FleetCell {
  readonly instances: number;
  readonly sessions: boolean;
  readonly connections: number;
  readonly requestsPerSecond: number;
  /** Median of the rounds' percentiles. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  readonly errors: number;
  readonly non2xx: number;
  readonly wrongAnswers: number;
  /** req/s over the 1-instance fleet's with the same session setting. */
  readonly toOne: number | null;
}

export interface RevocationLatency {
  readonly instances: number;
  readonly rounds: number;
  /** One sample per other instance per round: revocation answered → that instance refuses the key. */
  readonly samples: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Samples still accepted when the round's bound ran out (counted at the bound). */
  readonly timedOut: number;
  readonly boundMs: number;
}

export type FleetResult =
  | { readonly available: true; readonly cells: readonly FleetCell[]; readonly revocation: RevocationLatency | { readonly error: string } }
  | { readonly available: false; readonly reason: string };

export interface FleetSettings {
  readonly connections: number;
  readonly rounds: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly revocationRounds: number;
}

/** Why the fleet scenarios cannot run here, or undefined when they can. */
export function fleetUnavailable(databaseUrl: string | undefined): string | undefined {
  if (!databaseUrl) return 'DATABASE_URL is not set (a fleet needs a PostgreSQL server)';
  // The fleet harness sets tenants up with either edition, and measures revocation on the Enterprise one.
  if (!existsSync(fileURLToPath(new URL('../../src/plugins/ee/index.ts', import.meta.url)))) return 'src/plugins/ee/index.ts does not exist in this checkout';
  const probe = spawnSync('haproxy', ['-v'], { stdio: 'ignore' });
  if (probe.error || probe.status !== 0) return 'haproxy is not installed (apt-get install -y haproxy)';
  return undefined;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const round1 = (value: number): number => Math.round(value * 10) / 10;

async function post(url: string, key: string, body: unknown, session?: string): Promise<{ status: number; session: string | null }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': PROTOCOL_VERSION,
      authorization: `Bearer ${key}`,
      ...(session ? { 'mcp-session-id': session } : {}),
    },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  await res.text();
  return { status: res.status, session: res.headers.get('mcp-session-id') };
}

/** Start an MCP session through the balancer; the load then carries its id on every call. */
async function openSession(url: string, key: string): Promise<string> {
  const init = await post(url, key, {
    jsonrpc: '2.0',
    id: 0,
    method: 'initialize',
    params: { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'bench', version: '1.0.0' } },
  });
  if (init.status !== 200 || !init.session) throw new Error(`initialize through the balancer answered ${init.status} without a session`);
  const initialized = await post(url, key, { jsonrpc: '2.0', method: 'notifications/initialized' }, init.session);
  if (initialized.status >= 300) throw new Error(`notifications/initialized answered ${initialized.status}`);
  return init.session;
}

export async function measureFleet(
  databaseUrl: string,
  load: LoadGenerator,
  settings: FleetSettings,
  salt: string,
  log: (message: string) => void,
): Promise<FleetResult> {
  const { startFleet } = await import('../../scripts/fleet/fleet-harness.js');
  const cells: Omit<FleetCell, 'toOne'>[] = [];
  for (const sessions of [false, true]) {
    for (const instances of [1, 2, 3]) {
      const label = `fleet ${instances}× ${sessions ? 'sessions' : 'stateless'}`;
      log(`${label}: starting`);
      const fleet = await startFleet({ instances, serverUrl: databaseUrl, sessions, edition: 'community' });
      try {
        const session = sessions ? await openSession(fleet.mcpUrl, fleet.mcpKey) : undefined;
        const headers = {
          'mcp-protocol-version': PROTOCOL_VERSION,
          authorization: `Bearer ${fleet.mcpKey}`,
          ...(session ? { 'mcp-session-id': session } : {}),
        };
        const run = (seconds: number, tag: string): Promise<LoadResult> =>
          load.run({ url: fleet.mcpUrl, headers, connections: settings.connections, durationSeconds: seconds, salt: `${salt}f${instances}${sessions ? 's' : 'n'}${tag}`, tool: FLEET_TOOL });
        await run(settings.warmupSeconds, 'w');
        const results: LoadResult[] = [];
        for (let round = 1; round <= settings.rounds; round++) results.push(await run(settings.durationSeconds, `r${round}`));
        const requests = results.reduce((sum, r) => sum + r.requests, 0);
        const seconds = results.reduce((sum, r) => sum + r.durationSeconds, 0);
        const cell = {
          instances,
          sessions,
          connections: settings.connections,
          requestsPerSecond: Math.round(requests / seconds),
          p50Ms: median(results.map((r) => r.latencyMs.p50)),
          p99Ms: median(results.map((r) => r.latencyMs.p99)),
          requests,
          errors: results.reduce((sum, r) => sum + r.errors, 0),
          non2xx: results.reduce((sum, r) => sum + r.non2xx, 0),
          wrongAnswers: results.reduce((sum, r) => sum + r.wrongAnswers, 0),
        };
        cells.push(cell);
        log(`${label}: ${cell.requestsPerSecond} req/s, p99 ${cell.p99Ms} ms, errors ${cell.errors + cell.non2xx + cell.wrongAnswers}`);
      } finally {
        await fleet.stop();
      }
    }
  }
  const withRatio = cells.map((cell) => {
    const one = cells.find((other) => other.instances === 1 && other.sessions === cell.sessions);
    return { ...cell, toOne: one && one.requestsPerSecond > 0 ? Math.round((cell.requestsPerSecond / one.requestsPerSecond) * 100) / 100 : null };
  });

  let revocation: RevocationLatency | { error: string };
  try {
    revocation = await measureRevocation(startFleet, databaseUrl, settings.revocationRounds, log);
    log(`revocation propagation over ${revocation.samples} samples: p50 ${revocation.p50Ms} ms, p99 ${revocation.p99Ms} ms`);
  } catch (error) {
    revocation = { error: (error as Error).message.split('\n')[0]! };
    log(`revocation propagation: not measured (${revocation.error})`);
  }
  return { available: true, cells: withRatio, revocation };
}

/**
 * Revoke an agent key through one instance of a 3-instance Enterprise fleet (which must refuse it
 * at once), then poll the other instances directly until each refuses it; `rounds` keys, the
 * revoking instance turning round.
 */
async function measureRevocation(startFleet: Harness['startFleet'], databaseUrl: string, rounds: number, log: (message: string) => void): Promise<RevocationLatency> {
  const instances = 3;
  const boundMs = 5000;
  log(`revocation propagation: starting a ${instances}-instance Enterprise fleet`);
  const fleet = await startFleet({ instances, serverUrl: databaseUrl });
  try {
    const agent = await fleet.agent('revocation');
    const samples: number[] = [];
    let timedOut = 0;
    const list = { jsonrpc: '2.0', id: 1, method: 'tools/list' };
    for (let round = 0; round < rounds; round++) {
      const issued = await fleet.admin('POST', `/api/v1/mcp/agents/${agent.id}/keys`, { name: `round ${round}` });
      if (issued.status !== 201) throw new Error(`could not issue a key: ${issued.status}`);
      const key = issued.body.data.secret as string;
      // Every instance has the key in its cache before it is revoked.
      for (const instance of fleet.instances) {
        const warm = await post(`${instance.url}/api/mcp`, key, list);
        if (warm.status !== 200) throw new Error(`${instance.name} refused a fresh key: ${warm.status}`);
      }
      const revoker = fleet.instances[round % instances]!;
      const revoked = await fleet.admin('DELETE', `/api/v1/mcp/agents/${agent.id}/keys/${issued.body.data.id}`, undefined, revoker.url);
      if (revoked.status !== 200) throw new Error(`revocation through ${revoker.name} answered ${revoked.status}`);
      const t0 = performance.now();
      if ((await post(`${revoker.url}/api/mcp`, key, list)).status !== 401) throw new Error(`${revoker.name} still accepts the key it revoked`);
      await Promise.all(
        fleet.instances
          .filter((instance) => instance !== revoker)
          .map(async (instance) => {
          for (;;) {
            if ((await post(`${instance.url}/api/mcp`, key, list)).status === 401) {
              samples.push(performance.now() - t0);
              return;
            }
            if (performance.now() - t0 > boundMs) {
              timedOut++;
              samples.push(boundMs);
              return;
            }
            await new Promise((resolve) => setTimeout(resolve, 5));
          }
        }),
      );
    }
    samples.sort((a, b) => a - b);
    return {
      instances,
      rounds,
      samples: samples.length,
      p50Ms: round1(percentile(samples, 50)),
      p99Ms: round1(percentile(samples, 99)),
      maxMs: round1(samples[samples.length - 1]!),
      timedOut,
      boundMs,
    };
  } finally {
    await fleet.stop();
  }
}
