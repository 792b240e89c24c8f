import { appendFile } from 'node:fs/promises';
import { sign, type KeyObject } from 'node:crypto';
import { inject, injectable } from 'inversify';
import type { Knex } from 'knex';
import { Database, Logger, safeLog, type LifecycleContribution } from '../../../core/index.js';
import { checkpointMessage, checkpointOfRow, type Checkpoint } from './audit-chain.js';
import { CHAIN_HEADS_TABLE, CHECKPOINTS_TABLE } from './audit-partitions.js';
import { CheckpointSettings } from './checkpoint-settings.js';

/** Held (per transaction) while checkpoints are signed, so two instances never sign the same index. */
const CHECKPOINT_LOCK = 7_240_014_001;

/** A checkpoint as one line of an export or of the published file. */
export function checkpointLine(checkpoint: Checkpoint): Record<string, unknown> {
  return { type: 'checkpoint', ...checkpoint };
}

/**
 * Signs the chain heads that moved since their last checkpoint: every `intervalMs`, after the
 * final flush at shutdown, and when retention cuts a chain. Stores each checkpoint in
 * `mcp_audit_checkpoints` and publishes it outward (a JSON Lines file and/or a webhook), so a
 * deleted tail is detectable even by someone who cannot trust the database. Without a signing key
 * it does nothing.
 */
@injectable()
export class AuditCheckpointer implements LifecycleContribution {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<Checkpoint[]> | undefined;

  constructor(
    @inject(Database) private readonly database: Database,
    @inject(CheckpointSettings) private readonly settings: CheckpointSettings,
    @inject(Logger) private readonly logger: Logger,
  ) {}

  /** Public keys the verifier accepts, by key id (the signing key's and those of earlier keys). */
  get keys(): ReadonlyMap<string, KeyObject> {
    return this.settings.verificationKeys;
  }

  get enabled(): boolean {
    return this.settings.signingKey !== undefined;
  }

  async start(): Promise<void> {
    if (!this.enabled) return;
    this.timer = setInterval(() => {
      void this.checkpoint().catch((error: unknown) => safeLog(this.logger, 'warn', { err: error }, 'audit checkpoint failed; retrying at the next interval'));
    }, this.settings.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The last checkpoint, signed after the audit sink's final flush. */
  async final(): Promise<void> {
    if (!this.enabled) return;
    try {
      const signed = await this.checkpoint();
      if (signed.length) safeLog(this.logger, 'info', { checkpoints: signed.length }, 'audit chain heads signed at shutdown');
    } catch (error) {
      safeLog(this.logger, 'error', { err: error }, 'could not sign the audit chain heads at shutdown');
    }
  }

  /** Sign every chain head that moved since its tenant's last checkpoint. */
  checkpoint(): Promise<Checkpoint[]> {
    this.running ??= this.signHeads().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async signHeads(): Promise<Checkpoint[]> {
    const signed = await this.database.knex.transaction(async (trx) => {
      const locked = (await trx.raw('select pg_try_advisory_xact_lock(?) as locked', [CHECKPOINT_LOCK])) as { rows: { locked: boolean }[] };
      if (!locked.rows[0]?.locked) return [];
      const moved = (await trx.raw(
        `select h.tenant, h.seq, h.hash, coalesce(c.index, 0) as last_index from ?? h
         left join lateral (select index, seq from ?? where tenant = h.tenant order by index desc limit 1) c on true
         where h.seq > 0 and (c.seq is null or c.seq <> h.seq)`,
        [CHAIN_HEADS_TABLE, CHECKPOINTS_TABLE],
      )) as { rows: { tenant: string; seq: string; hash: string; last_index: number }[] };
      const out: Checkpoint[] = [];
      for (const head of moved.rows) out.push(await this.insert(trx, head.tenant, Number(head.last_index) + 1, Number(head.seq), head.hash));
      return out;
    });
    await this.publish(signed);
    return signed;
  }

  /**
   * Sign and store a checkpoint of `tenant` at `seq` (whose row hash is `hash`) unless one exists:
   * retention's anchor at the new start of a chain. Runs in `trx`, which must hold no other lock.
   */
  async anchor(trx: Knex.Transaction, tenant: string, seq: number, hash: string): Promise<Checkpoint | undefined> {
    if (!this.enabled) throw new Error('audit checkpoints need a signing key');
    await trx.raw('select pg_advisory_xact_lock(?)', [CHECKPOINT_LOCK]);
    const existing = await trx(CHECKPOINTS_TABLE).where({ tenant, seq }).first();
    if (existing) return undefined;
    const last = (await trx(CHECKPOINTS_TABLE).where({ tenant }).max('index as index').first()) as { index: number | null } | undefined;
    return this.insert(trx, tenant, Number(last?.index ?? 0) + 1, seq, hash);
  }

  private async insert(trx: Knex.Transaction, tenant: string, index: number, seq: number, hash: string): Promise<Checkpoint> {
    const unsigned = { tenant, index, seq, hash, signedAt: new Date().toISOString(), keyId: this.settings.keyId! };
    const signature = sign(null, checkpointMessage(unsigned), this.settings.signingKey!).toString('base64url');
    const checkpoint: Checkpoint = { ...unsigned, signature };
    await trx(CHECKPOINTS_TABLE).insert({ tenant, index, seq, hash, signed_at: new Date(unsigned.signedAt), key_id: unsigned.keyId, signature });
    return checkpoint;
  }

  /** Write checkpoints to the configured file and webhook; failures are logged, never thrown. */
  async publish(checkpoints: readonly Checkpoint[]): Promise<void> {
    if (checkpoints.length === 0) return;
    const { file, webhook } = this.settings;
    if (file) {
      try {
        await appendFile(file, checkpoints.map((c) => `${JSON.stringify(checkpointLine(c))}\n`).join(''), { mode: 0o644 });
      } catch (error) {
        safeLog(this.logger, 'error', { err: error, file, checkpoints: checkpoints.length }, 'could not publish audit checkpoints to the file');
      }
    }
    if (webhook) {
      try {
        const response = await fetch(webhook, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ checkpoints }),
          signal: AbortSignal.timeout(5_000),
        });
        if (!response.ok) throw new Error(`the webhook answered ${response.status}`);
      } catch (error) {
        safeLog(this.logger, 'error', { err: error, webhook, checkpoints: checkpoints.length }, 'could not publish audit checkpoints to the webhook');
      }
    }
  }

  /** Every stored checkpoint of `tenant`. */
  async list(tenant: string, knex: Knex = this.database.knex): Promise<Checkpoint[]> {
    const read = () => knex(CHECKPOINTS_TABLE).where({ tenant }).orderBy('index');
    // On the pool (not inside a caller's transaction) a read on a connection found lost is run again.
    const rows = (knex === this.database.knex ? await this.database.read(read) : await read()) as Record<string, unknown>[];
    return rows.map(checkpointOfRow);
  }
}
