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

/** Root hooks: drop the per-process test database once every test has run. */
export const mochaHooks = {
  async afterAll(): Promise<void> {
    await closeTestDatabase();
    // A warning heard while closing fails this hook, not a run that has already ended.
    await new Promise((resolve) => setImmediate(resolve));
  },
};
