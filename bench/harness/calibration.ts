/**
 * A yardstick for the machine's speed at the kind of work a governed call does in JavaScript: parse
 * a JSON-RPC request, hash a credential, look it up in a bounded map, check the arguments and
 * serialise the answer. No I/O, so neither the load generator nor the kernel's network stack moves
 * it. The regression guard (bench/guard.ts) divides a server's CPU time per call by it, so runs on
 * machines of different speed (or one machine in a faster or slower moment) compare.
 */
import { createHash } from 'node:crypto';

/** CPU time of one iteration in µs: the best batch of several, measured with the process's CPU time. */
export interface Calibration {
  readonly micros: number;
  readonly batches: number;
  readonly iterationsPerBatch: number;
}

const ITERATIONS = 2_000;
const BATCHES = 20;
const WARM_UP = 5;
const CACHE_SIZE = 512;
const NAME = /^[a-z][a-z0-9_.-]{0,63}$/;

function batch(seed: number): number {
  const cache = new Map<string, { readonly agent: string; readonly roles: readonly string[] }>();
  let checksum = 0;
  for (let i = 0; i < ITERATIONS; i++) {
    const id = seed * ITERATIONS + i;
    const body = `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"name":"echo","arguments":{"text":"call ${id}","count":${i & 31}}}}`;
    const request = JSON.parse(body) as { id: number; method: string; params: { name: string; arguments: Record<string, unknown> } };
    const key = createHash('sha256').update(`gh_key_${i & 1023}`).digest('base64url');
    let principal = cache.get(key);
    if (!principal) {
      if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
      principal = { agent: `agent-${i & 1023}`, roles: ['reader', i & 1 ? 'writer' : 'viewer'] };
      cache.set(key, principal);
    }
    const args = request.params.arguments;
    if (request.method !== 'tools/call' || !NAME.test(request.params.name) || typeof args.text !== 'string' || typeof args.count !== 'number') {
      throw new Error('calibration request is malformed');
    }
    const answer = JSON.stringify({
      jsonrpc: '2.0',
      id: request.id,
      result: { content: [{ type: 'text', text: args.text }], structuredContent: { echoed: args.text, by: principal.agent, roles: principal.roles } },
    });
    checksum = (checksum + Buffer.byteLength(answer)) | 0;
  }
  return checksum;
}

/** Measure in this process; about 0.2 s on a current core. */
export function calibrate(): Calibration {
  let best = Number.POSITIVE_INFINITY;
  let sink = 0;
  // Unmeasured batches first: the loop runs before the optimising compiler has seen it.
  for (let b = 0; b < WARM_UP; b++) sink ^= batch(-1 - b);
  for (let b = 1; b <= BATCHES; b++) {
    const before = process.cpuUsage();
    sink ^= batch(b);
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / ITERATIONS);
  }
  if (sink === 0.5) console.log(sink); // keeps the work observable
  return { micros: Math.round(best * 1000) / 1000, batches: BATCHES, iterationsPerBatch: ITERATIONS };
}
