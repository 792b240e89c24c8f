/**
 * The aggregated authentication failures of a window are handed to the audit sink when the window
 * closes (on a timer). When the sink refused them (its buffer at the hard cap while the database
 * was down, or the trail closing), the failure was an unhandled promise rejection, which crashes a
 * host with Node's default; and the aggregator's chain stayed rejected: no later window was ever
 * audited, and every flush() threw that old error. Now the refusal is logged once, with how many
 * rows were lost, and the next windows are audited as usual.
 */
import { expect } from 'chai';
import { AuditUnavailableError, type AuditEvent } from '@gatehouse-mcp/engine';
import { AuthFailureAggregator } from '../../../src/plugins/ee/audit/auth-failure-aggregator.js';
import { DEFAULT_AUDIT_SINK_SETTINGS } from '../../../src/plugins/ee/audit/audit-sink-settings.js';
import type { DbAuditSink } from '../../../src/plugins/ee/audit/db-audit-sink.js';
import { RecordingLogger, type LoggedLine } from '../../support/recording-logger.js';

const WINDOW_MS = 40;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function failure(tenant: string, reason: string): AuditEvent {
  return {
    tenant,
    time: new Date(),
    principal: undefined,
    action: 'auth',
    target: undefined,
    decision: 'auth-failed',
    reason,
    outcome: 'refused',
    clientAddress: '203.0.113.9',
  } as unknown as AuditEvent;
}

describe('EE audit: the authentication failures of a window the audit trail refused', () => {
  const recorded: AuditEvent[] = [];
  let refusing = true;
  const sink = {
    record(event: AuditEvent): void {
      if (refusing) throw new AuditUnavailableError('The audit trail cannot take more events now; the request was refused.');
      recorded.push(event);
    },
    async flush(): Promise<void> {},
    async close(): Promise<void> {},
  } as unknown as DbAuditSink;
  // Every tenant exists.
  const database = { forTenant: () => ({ table: () => ({ first: async () => ({ tenant: 'x' }) }) }) };
  const lines: LoggedLine[] = [];
  const aggregator = new AuthFailureAggregator(sink, database as never, { ...DEFAULT_AUDIT_SINK_SETTINGS, authFailureWindowMs: WINDOW_MS }, new RecordingLogger(lines));

  after(() => aggregator.close());

  it('are logged as lost once (they were an unhandled rejection), and the windows after them are audited (none was, and flush() kept throwing)', async () => {
    aggregator.record(failure('tenant-a', 'bad token'));
    aggregator.record(failure('tenant-b', 'bad token'));
    await sleep(WINDOW_MS * 4);
    expect(recorded).to.deep.equal([]);
    expect(lines.map((line) => [line.level, line.message, JSON.parse(line.json).lost])).to.deep.equal([
      ['error', 'authentication failures not audited: the audit trail refused them', 2],
    ]);

    refusing = false;
    aggregator.record(failure('tenant-a', 'expired token'));
    await sleep(WINDOW_MS * 4);
    expect(recorded.map((event) => [event.tenant, event.reason, event.details?.count])).to.deep.equal([['tenant-a', 'expired token', 1]]);
    aggregator.record(failure('tenant-b', 'expired token'));
    await aggregator.flush();
    expect(recorded.map((event) => event.tenant)).to.deep.equal(['tenant-a', 'tenant-b']);
    expect(lines).to.have.length(1);
  });
});
