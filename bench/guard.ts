/**
 * The benchmark's regression guard (run by CI after `npm run bench -- --quick`): each governed
 * scenario's share of the limit (`× limit`, measured side by side in the same round) must not fall
 * more than 15 % below the committed full run's (`bench/results/latest.json`). Ratios, not absolute
 * figures: they carry over between machines and loads. On a noisy machine one round can be unlucky,
 * so each scenario's best of the quick run's rounds is compared.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { BenchResults, LoadRow } from './harness/report.js';

/** The scenarios guarded: the governed hot path, with and without a tracing SDK. */
const GUARDED = ['ce', 'ee-key', 'ee-jwt', 'ce-otel', 'ee-otel'] as const;
const CONNECTIONS = 16;
/** A regression is a best ratio below 85 % of the committed one. */
export const ALLOWED_REGRESSION = 0.15;

const read = (name: string): BenchResults | undefined => {
  const file = fileURLToPath(new URL(`results/${name}`, import.meta.url));
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BenchResults) : undefined;
};

const rowOf = (results: BenchResults, scenario: string): LoadRow | undefined =>
  results.load.find((row) => row.scenario === scenario && row.connections === CONNECTIONS);

/** The scenario's best `× limit` over the rounds, each round's limit measured in the same sweep. */
export function bestRatio(results: BenchResults, scenario: string): number | undefined {
  const row = rowOf(results, scenario);
  const limit = rowOf(results, 'limit');
  if (!row || !limit) return undefined;
  let best: number | undefined;
  row.rounds.forEach((round, index) => {
    const base = limit.rounds[index];
    if (!base || base.requests === 0 || round.durationSeconds === 0) return;
    const ratio = round.requests / round.durationSeconds / (base.requests / base.durationSeconds);
    best = Math.max(best ?? 0, ratio);
  });
  return best;
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
  console.log(`× limit at ${CONNECTIONS} connections: best of ${quick.settings.rounds} quick round(s) against the committed full run of ${committed.generatedAt}`);
  for (const scenario of GUARDED) {
    const reference = rowOf(committed, scenario)?.toLimit;
    const measured = bestRatio(quick, scenario);
    if (reference == null || measured === undefined) {
      console.log(`  ${scenario}: not compared (${reference == null ? 'not in the committed results' : 'not measured by the quick run'})`);
      continue;
    }
    compared++;
    const floor = reference * (1 - ALLOWED_REGRESSION);
    const ok = measured >= floor;
    if (!ok) failures++;
    console.log(`  ${scenario}: ${measured.toFixed(3)} (committed ${reference}, floor ${floor.toFixed(3)}) ${ok ? 'ok' : 'REGRESSED'}`);
  }
  if (compared === 0) {
    console.error('No scenario could be compared: the guard guards nothing.');
    return 1;
  }
  if (failures) console.error(`${failures} scenario(s) lost more than ${ALLOWED_REGRESSION * 100} % of their share of the limit.`);
  return failures ? 1 : 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exit(main());
