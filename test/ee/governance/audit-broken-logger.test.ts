/**
 * The audit writer retries in the background (a timer starts each write). When a write failed and
 * the host's logger threw on the line saying so, the failure escaped the background write as an
 * unhandled promise rejection, which crashes a host with Node's default. A broken logger now costs
 * the line, nothing more: the writer keeps retrying, and writes what it holds once it can.
 */
import { expect } from 'chai';
import knexFactory from 'knex';
import { Logger, Telemetry } from '@gatehouse-mcp/engine';
import { uniqueTenant } from '@gatehouse-mcp/engine/testing';
import { DbAuditSink } from '../../../src/plugins/ee/audit/db-audit-sink.js';
import { AuditSinkSettings } from '../../../src/plugins/ee/audit/audit-sink-settings.js';
import { governanceEngine, orderEvent, type GovernanceTestEngine } from './support.js';

/** A host logger that throws on warnings and information (a broken transport), counting the attempts. */
class BrokenLogger implements Logger {
  broken = 0;
  debug(): void {}
  info(): void {
    this.broken++;
    throw new Error('the log transport is down');
  }
  warn(): void {
    this.broken++;
    throw new Error('the log transport is down');
  }
  error(): void {}
  child(): Logger {
    return this;
  }
}

describe('EE audit: a write that fails while the host logger throws', function () {
  this.timeout(60_000);
  let t: GovernanceTestEngine;
  after(() => t?.close());

  it('keeps retrying, and writes the event once the database answers (the failure was an unhandled rejection)', async () => {
    t = await governanceEngine();
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown): void => void unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    const quiet = (): void => undefined;
    const unreachable = knexFactory({ client: 'pg', connection: 'postgres://postgres@127.0.0.1:9/none', pool: { min: 0, max: 2 }, log: { warn: quiet, error: quiet, debug: quiet, deprecate: quiet } });
    // The database the writer uses: unreachable until `reachable` is set.
    let reachable = false;
    const database = {
      kind: t.engine.database.kind,
      get knex() {
        return reachable ? t.engine.database.knex : unreachable;
      },
      forTenant: (tenant: string) => t.engine.database.forTenant(tenant),
    };
    const logger = new BrokenLogger();
    const settings = { ...t.engine.resolve<AuditSinkSettings>(AuditSinkSettings), flushIntervalMs: 20, retryDelayMs: 20, maxRetryDelayMs: 50, flushTimeoutMs: 5_000 };
    const sink = new DbAuditSink(database as never, settings, logger, t.engine.resolve(Telemetry));
    const tenant = uniqueTenant('broken-log');
    try {
      sink.record(orderEvent(tenant, { requestId: 'broken-log-1' }));
      for (let i = 0; i < 100 && logger.broken < 1; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(logger.broken, 'lines the logger refused').to.be.greaterThan(0);
      expect(sink.pending()).to.equal(1);
      reachable = true;
      await sink.flush();
      expect((await t.knex('mcp_agent_audit').where({ tenant })).map((row: { request_id: string }) => row.request_id)).to.deep.equal(['broken-log-1']);
      expect(unhandled).to.deep.equal([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
      await sink.close();
      await unreachable.destroy();
    }
  });
});
