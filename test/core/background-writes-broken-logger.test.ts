/**
 * Work started off the request path (a timer's batched write, telling other instances about a
 * change) logs its failure and goes on. When the host's logger threw on that line, the failure
 * escaped as an unhandled promise rejection, which crashes a host with Node's default. A broken
 * logger now costs the line only.
 */
import { expect } from 'chai';
import type { Logger } from '@gatehouse-mcp/engine';
import { ApiKeyVerifier } from '../../src/core/keys/api-key-verifier.js';

const throwing = (): never => {
  throw new Error('the log transport is down');
};
const brokenLogger: Logger = { debug: throwing, info: throwing, warn: throwing, error: throwing, child: () => brokenLogger };
const databaseDown = async (): Promise<never> => {
  throw new Error('the database is not answering');
};

describe('background writes of API key usage and changes, with the database down and a host logger that throws', () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
  let verifier: ApiKeyVerifier;
  beforeEach(() => {
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
    const store = { onRevoke: () => undefined };
    const changes = { subscribe: () => () => undefined, publish: databaseDown };
    const work = { runSerialized: databaseDown };
    verifier = new ApiKeyVerifier(store as never, { credentialCacheTtlMs: 1_000 } as never, brokenLogger, changes as never, work as never);
  });
  afterEach(() => void process.off('unhandledRejection', onUnhandled));

  it('the batched write of last use settles (started by its timer, it was an unhandled rejection)', async () => {
    (verifier as unknown as { markUsed(id: string): void }).markUsed('key-1');
    await verifier.flushUsage();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(unhandled).to.deep.equal([]);
  });

  it('telling other instances about a change that could not be sent is no unhandled rejection', async () => {
    verifier.invalidate({ id: 'key-1' });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(unhandled).to.deep.equal([]);
  });
});
