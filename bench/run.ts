/**
 * The Gatehouse benchmark: `npm run bench` (full, under 10 minutes) or `npm run bench -- --quick`
 * (a short smoke run). Every server runs in a process of its own, the load generator in another.
 * Exits non-zero when the harness itself fails, never because a target was missed.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { calibrate } from './harness/calibration.js';
import { BenchDatabases } from './harness/databases.js';
import { LoadGenerator, place, type Placement } from './harness/processes.js';
import { prepareCompiled } from './harness/compiled.js';
import type { AllocationSample, LoadResult } from './harness/protocol.js';
import { summariseProfile, type ProfileSummary } from './harness/cpu-profile.js';
import { measureStartup, type StartupResult } from './harness/startup.js';
import { aggregate, evaluateTargets, machineDescription, writeResults, type AllocationResult, type BenchResults, type CellResult } from './harness/report.js';
import { ceOtelScenario, ceScenario, limitScenario, sdkScenario } from './scenarios/baseline.js';
import { BENCH_POLICY_COUNT, enterpriseOtelScenario, enterprisePolicyScenario, enterpriseScenarios } from './scenarios/enterprise.js';
import { measurePolicyOverhead, type PolicyOverhead } from './harness/policy-overhead.js';
import { measureTracingApiOverhead, measureTracingSdkFloor } from './harness/tracing-overhead.js';
import type { AuditCheck, Scenario, ScenarioGroup, ScenarioModule, ScenarioName } from './scenarios/scenario.js';
import { measureAuditStore } from './scenarios/audit-store.js';
import { fleetUnavailable, measureFleet, type FleetResult } from './scenarios/fleet.js';

interface Settings {
  readonly mode: 'full' | 'quick';
  readonly levels: readonly number[];
  readonly rounds: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  readonly auditRows: number;
  readonly startupAttempts: number;
  readonly profileSeconds: number;
  readonly fleetRounds: number;
  readonly fleetSeconds: number;
  readonly fleetWarmupSeconds: number;
  readonly revocationRounds: number;
  /** Seconds of load at 16 connections while each server's allocations are sampled (0: not sampled). */
  readonly allocationSeconds: number;
}

const FULL: Settings = { mode: 'full', levels: [1, 16, 64], rounds: 3, durationSeconds: 5, warmupSeconds: 3, auditRows: 1_000_000, startupAttempts: 3, profileSeconds: 5, fleetRounds: 2, fleetSeconds: 5, fleetWarmupSeconds: 2, revocationRounds: 30, allocationSeconds: 3 };
// Five short rounds: the regression guard (bench/guard.ts) takes each scenario's best round, so one noisy moment does not fail CI
// (with three, ee-otel's best share of the limit ranged 0.118–0.160 between runs of the same code).
// The warm-up is long enough for V8 to have optimised the servers' code: the full run's 16-connection
// rounds come after its 1-connection rounds (some 18 s of traffic per server), and with 1 s a quick
// run's servers were still getting cheaper from round to round (ee-key 229, 186, 174 µs per call).
const QUICK: Settings = { mode: 'quick', levels: [16], rounds: 5, durationSeconds: 2, warmupSeconds: 5, auditRows: 20_000, startupAttempts: 1, profileSeconds: 2, fleetRounds: 1, fleetSeconds: 2, fleetWarmupSeconds: 1, revocationRounds: 4, allocationSeconds: 0 };

const argv = process.argv.slice(2);
const args = new Set(argv);
const connectionsArg = argv.find((arg) => arg.startsWith('--connections='));
const base = args.has('--quick') ? QUICK : FULL;
/** `--connections=16,64`: only these concurrency levels (like `--only`, a development loop). */
const settings: Settings = connectionsArg ? { ...base, levels: connectionsArg.slice('--connections='.length).split(',').map(Number) } : base;
const forceProfile = args.has('--profile');
const skipProfile = args.has('--no-profile');
/** `--only=limit,ce`: a development loop over some scenarios (results are written to quick.json, never to the docs). */
const only = argv.find((arg) => arg.startsWith('--only='))?.slice('--only='.length).split(',').filter(Boolean);
/** `--only=audit-store` measures the audit store (query, verification, export); `--audit-rows=N` sizes it (default: the mode's). */
const auditRowsArg = argv.find((arg) => arg.startsWith('--audit-rows='))?.slice('--audit-rows='.length);
const auditRows = auditRowsArg === undefined ? settings.auditRows : Number(auditRowsArg);
if (!Number.isSafeInteger(auditRows) || auditRows < 1) throw new Error(`--audit-rows wants a whole number of rows, not ${auditRowsArg}`);
const wanted: Placement = { mode: args.has('--transpiled') ? 'transpiled' : 'compiled', pin: !args.has('--no-pin') };
const t0 = performance.now();
const log = (message: string): void => void process.stderr.write(`[bench +${Math.round((performance.now() - t0) / 1000)}s] ${message}\n`);

const MODULES: readonly ScenarioModule[] = [limitScenario, sdkScenario, ceScenario, ceOtelScenario, enterpriseScenarios, enterprisePolicyScenario, enterpriseOtelScenario];
const ENTERPRISE: readonly ScenarioModule[] = [enterpriseScenarios, enterprisePolicyScenario, enterpriseOtelScenario];
const GATEHOUSE: readonly ScenarioName[] = ['ce', 'ee-key', 'ee-jwt', 'ee-policy', 'ee-durable'];

async function main(): Promise<number> {
  const began = performance.now();
  const databases = new BenchDatabases(process.env.DATABASE_URL);
  if (databases.kind === 'embedded') {
    log('WARNING: DATABASE_URL is not set; using the embedded database (PGlite). These numbers are NOT comparable to a PostgreSQL server.');
  }
  if (wanted.mode === 'compiled') {
    log('compiled output: making it current (dist/, dist/bench/)');
    await prepareCompiled(log);
  }
  const placement = place(wanted);
  log(`servers and load generator run ${placement.mode === 'compiled' ? 'from the compiled output' : 'from the TypeScript sources through tsx'}; ${placement.pin ? `pinned (servers on CPU 0, load generator on CPU 1)` : 'not pinned to cores'}`);
  const load = new LoadGenerator();
  const groups: ScenarioGroup[] = [];
  const unavailable: Partial<Record<ScenarioName, string>> = {};
  let harnessFailure: string | undefined;
  try {
    const modes = placement.mode === 'compiled' ? (['compiled', 'transpiled'] as const) : (['transpiled'] as const);
    log(`start-up time (${settings.startupAttempts} attempt(s) each: ${modes.join(', ')})`);
    const startup: StartupResult = await measureStartup(await databases.create('startup'), settings.startupAttempts, modes);
    log(`start-up: ${Object.entries(startup.byMode).map(([mode, samples]) => `${mode} ${samples.medianMs} ms`).join(', ')}`);

    // Servers boot side by side; only then does any load run.
    const selected = only ? MODULES.filter((module) => module.names.some((name) => only.includes(name))) : MODULES;
    const started = await Promise.all(
      selected.map(async (module) => {
        const reason = await module.unavailable();
        if (reason) {
          for (const name of module.names) unavailable[name] = reason;
          log(`${module.names.join(', ')}: not available (${reason})`);
          return { module, group: undefined, error: undefined };
        }
        log(`starting ${module.names.join(', ')}`);
        try {
          return { module, group: await module.start(databases), error: undefined };
        } catch (error) {
          return { module, group: undefined, error: error as Error };
        }
      }),
    );
    for (const { group } of started) if (group) groups.push(group);
    for (const { module, error } of started) {
      if (!error) continue;
      // Only the Enterprise rows may be missing; a baseline or CE that does not boot is a harness failure.
      if (!ENTERPRISE.includes(module)) throw error;
      const message = `failed to boot: ${error.message.split('\n')[0]}`;
      for (const name of module.names) unavailable[name] = message;
      log(`${module.names.join(', ')}: ${message}`);
    }
    const scenarios: Scenario[] = groups.flatMap((group) => group.scenarios).filter((scenario) => !only || only.includes(scenario.name));
    const salt = randomBytes(3).toString('hex');
    const cells: CellResult[] = [];
    // The server's own CPU time around the run: what one call costs it, whatever else the machine does.
    const measure = async (scenario: Scenario, connections: number, durationSeconds: number, tag: string): Promise<LoadResult> => {
      const before = (await scenario.server.stats()).cpuMicros;
      const result = await load.run({ url: scenario.url, headers: scenario.headers, connections, durationSeconds, salt: `${salt}${tag}` });
      return { ...result, serverCpuMicros: (await scenario.server.stats()).cpuMicros - before };
    };

    log(`warm-up: ${settings.warmupSeconds} s per scenario`);
    for (const scenario of scenarios) await measure(scenario, 16, settings.warmupSeconds, `w${scenario.name}`);

    for (const connections of settings.levels) {
      for (let round = 1; round <= settings.rounds; round++) {
        // The machine's speed right before the round, with nothing else of the bench running (bench/guard.ts).
        const calibrationMicros = calibrate().micros;
        log(`c=${connections} round ${round} calibration: ${calibrationMicros} µs per iteration`);
        for (const scenario of scenarios) {
          const result = { ...(await measure(scenario, connections, settings.durationSeconds, `${scenario.name}${connections}r${round}`)), calibrationMicros };
          cells.push({ scenario: scenario.name, connections, round, result });
          const statuses = Object.entries(result.statusCodes).map(([code, count]) => `${code}×${count}`).join(' ');
          const perCall = result.requests ? Math.round(result.serverCpuMicros! / result.requests) : 0;
          log(`c=${connections} round ${round} ${scenario.name}: ${Math.round(result.requests / result.durationSeconds)} req/s, p99 ${result.latencyMs.p99} ms, ${perCall} µs CPU/call, load generator ${Math.round(result.loadCpuMicros / (result.durationSeconds * 1e4))}% of a core, errors ${result.errors + result.non2xx + result.wrongAnswers} (${statuses})`);
        }
      }
    }

    const allocations: Partial<Record<ScenarioName, AllocationResult>> = {};
    if (settings.allocationSeconds > 0 || (forceProfile && !skipProfile)) {
      const seconds = settings.allocationSeconds || settings.profileSeconds;
      for (const scenario of scenarios) {
        const { value: result, profile } = await scenario.server.allocations(() =>
          load.run({ url: scenario.url, headers: scenario.headers, connections: 16, durationSeconds: seconds, salt: `${salt}a${scenario.name}` }),
        );
        allocations[scenario.name] = perCallAllocations(profile, result.requests);
        log(`allocations of ${scenario.name}: ${allocations[scenario.name]!.bytesPerCall} bytes per call`);
      }
    }

    log('tracing API overhead (no SDK): instrumentation of one governed call, in process');
    const tracingApi = await measureTracingApiOverhead(settings.mode === 'full' ? 200_000 : 20_000);
    log(`tracing API overhead: ${tracingApi.microsPerRequest} µs per request`);
    log('tracing SDK floor: what the SDK costs by itself, in a process of its own');
    const tracingSdk = await measureTracingSdkFloor(settings.mode === 'full' ? 100_000 : 20_000);
    log(
      `tracing SDK floor: ${tracingSdk.spanMicros} µs per span; the ${tracingSdk.callSpans} spans of a governed call ${tracingSdk.sdkMicrosPerCall} µs made directly, ` +
        `${tracingSdk.engineMicrosPerCall} µs through the engine; async context +${tracingSdk.promiseHookNanos} ns per promise`,
    );

    let policyOverhead: PolicyOverhead | undefined;
    if (!unavailable['ee-policy']) {
      log(`policy evaluation: ${BENCH_POLICY_COUNT} tenant policies, in process`);
      try {
        policyOverhead = await measurePolicyOverhead(await databases.create('policy_overhead'), BENCH_POLICY_COUNT, settings.mode === 'full' ? 5_000 : 1_000);
        log(`policy evaluation adds ${policyOverhead.addedP99Micros} µs CPU at p99 (${policyOverhead.withMicros.p50} µs at p50)`);
      } catch (error) {
        log(`policy evaluation: not measured (${(error as Error).message.split('\n')[0]})`);
      }
    }

    let audit: AuditCheck | undefined;
    for (const group of groups.splice(0)) {
      const check = await group.stop();
      if (check) audit = check;
    }
    if (audit) log(`audit: ${audit.auditRows} rows for ${audit.toolCalls} executed calls (difference ${audit.difference})`);

    const profileExport = !skipProfile && (settings.mode === 'full' || forceProfile);
    const { result: auditStore, exportProfile } =
      only && !only.includes('audit-store')
        ? { result: { available: false as const, rows: 0, reason: 'skipped (--only)' }, exportProfile: undefined }
        : await measureAuditStore(databases, auditRows, log, { profileIfSlow: profileExport });

    // The fleet runs alone: every single-instance server is stopped by now.
    const fleetReason = only ? 'skipped (--only)' : fleetUnavailable(process.env.DATABASE_URL);
    let fleet: FleetResult;
    if (fleetReason) {
      unavailable.fleet = fleetReason;
      fleet = { available: false, reason: fleetReason };
      log(`fleet: not available (${fleetReason})`);
    } else {
      const fleetSettings = {
        connections: 16,
        rounds: settings.fleetRounds,
        durationSeconds: settings.fleetSeconds,
        warmupSeconds: settings.fleetWarmupSeconds,
        revocationRounds: settings.revocationRounds,
      };
      try {
        fleet = await measureFleet(process.env.DATABASE_URL!, load, fleetSettings, salt, log);
      } catch (error) {
        const message = `failed: ${(error as Error).message.split('\n')[0]}`;
        unavailable.fleet = message;
        fleet = { available: false, reason: message };
        log(`fleet: ${message}`);
      }
    }

    const rows = aggregate(cells, unavailable);
    const targets = evaluateTargets(rows, audit, auditStore, tracingApi, fleet, policyOverhead, startup);
    const profiles: Partial<Record<ScenarioName | 'audit-export', ProfileSummary>> = {};
    if (exportProfile) profiles['audit-export'] = exportProfile;
    if (!skipProfile) {
      const toProfile = new Set<ScenarioName>();
      for (const target of targets) if (target.met === false && target.profile) toProfile.add(target.profile);
      if (forceProfile) for (const name of GATEHOUSE) if (!unavailable[name]) toProfile.add(name);
      if (settings.mode === 'quick' && !forceProfile) toProfile.clear();
      // With --only, only the scenarios asked for.
      if (only) for (const name of toProfile) if (!only.includes(name)) toProfile.delete(name);
      for (const name of toProfile) {
        log(`CPU profile of the ${name} server (${settings.profileSeconds} s at 16 connections)`);
        profiles[name] = await profileScenario(name, databases, load, settings.profileSeconds, salt);
      }
    }

    const results: BenchResults = {
      generatedAt: new Date().toISOString(),
      mode: settings.mode,
      machine: machineDescription(),
      database: databases.kind,
      settings: {
        concurrency: settings.levels,
        rounds: settings.rounds,
        durationSeconds: settings.durationSeconds,
        warmupSeconds: settings.warmupSeconds,
        auditRows,
        fleet: { connections: 16, rounds: settings.fleetRounds, durationSeconds: settings.fleetSeconds, warmupSeconds: settings.fleetWarmupSeconds, revocationRounds: settings.revocationRounds },
      },
      unavailable,
      load: rows,
      audit: audit ?? null,
      auditStore,
      fleet,
      tracingApi,
      tracingSdk,
      ...(policyOverhead ? { policyOverhead } : {}),
      startup,
      placement,
      allocations,
      targets,
      profiles,
      runSeconds: Math.round((performance.now() - began) / 1000),
    };
    const written = await writeResults(results, only || connectionsArg ? 'quick' : settings.mode);
    log(`results: ${written.join(', ')} (${results.runSeconds} s)`);
    for (const target of targets) log(`target ${target.met === null ? 'n/a ' : target.met ? 'MET ' : 'MISS'} ${target.description}: ${target.value}`);

    const dead = rows.filter((row) => row.requests > 0 && row.correct === 0).map((row) => `${row.scenario}@${row.connections}`);
    const silent = scenarios.filter((scenario) => !rows.some((row) => row.scenario === scenario.name && row.correct > 0)).map((s) => s.name);
    if (dead.length || silent.length) harnessFailure = `no correct answers from ${[...dead, ...silent].join(', ')}`;
  } catch (error) {
    harnessFailure = (error as Error).stack ?? String(error);
  } finally {
    for (const group of groups) await group.stop().catch(() => undefined);
    load.close();
    await databases.dropAll().catch((error: unknown) => log(`could not drop scratch databases: ${(error as Error).message}`));
  }
  if (harnessFailure) {
    log(`HARNESS FAILURE: ${harnessFailure}`);
    return 1;
  }
  return 0;
}

function perCallAllocations(profile: AllocationSample, calls: number): AllocationResult {
  const per = (bytes: number): number => (calls ? Math.round(bytes / calls) : 0);
  return {
    calls,
    bytesPerCall: per(profile.bytes),
    top: profile.top.map((site) => ({ function: site.function, location: site.location, bytesPerCall: per(site.bytes), percent: Math.round((site.bytes / Math.max(1, profile.bytes)) * 1000) / 10 })),
  };
}

/**
 * Profile one scenario's server (`node --cpu-prof`) and summarise where it spends its CPU during
 * a short load at 16 connections; start-up and warm-up are cut out of the profile.
 */
async function profileScenario(name: ScenarioName, databases: BenchDatabases, load: LoadGenerator, seconds: number, salt: string): Promise<ProfileSummary> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'gatehouse-bench-profile-'));
  try {
    const module = MODULES.find((candidate) => candidate.names.includes(name))!;
    const group = await module.start(databases, { cpuProfileDir: dir });
    let window: { fromMicros: number; toMicros: number };
    try {
      const scenario = group.scenarios.find((candidate) => candidate.name === name)!;
      await load.run({ url: scenario.url, headers: scenario.headers, connections: 16, durationSeconds: 2, salt: `${salt}pw${name}` });
      const fromMicros = await scenario.server.mark();
      await load.run({ url: scenario.url, headers: scenario.headers, connections: 16, durationSeconds: seconds, salt: `${salt}p${name}` });
      window = { fromMicros, toMicros: await scenario.server.mark() };
    } finally {
      await group.stop();
    }
    // One profile per thread (the module loader has a thread of its own): the server's is the busiest in the window.
    const files = (await readdir(dir)).filter((file) => file.endsWith('.cpuprofile'));
    const summaries = await Promise.all(files.map((file) => summariseProfile(path.join(dir, file), window).catch(() => undefined)));
    const busiest = summaries.filter((summary) => summary !== undefined).sort((a, b) => b.busyMs - a.busyMs)[0];
    if (!busiest) throw new Error(`no CPU profile of the ${name} server covers the measured window`);
    return busiest;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    log(`HARNESS FAILURE: ${(error as Error).stack ?? String(error)}`);
    process.exit(1);
  },
);
