import { closeTestDatabase } from '@gatehouse-mcp/engine/testing';

/** Root hooks: drop the per-process test database once every test has run. */
export const mochaHooks = {
  async afterAll(): Promise<void> {
    await closeTestDatabase();
  },
};
