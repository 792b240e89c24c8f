import { performance } from 'node:perf_hooks';
import { createEngine, Policy, type PluginDefinition, type Principal, type PolicyRequest } from '@gatehouse-mcp/engine';
import { loadEnterprise } from '../scenarios/enterprise-availability.js';
import { benchPlugin, engineDatabase } from '../servers/bench-plugin.js';
import { BENCH_PERMISSION, BENCH_TOOL, type BenchDatabase } from './protocol.js';

export interface PolicyOverhead {
  /** How many policies the tenant has. */
  readonly policies: number;
  readonly iterations: number;
  /**
   * CPU time of one policy decision for a `tools/call` about to run, without and with the tenant's
   * policies (µs; CPU time, so a busy machine does not count its other processes' time).
   */
  readonly withoutMicros: { readonly p50: number; readonly p99: number };
  readonly withMicros: { readonly p50: number; readonly p99: number };
  /** What the policies add at p99 (µs): with − without. */
  readonly addedP99Micros: number;
  /** The same by the wall clock (µs), which includes waiting for a core on a busy machine. */
  readonly wallAddedP99Micros: number;
}

/**
 * The tenant policies the `ee-policy` scenario loads: `count` policies on the benchmark tool that
 * each look at the call (arguments, time, address, the agent's attributes) and none of which
 * refuses the benchmark's calls, so every call is evaluated against all of them.
 */
export function benchPolicies(count: number): { name: string; text: string }[] {
  const shapes = [
    (i: number) => `forbid (principal, action == Action::"${BENCH_TOOL}", resource)\nwhen { context.arguments.n == ${-1 - i} };`,
    (i: number) => `forbid (principal, action == Action::"${BENCH_TOOL}", resource)\nwhen { context.arguments.text like "forbidden-${i}-*" };`,
    (i: number) => `forbid (principal, action == Action::"${BENCH_TOOL}", resource)\nwhen { context.time.now < datetime("2020-01-${String((i % 28) + 1).padStart(2, '0')}T00:00:00Z") };`,
    (i: number) => `forbid (principal, action == Action::"${BENCH_TOOL}", resource)\nwhen { context has clientAddress && context.clientAddress.isInRange(ip("192.0.2.${i % 256}/32")) };`,
    (i: number) => `forbid (principal, action, resource)\nwhen { principal.hasTag("blocked-${i}") || ["x-${i}", "y-${i}"].contains(principal.name) };`,
  ];
  return Array.from({ length: count }, (_, i) => ({ name: `bench policy ${i + 1}`, text: shapes[i % shapes.length]!(i) }));
}

const percentile = (sorted: readonly number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const micros = (ms: number): number => Math.round(ms * 1000 * 10) / 10;

/**
 * What evaluating a tenant's policy set adds to one call, in process: the Enterprise policy's
 * decision for a `tools/call` about to run (RBAC, then the policies), timed call by call for an
 * agent of a tenant without policies and of a tenant with `count` policies, on a scratch database
 * of its own (every lookup is cached after the first call, as on a warm server). The database must
 * be empty: the tenants, agents and roles are created afresh.
 */
/** Calls made with each principal before measuring. */
const WARM_UP_CALLS = 5_000;

export async function measurePolicyOverhead(database: BenchDatabase, count: number, iterations: number): Promise<PolicyOverhead> {
  const loaded = await loadEnterprise();
  if ('reason' in loaded) throw new Error(loaded.reason);
  const ee = loaded.module;
  if (!ee.PolicyStore) throw new Error('gatehouse/ee does not export PolicyStore');
  const policies = ee.PolicyStore;
  const engine = await createEngine({ plugins: [ee.enterpriseEdition() as PluginDefinition, benchPlugin()], database: engineDatabase(database), logLevel: 'warn' });
  try {
    const knex = engine.database.knex;
    const agentOf = async (tenant: string): Promise<Principal> => {
      const agent = await engine.resolve(ee.AgentStore).create(tenant, { name: 'bench agent' });
      const [role] = (await knex('roles').insert({ tenant, name: 'bench role', permissions: JSON.stringify([BENCH_PERMISSION]) }).returning('id')) as { id: string }[];
      await knex('agent_roles').insert({ tenant, agent_id: agent.id, role_id: role!.id });
      return { tenant, kind: 'agent', id: agent.id, label: 'bench agent', scopes: ['mcp'], attributes: { agentId: agent.id, credential: 'api-key', permissions: [BENCH_PERMISSION] } };
    };
    const plain = await agentOf('bench-plain');
    const governed = await agentOf('bench-policies');
    const store = engine.resolve(policies);
    for (const policy of benchPolicies(count)) await store.create('bench-policies', policy, 'bench');
    const policy = engine.resolve<Policy>(Policy);
    const request = (n: number): PolicyRequest => ({
      kind: 'tool',
      name: BENCH_TOOL,
      permission: BENCH_PERMISSION,
      attempt: true,
      context: { arguments: { text: `call-${n}`, n }, at: new Date(), clientAddress: '127.0.0.1' },
    });
    const run = async (principal: Principal, into?: { cpu: number[]; wall: number[] }, times = iterations): Promise<void> => {
      for (let n = 0; n < times; n++) {
        const cpu = process.cpuUsage();
        const started = performance.now();
        const decision = await policy.decide(principal, request(n));
        const wall = performance.now() - started;
        const used = process.cpuUsage(cpu);
        into?.cpu.push((used.user + used.system) / 1000);
        into?.wall.push(wall);
        if (!decision.allow) throw new Error(`the benchmark call was refused: ${decision.reason}`);
      }
    };
    // Warm up (compiles the set, loads the engine, fills the caches), then measure interleaved. The
    // warm-up is as long in a quick run as in a full one: V8 keeps optimising Cedar's WebAssembly on
    // background threads for the first few thousand calls, and the process's CPU time would charge
    // that to whichever calls are measured meanwhile (a warm server has long finished it).
    await run(plain, undefined, Math.max(iterations, WARM_UP_CALLS));
    await run(governed, undefined, Math.max(iterations, WARM_UP_CALLS));
    const without = { cpu: [] as number[], wall: [] as number[] };
    const withPolicies = { cpu: [] as number[], wall: [] as number[] };
    for (let round = 0; round < 3; round++) {
      await run(plain, without);
      await run(governed, withPolicies);
    }
    for (const list of [without.cpu, without.wall, withPolicies.cpu, withPolicies.wall]) list.sort((a, b) => a - b);
    const withoutMicros = { p50: micros(percentile(without.cpu, 50)), p99: micros(percentile(without.cpu, 99)) };
    const withMicros = { p50: micros(percentile(withPolicies.cpu, 50)), p99: micros(percentile(withPolicies.cpu, 99)) };
    const round1 = (value: number): number => Math.round(value * 10) / 10;
    return {
      policies: count,
      iterations: without.cpu.length,
      withoutMicros,
      withMicros,
      addedP99Micros: round1(withMicros.p99 - withoutMicros.p99),
      wallAddedP99Micros: round1(micros(percentile(withPolicies.wall, 99)) - micros(percentile(without.wall, 99))),
    };
  } finally {
    await engine.close();
  }
}
