import type { BenchDatabases } from '../harness/databases.js';
import type { ServerHandle, StartOptions } from '../harness/processes.js';

export type ScenarioName = 'limit' | 'sdk' | 'ce' | 'ce-otel' | 'ee-key' | 'ee-jwt' | 'ee-otel' | 'ee-durable' | 'ee-policy' | 'fleet';

/** One way of answering the benchmark's `tools/call`: where to send it and with which credential. */
export interface Scenario {
  readonly name: ScenarioName;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** The server process answering it. */
  readonly server: ServerHandle;
}

/** Audit completeness after the load: every executed call must have left exactly one row. */
export interface AuditCheck {
  readonly toolCalls: number;
  readonly auditRows: number;
  /** auditRows − toolCalls; must be 0. */
  readonly difference: number;
}

/** A set of scenarios served by server processes of their own, started and stopped together. */
export interface ScenarioGroup {
  readonly scenarios: readonly Scenario[];
  /** Stop the servers gracefully; report audit completeness where the edition audits. */
  stop(): Promise<AuditCheck | undefined>;
}

export interface ScenarioModule {
  readonly names: readonly ScenarioName[];
  /** Why the scenarios cannot run on this checkout, or undefined when they can. */
  unavailable(): Promise<string | undefined>;
  start(databases: BenchDatabases, options?: StartOptions): Promise<ScenarioGroup>;
}
