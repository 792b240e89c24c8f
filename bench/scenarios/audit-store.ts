import type { BenchDatabases } from '../harness/databases.js';
import { loadEnterprise } from './enterprise-availability.js';

export type AuditStoreResult =
  | { readonly available: false; readonly rows: number; readonly reason: string }
  | {
      readonly available: true;
      readonly rows: number;
      readonly insertSeconds: number;
      readonly query: { readonly samples: number; readonly rowsPerPage: number; readonly p50Ms: number; readonly p95Ms: number };
      readonly export: { readonly format: string; readonly rows: number; readonly seconds: number; readonly rowsPerSecond: number; readonly peakRssMb: number };
    };

/** Audit query and streamed export over many generated audit rows, through the Enterprise admin API. */
export async function measureAuditStore(_databases: BenchDatabases, rows: number, log: (message: string) => void): Promise<AuditStoreResult> {
  const loaded = await loadEnterprise();
  if ('reason' in loaded) {
    log(`audit query/export: not available (${loaded.reason})`);
    return { available: false, rows, reason: loaded.reason };
  }
  return { available: false, rows, reason: 'not wired yet' };
}
