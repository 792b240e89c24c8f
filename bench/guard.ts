/**
 * The benchmark's regression guard (run by CI after `npm run bench -- --quick`): a governed scenario
 * regresses when it is more than 15 % slower than in the committed full run
 * (`bench/results/latest.json`), measured against two yardsticks taken in the same run:
 *
 * - its share of the limit (`× limit`: its req/s over the bare `node:http` server's, round by round);
 * - its server CPU time per call over the machine's calibration (bench/harness/calibration.ts: the
 *   JavaScript work of a call, without I/O, timed right before the round).
 *
 * Each yardstick moves with the machine in its own way: the limit with the kernel's network stack
 * and how much of a core the load generator gets (a machine with faster system calls raises the
 * limit far more than a JavaScript-bound server), the calibration with the core's speed at
 * JavaScript. Slower code moves both. So the guard fails a scenario when both say it lost more than
 * 15 %; where a result has no calibration, the share of the limit decides alone. On a noisy machine
 * one round can be unlucky, so each scenario's best quick round is compared with the committed
 * run's figures over all its rounds.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BenchResults, LoadRow } from './harness/report.js';
import type { LoadResult } from './harness/protocol.js';

/** The scenarios guarded: the governed hot path, with and without a tracing SDK. */
const GUARDED = ['ce', 'ee-key', 'ee-jwt', 'ce-otel', 'ee-otel'] as const;
const CONNECTIONS = 16;
/** A regression: below 85 % of the committed share of the limit, and above 1 / 0.85 of the committed calibrated cost. */
export const ALLOWED_REGRESSION = 0.15;

const read = (name: string): BenchResults | undefined => {
  const file = fileURLToPath(new URL(`results/${name}`, import.meta.url));
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BenchResults) : undefined;
};

const rowOf = (results: BenchResults, scenario: string): LoadRow | undefined =>
  results.load.find((row) => row.scenario === scenario && row.connections === CONNECTIONS);

const rate = (round: LoadResult): number => round.requests / round.durationSeconds;

/** Each round's `× limit`, against the limit measured in the same round. */
function shares(results: BenchResults, scenario: string): number[] {
  const row = rowOf(results, scenario);
  const limit = rowOf(results, 'limit');
  if (!row || !limit) return [];
  return row.rounds.flatMap((round, index) => {
    const base = limit.rounds[index];
    return base && base.requests > 0 && base.durationSeconds > 0 && round.durationSeconds > 0 ? [rate(round) / rate(base)] : [];
  });
}

/** Each round's server CPU µs per call over the calibration taken before that round. */
function calibratedCosts(results: BenchResults, scenario: string): number[] {
  return (rowOf(results, scenario)?.rounds ?? []).flatMap((round) =>
    round.requests > 0 && round.serverCpuMicros !== undefined && round.calibrationMicros ? [round.serverCpuMicros / round.requests / round.calibrationMicros] : [],
  );
}

/** The scenario's best `× limit` over the rounds, each round's limit measured in the same sweep. */
export function bestRatio(results: BenchResults, scenario: string): number | undefined {
  const values = shares(results, scenario);
  return values.length ? Math.max(...values) : undefined;
}

/** The scenario's lowest calibrated cost over the rounds. */
export function bestCost(results: BenchResults, scenario: string): number | undefined {
  const values = calibratedCosts(results, scenario);
  return values.length ? Math.min(...values) : undefined;
}

/**
 * The committed run's figures over all its rounds, unrounded: total req/s over the limit's total
 * (the `× limit` the docs show), and total server CPU over the calibrated calls.
 */
export function reference(results: BenchResults, scenario: string): { share?: number; cost?: number } {
  const row = rowOf(results, scenario);
  const limit = rowOf(results, 'limit');
  const total = (rounds: readonly LoadResult[], pick: (round: LoadResult) => number): number => rounds.reduce((sum, round) => sum + pick(round), 0);
  const rps = (rounds: readonly LoadResult[]): number => total(rounds, (r) => r.requests) / total(rounds, (r) => r.durationSeconds);
  const share = row && limit && row.rounds.length && limit.rounds.length ? rps(row.rounds) / rps(limit.rounds) : undefined;
  const calibrated = row?.rounds.every((round) => round.serverCpuMicros !== undefined && round.calibrationMicros) ?? false;
  const cost = row && calibrated && row.requests > 0 ? total(row.rounds, (r) => r.serverCpuMicros!) / total(row.rounds, (r) => r.requests * r.calibrationMicros!) : undefined;
  return { share, cost };
}

/** The guard's decision for one scenario: both yardsticks must say it lost more than the allowance. */
export function judge(committed: { share?: number; cost?: number }, measured: { share?: number; cost?: number }): {
  readonly compared: boolean;
  readonly shareFloor?: number;
  readonly shareLost?: boolean;
  readonly costCeiling?: number;
  readonly costLost?: boolean;
  readonly regressed: boolean;
} {
  if (committed.share === undefined || measured.share === undefined) return { compared: false, regressed: false };
  const shareFloor = committed.share * (1 - ALLOWED_REGRESSION);
  const shareLost = measured.share < shareFloor;
  if (committed.cost === undefined || measured.cost === undefined) return { compared: true, shareFloor, shareLost, regressed: shareLost };
  const costCeiling = committed.cost / (1 - ALLOWED_REGRESSION);
  const costLost = measured.cost > costCeiling;
  return { compared: true, shareFloor, shareLost, costCeiling, costLost, regressed: shareLost && costLost };
}

function main(): number {
  const quick = read('quick.json');
  const committed = read('latest.json');
  if (!quick) {
    console.error('bench/results/quick.json is missing: run `npm run bench -- --quick` first.');
    return 1;
  }
  if (!committed) {
    console.error('bench/results/latest.json (the committed full run) is missing.');
    return 1;
  }
  let failures = 0;
  let compared = 0;
  console.log(`at ${CONNECTIONS} connections: best of ${quick.settings.rounds} quick round(s) against the committed full run of ${committed.generatedAt}`);
  for (const scenario of GUARDED) {
    const before = reference(committed, scenario);
    const now = { share: bestRatio(quick, scenario), cost: bestCost(quick, scenario) };
    const verdict = judge(before, now);
    if (!verdict.compared) {
      console.log(`  ${scenario}: not compared (${before.share === undefined ? 'not in the committed results' : 'not measured by the quick run'})`);
      continue;
    }
    compared++;
    if (verdict.regressed) failures++;
    const shareText = `× limit ${now.share!.toFixed(3)} (committed ${before.share!.toFixed(3)}, floor ${verdict.shareFloor!.toFixed(3)}) ${verdict.shareLost ? 'slower' : 'ok'}`;
    const costText =
      verdict.costCeiling === undefined
        ? 'CPU/call over calibration not compared (no calibration in one of the runs)'
        : `CPU/call over calibration ${now.cost!.toFixed(1)} (committed ${before.cost!.toFixed(1)}, ceiling ${verdict.costCeiling.toFixed(1)}) ${verdict.costLost ? 'slower' : 'ok'}`;
    console.log(`  ${scenario}: ${shareText}; ${costText} => ${verdict.regressed ? 'REGRESSED' : 'ok'}`);
  }
  if (compared === 0) {
    console.error('No scenario could be compared: the guard guards nothing.');
    return 1;
  }
  if (failures) console.error(`${failures} scenario(s) lost more than ${ALLOWED_REGRESSION * 100} % against both yardsticks.`);
  return failures ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exit(main());
