import autocannon from 'autocannon';
import { callBody, type LoadRequest, type LoadResult } from '../harness/protocol.js';

/**
 * The load generator, in a process of its own so it never shares an event loop with a server.
 * Takes one `LoadRequest` at a time over IPC and answers with a `LoadResult`. Every request
 * carries distinct arguments, and every answer is checked to carry its own request's argument.
 * Answers are counted by status code, and the generator's own CPU time is reported, so a run can
 * say how much of the machine the load itself took.
 */
async function run(request: LoadRequest): Promise<LoadResult> {
  let next = 0;
  let wrongAnswers = 0;
  const statusCodes: Record<string, number> = {};
  const cpuBefore = process.cpuUsage();
  const result = await autocannon({
    url: request.url,
    connections: request.connections,
    duration: request.durationSeconds,
    timeout: 10,
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...request.headers },
    requests: [
      {
        method: 'POST',
        setupRequest(raw, context) {
          const { body, expected } = callBody(++next, request.salt, request.tool);
          context.expected = expected;
          raw.body = body;
          return raw;
        },
        onResponse(status, body, context) {
          statusCodes[status] = (statusCodes[status] ?? 0) + 1;
          if (status >= 200 && status < 300 && (!body.includes(context.expected as string) || body.includes('"isError":true') || body.includes('"error":{'))) {
            wrongAnswers++;
          }
        },
      },
    ],
  });
  const cpu = process.cpuUsage(cpuBefore);
  return {
    requests: result.requests.total,
    durationSeconds: result.duration,
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max },
    errors: result.errors,
    non2xx: result.non2xx,
    wrongAnswers,
    statusCodes,
    loadCpuMicros: cpu.user + cpu.system,
  };
}

process.on('message', (request: LoadRequest) => {
  run(request).then(
    (result) => process.send?.({ ok: true, result }),
    (error: unknown) => process.send?.({ ok: false, message: (error as Error).message }),
  );
});
process.on('disconnect', () => process.exit(0));
