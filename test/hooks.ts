import { inspect } from 'node:util';
import { closeTestDatabase } from '@gatehouse-mcp/engine/testing';
import { isOverlappingQueryWarning } from './support/overlapping-queries.js';

/**
 * pg's warning that a query was sent on a client already running one (refused from pg 9 on) fails
 * the test or hook running when it is heard, with the warning's stack, which names the caller. pg
 * prints it once per process, so only the first such query is caught. Other warnings print as they
 * always did and fail nothing.
 */
process.on('warning', (warning) => {
  if (!isOverlappingQueryWarning(warning)) return;
  const error = new Error(`A query was sent on a PostgreSQL client while another query on it was still running (pg refuses this from pg 9 on). pg's warning:\n${warning.stack ?? warning.message}`);
  // Thrown outside the warning's emission: mocha fails the runnable that is running with it.
  setImmediate(() => {
    throw error;
  });
});

/**
 * An unhandled promise rejection fails the suite. Mocha traps unhandled rejections and re-emits
 * them on `process`, where with no listener of ours they would go unnoticed; a host embedding the
 * engine would crash instead (Node's default for an unhandled rejection is to throw). Thrown from
 * here, the rejection becomes an uncaught error, which Mocha reports against the test running when
 * it surfaced (or as outside any test), with the rejection's own stack.
 */
process.on('unhandledRejection', (reason: unknown) => {
  const what = reason instanceof Error ? (reason.stack ?? `${reason.name}: ${reason.message}`) : inspect(reason, { depth: 4 });
  const error = new Error(`Unhandled promise rejection: ${what}`);
  // The rejection's stack says where it came from; this listener's frames would only hide it.
  error.stack = error.message;
  throw error;
});

/** Root hooks: drop the per-process test database once every test has run. */
export const mochaHooks = {
  async afterAll(): Promise<void> {
    await closeTestDatabase();
    // A warning heard while closing fails this hook, not a run that has already ended.
    await new Promise((resolve) => setImmediate(resolve));
  },
};
