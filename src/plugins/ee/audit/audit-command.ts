import { readFileSync } from 'node:fs';
import type { Engine } from '../../../core/index.js';
import { checkDurationMs, ConfigError } from '../../../core/index.js';
import type { CheckpointOptions } from './checkpoint-settings.js';
import { AuditRetention, MAX_RETENTION_DAYS } from './audit-retention.js';
import { AuditVerifier, parseCheckpointLines, verifyExport } from './audit-verifier.js';
import { keyRing, type ChainVerification } from './chain-verifier.js';

/** The flags `gatehouse audit …` understands. */
export interface AuditCommandFlags {
  readonly tenant?: string;
  readonly from?: string;
  readonly to?: string;
  readonly file?: string;
  readonly 'public-key'?: readonly string[];
  readonly checkpoints?: string;
  readonly 'older-than'?: string;
  readonly json?: boolean;
}

/** A mistake in how the command was called (exit status 2). */
export class AuditUsageError extends Error {
  override readonly name = 'AuditUsageError';
}

const BREAK_WORDS: Record<string, string> = {
  'changed-row': 'changed row',
  'missing-rows': 'missing rows',
  'inserted-row': 'inserted row',
  reordered: 'reordered',
  'bad-signature': 'bad signature',
  'missing-checkpoint': 'missing checkpoint',
};

/** One verification as the CLI prints it. */
export function describeVerification(result: ChainVerification): string {
  if (result.break) {
    const where = result.break.locator ? ` (${result.break.locator})` : '';
    return `Tenant ${result.tenant}: BROKEN at seq ${result.break.seq} — ${BREAK_WORDS[result.break.reason]}: ${result.break.message}${where}.`;
  }
  if (result.rows === 0 && result.checkpoints === 0) return `Tenant ${result.tenant}: no audit rows to verify.`;
  const lines = [`Tenant ${result.tenant}: the audit chain verifies — ${result.rows} row(s) (seq ${result.firstSeq}–${result.lastSeq}), ${result.checkpoints} signed checkpoint(s).`];
  if (result.lastCheckpoint) lines.push(`  Latest checkpoint: seq ${result.lastCheckpoint.seq}, signed ${result.lastCheckpoint.signedAt} with key ${result.lastCheckpoint.keyId}.`);
  else lines.push('  No signed checkpoint: rows deleted from the end of the chain would go unnoticed.');
  if (result.publishedLater) lines.push(`  ${result.publishedLater} published checkpoint(s) were signed after this export was made; verify a newer export against them.`);
  if (!result.anchored) lines.push(`  The range starts at seq ${result.firstSeq}; its first link is taken on trust (no checkpoint there).`);
  return lines.join('\n');
}

function date(value: string | undefined, name: string): Date | undefined {
  if (value === undefined) return undefined;
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime())) throw new AuditUsageError(`--${name} "${value}" is not a date (use ISO 8601, e.g. 2026-11-01T00:00:00Z).`);
  return parsed;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new AuditUsageError(`Cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

/**
 * `gatehouse audit verify|prune`. Returns the exit status: 0 verified (or pruned), 1 a chain
 * does not verify.
 */
export async function auditCommand(action: string | undefined, flags: AuditCommandFlags, openEngine: () => Promise<Engine>, out: (text: string) => void): Promise<number> {
  if (action === 'verify') {
    let keys: ReturnType<typeof keyRing> | undefined;
    if (flags['public-key']?.length) {
      try {
        keys = keyRing(flags['public-key'].map((path) => readText(path, 'the public key')));
      } catch (error) {
        if (error instanceof AuditUsageError) throw error;
        throw new AuditUsageError(`--public-key is not an Ed25519 public key in PEM: ${(error as Error).message}`);
      }
    }
    const published = flags.checkpoints ? parseCheckpointLines(readText(flags.checkpoints, 'the checkpoints file')) : undefined;
    let results: ChainVerification[];
    if (flags.file) {
      if (flags.tenant || flags.from || flags.to) throw new AuditUsageError('--file verifies an export as it is: it takes no --tenant, --from or --to.');
      try {
        results = await verifyExport(readText(flags.file, 'the export'), keys ?? new Map(), published);
      } catch (error) {
        if (error instanceof AuditUsageError) throw error;
        throw new AuditUsageError(`${flags.file}: ${(error as Error).message}`);
      }
      if (results.length === 0) throw new AuditUsageError(`${flags.file} holds no audit events.`);
    } else {
      if (!flags.tenant) throw new AuditUsageError('Use: gatehouse audit verify --tenant T [--from D] [--to D] [--public-key key.pem], or --file export.jsonl --public-key key.pem');
      const from = date(flags.from, 'from');
      const to = date(flags.to, 'to');
      const engine = await openEngine();
      try {
        results = [await engine.resolve(AuditVerifier).verify(flags.tenant, { from, to, keys, published })];
      } finally {
        await engine.close();
      }
    }
    out(flags.json ? `${JSON.stringify(results.length === 1 ? results[0] : results, null, 2)}\n` : `${results.map(describeVerification).join('\n')}\n`);
    return results.every((r) => r.ok) ? 0 : 1;
  }
  if (action === 'prune') {
    const match = /^(\d+)d$/.exec(flags['older-than'] ?? '');
    if (!match || Number(match[1]) <= 0 || Number(match[1]) > MAX_RETENTION_DAYS) {
      throw new AuditUsageError(`Use: gatehouse audit prune --older-than 400d (from 1d to ${MAX_RETENTION_DAYS}d)`);
    }
    const engine = await openEngine();
    try {
      const result = await engine.resolve(AuditRetention).prune(Number(match[1]));
      if (!result.ran) out('Another instance is pruning the audit trail right now; nothing was done.\n');
      else if (result.dropped.length === 0) out(`No month of the audit trail is entirely older than ${match[1]} days; nothing to drop.\n`);
      else {
        out(`Dropped ${result.dropped.length} partition(s): ${result.dropped.join(', ')}.\n`);
        for (const anchor of result.anchors) out(`  Tenant ${anchor.tenant} now starts after seq ${anchor.seq} (checkpoint ${anchor.index} signed there).\n`);
      }
      return 0;
    } finally {
      await engine.close();
    }
  }
  throw new AuditUsageError('Use: gatehouse audit verify … or gatehouse audit prune --older-than 400d');
}

/** The number an environment variable spells in digits (blanks around allowed), or NaN: `0x10`, `1e3` and `12abc` are not numbers here. */
function wholeNumber(text: string): number {
  return /^\s*\d+\s*$/.test(text) ? Number(text) : Number.NaN;
}

/**
 * Audit options from the environment, for the command line: `GATEHOUSE_AUDIT_SIGNING_KEY_FILE`
 * (Ed25519 private key, PEM), `GATEHOUSE_AUDIT_PREVIOUS_KEY_FILES` (comma-separated public keys of
 * earlier signing keys), `GATEHOUSE_AUDIT_CHECKPOINT_FILE`, `GATEHOUSE_AUDIT_CHECKPOINT_WEBHOOK`,
 * `GATEHOUSE_AUDIT_CHECKPOINT_INTERVAL_MS` and `GATEHOUSE_AUDIT_RETENTION_DAYS` (prune daily).
 */
export function auditOptionsFromEnvironment(env: NodeJS.ProcessEnv = process.env): { checkpoints?: CheckpointOptions; retention?: { olderThanDays: number; daily: true } } {
  const read = (path: string, name: string): string => {
    try {
      return readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigError(`${name}: cannot read ${path}: ${(error as Error).message}`);
    }
  };
  const checkpoints: Record<string, unknown> = {};
  if (env.GATEHOUSE_AUDIT_SIGNING_KEY_FILE) checkpoints.signingKey = read(env.GATEHOUSE_AUDIT_SIGNING_KEY_FILE, 'GATEHOUSE_AUDIT_SIGNING_KEY_FILE');
  if (env.GATEHOUSE_AUDIT_PREVIOUS_KEY_FILES) {
    checkpoints.previousKeys = env.GATEHOUSE_AUDIT_PREVIOUS_KEY_FILES.split(',').filter(Boolean).map((path) => read(path.trim(), 'GATEHOUSE_AUDIT_PREVIOUS_KEY_FILES'));
  }
  if (env.GATEHOUSE_AUDIT_CHECKPOINT_FILE) checkpoints.file = env.GATEHOUSE_AUDIT_CHECKPOINT_FILE;
  if (env.GATEHOUSE_AUDIT_CHECKPOINT_WEBHOOK) checkpoints.webhook = env.GATEHOUSE_AUDIT_CHECKPOINT_WEBHOOK;
  if (env.GATEHOUSE_AUDIT_CHECKPOINT_INTERVAL_MS) {
    const text = env.GATEHOUSE_AUDIT_CHECKPOINT_INTERVAL_MS;
    const ms = wholeNumber(text);
    if (Number.isNaN(ms)) throw new ConfigError(`GATEHOUSE_AUDIT_CHECKPOINT_INTERVAL_MS must be a whole number of milliseconds, not ${JSON.stringify(text.slice(0, 40))}.`);
    checkpoints.intervalMs = checkDurationMs(ms, 'GATEHOUSE_AUDIT_CHECKPOINT_INTERVAL_MS');
  }
  const options: { checkpoints?: CheckpointOptions; retention?: { olderThanDays: number; daily: true } } = {};
  if (Object.keys(checkpoints).length) options.checkpoints = checkpoints as CheckpointOptions;
  if (env.GATEHOUSE_AUDIT_RETENTION_DAYS) {
    const days = wholeNumber(env.GATEHOUSE_AUDIT_RETENTION_DAYS);
    if (!(days >= 1 && days <= MAX_RETENTION_DAYS)) {
      throw new ConfigError(`GATEHOUSE_AUDIT_RETENTION_DAYS must be a whole number of days from 1 to ${MAX_RETENTION_DAYS}, not ${JSON.stringify(env.GATEHOUSE_AUDIT_RETENTION_DAYS.slice(0, 40))}.`);
    }
    options.retention = { olderThanDays: days, daily: true };
  }
  return options;
}
