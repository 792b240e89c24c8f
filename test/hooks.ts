import { inspect } from 'node:util';
import { closeTestDatabase } from '@gatehouse-mcp/engine/testing';

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
  },
};
