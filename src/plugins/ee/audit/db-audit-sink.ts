import { randomUUID } from 'node:crypto';
import { inject, injectable, optional } from 'inversify';
import type { Knex } from 'knex';
import pg from 'pg';
import { AuditUnavailableError, Database, answeredByServer, Logger, Telemetry, isUuid, queryInTurn, safeLog, type LifecycleContribution, type Principal, type AuditEvent, type AuditSink } from '../../../core/index.js';
import { AGENT_KIND, type AgentAttributes } from '../contracts.js';
import { GENESIS_HASH, canonicalJsonText, rowHash } from './audit-chain.js';
import { AUDIT_TABLE, CHAIN_HEADS_TABLE, ensurePartition, partitionName } from './audit-partitions.js';
import { AuditSinkSettings } from './audit-sink-settings.js';
import { AuditCheckpointer } from './audit-checkpointer.js';
import { argumentsDigest, redactor } from './redaction.js';

export { AUDIT_TABLE } from './audit-partitions.js';

/** A row of `mcp_agent_audit` before it takes its place in the chain (`seq`, `prev_hash`, `hash`). */
export interface AuditRow {
  event_id: string;
  tenant: string;
  occurred_at: Date;
  principal_kind: string | null;
  principal_id: string | null;
  principal_label: string | null;
  agent_id: string | null;
  key_id: string | null;
  issuer: string | null;
  subject: string | null;
  action: string;
  target: string | null;
  decision: string;
  reason: string | null;
  outcome: string;
  arguments_digest: string | null;
  arguments: string | null;
  latency_ms: number | null;
  request_id: string;
  client_address: string | null;
  details: string | null;
}

interface Pending {
  readonly row: AuditRow;
  /** An intent (durable before execute): its caller waits for the commit. */
  readonly intent?: Intent;
  /** The intent this event completes. */
  readonly completes?: string;
  /** Position in recording order. */
  readonly n: number;
  /** Writes tried so far; after a failed one the rows may be stored already (commit lost on the wire). */
  attempts: number;
  /** The canonical JSON of `row.arguments` and `row.details` for the hash, made once (valid while `text` is the row's). */
  argumentsJson?: CanonicalJson;
  detailsJson?: CanonicalJson;
}

/** The caller of a durable call, waiting for its intent's commit until `timer` gives up. */
interface Intent {
  resolve(id: string): void;
  reject(error: Error): void;
  timer?: NodeJS.Timeout;
  /** Given up on (its caller was refused); if it is written all the same, the call is recorded as not run. */
  expired?: boolean;
}

/** The canonical JSON (as the chain hashes it) of a stored JSON text. */
interface CanonicalJson {
  readonly text: string | null;
  readonly canonical: string;
}

/** The part of knex's client that lends and takes back the pool's connections. */
interface PoolClient {
  acquireConnection(): Promise<PooledConnection>;
  releaseConnection(connection: PooledConnection): Promise<unknown>;
  readonly pool?: { numPendingAcquires(): number };
}

/** A connection of knex's pool, marked by knex once it failed or ended. */
type PooledConnection = pg.Client & { __knex__disposed?: unknown };

/** A row's place in its tenant's chain. */
interface Link {
  readonly seq: number;
  readonly prev_hash: string;
  readonly hash: string;
}

/** The arguments of an intent as stored, and the value they were made from. */
interface StoredArguments {
  readonly source: unknown;
  readonly arguments: string | null;
  readonly digest: string | null;
  readonly json: CanonicalJson;
}

// PostgreSQL refuses NUL in text and jsonb, and the driver would replace lone surrogates: store
// (and hash) exactly what PostgreSQL keeps.
const NUL = /\u0000/g;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const NEEDS_CLEANING = /[\u0000\uD800-\uDFFF]/;
const clean = (value: string): string => (NEEDS_CLEANING.test(value) ? value.replace(NUL, '\uFFFD').replace(LONE_SURROGATE, '\uFFFD') : value);
const text = (value: unknown): string | null => (value == null ? null : clean(typeof value === 'string' ? value : String(value)));
const uuidOrNull = (value: unknown): string | null => (typeof value === 'string' && isUuid(value) ? value.toLowerCase() : null);
const stringOf = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);
/**
 * A NUL escaped in JSON text: `\u0000` whose backslash follows an even number of backslashes (none
 * included). After an odd number, that backslash ends an escaped backslash: `\\u0000` in JSON is
 * the text `\u0000` of a string, six characters, and is stored as it is.
 */
const ESCAPED_NUL = /(?<!\\)((?:\\\\)*)\\u0000/g;
/** Details that name the intent they complete (details a redaction function made into something else stay as they are). */
const withIntentId = (details: unknown, intentId: string): unknown =>
  details === undefined ? { intentId } : details !== null && typeof details === 'object' && !Array.isArray(details) ? { ...details, intentId } : details;
const storedJson = (value: unknown): string | null => {
  const json = JSON.stringify(value);
  return json === undefined ? null : clean(json.replace(ESCAPED_NUL, '$1\\ufffd'));
};
// Data errors (class 22) and constraint violations (class 23) do not go away on retry.
const isDataError = (error: unknown): boolean => /^2[23]/.test(String((error as { code?: unknown })?.code ?? ''));
/** The error a one-statement append raises when a chain head is not where this writer left it. */
const HEAD_MOVED = 'gatehouse audit chain head moved';
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

/**
 * The Enterprise audit trail in `mcp_agent_audit`. `record()` only redacts and enqueues; a
 * background writer appends multi-row batches to each tenant's hash chain (seq and hashes are
 * assigned inside the INSERT's transaction, under a lock on the tenant's chain head, so any number
 * of instances can write), retries failed writes with backoff and never stores an event twice (a
 * retry first skips the event ids already stored). Past `maxBuffered` pending events
 * `accepting()` turns false and the engine refuses new calls; past the hard cap (10 % more, for
 * calls already running) `record()` itself refuses with `AuditUnavailableError`.
 */
/** Two-key advisory lock an instance holds for its lifetime; free means the instance is gone. */
const INSTANCE_LOCK = 7_240_014;
const OPEN_INTENTS_TABLE = 'mcp_audit_open_intents';
/** Rows per INSERT of the transactional append: 24 columns each, well within a statement's 65,535 parameters. */
const ROWS_PER_INSERT = 1_000;
/** The most open intents of a dead instance recovered at a time. */
const RECOVERY_PAGE = 500;
/**
 * The text of the one-statement append, with `value()` for each value's placeholder and `table()`
 * for each table's name, in the order {@link DbAuditSink} passes them: the heads' five arrays, the
 * rows as one JSON text (an object per row, keyed by column, with `opens` and `completes` for the
 * intents it opens and closes), this instance's id, the number of heads and of rows.
 */
function appendStatement(marker: string, value: () => string, table: (name: string) => string): string {
  const heads = `/* ${marker} */ with v(tenant, old_seq, old_hash, seq, hash) as (select * from unnest(${['text', 'bigint', 'text', 'bigint', 'text'].map((type) => `${value()}::${type}[]`).join(', ')}))`;
  const moved = `, moved as (update ${table(CHAIN_HEADS_TABLE)} as h set seq = v.seq, hash = v.hash from v where h.tenant = v.tenant and h.seq = v.old_seq and h.hash = v.old_hash returning h.tenant)`;
  // The jsonb columns travel as their JSON text; the insert reads it as jsonb.
  const fields = ROW_COLUMNS.map(([name, type]) => `"${name}" ${type === 'jsonb' ? 'text' : type}`).join(', ');
  const rows = `, r as (select * from json_to_recordset(${value()}::json) as r(${fields}, opens boolean, completes uuid))`;
  const stored =
    `, stored as (insert into ${table(AUDIT_TABLE)} (${ROW_COLUMNS.map(([name]) => `"${name}"`).join(', ')})` +
    ` select ${ROW_COLUMNS.map(([name, type]) => (type === 'jsonb' ? `"${name}"::jsonb` : `"${name}"`)).join(', ')} from r` +
    ` on conflict (event_id, occurred_at) do nothing returning event_id)`;
  const opened = `, opened as (insert into ${table(OPEN_INTENTS_TABLE)} (event_id, tenant, instance_id, occurred_at) select event_id, tenant, ${value()}::text, occurred_at from r where opens on conflict (event_id) do nothing)`;
  const closed = `, closed as (delete from ${table(OPEN_INTENTS_TABLE)} where event_id in (select completes from r where completes is not null))`;
  const headCount = value();
  const rowCount = value();
  const check =
    ` select case when (select count(*) from moved) = ${headCount} and (select count(*) from stored) = ${rowCount} then 1` +
    ` else cast(concat('${HEAD_MOVED}: heads ', (select count(*) from moved), ', rows ', (select count(*) from stored)) as integer) end as ok`;
  return heads + moved + rows + stored + opened + closed + check;
}

/**
 * The event that completes a chained intent whose call never recorded its own outcome: its
 * instance died (`unknown`), or it was refused for waiting too long (`refused`).
 */
function completion(intent: Record<string, any>, outcome: 'unknown' | 'refused', reason: string, details?: Record<string, unknown>): AuditEvent {
  const principal = intent.principal_kind
    ? ({
        tenant: intent.tenant,
        kind: intent.principal_kind,
        id: intent.principal_id ?? '',
        label: intent.principal_label ?? '',
        scopes: [],
        attributes: { agentId: intent.agent_id ?? undefined, keyId: intent.key_id ?? undefined, issuer: intent.issuer ?? undefined, subject: intent.subject ?? undefined },
      } satisfies Principal)
    : undefined;
  return {
    time: new Date(),
    tenant: intent.tenant,
    principal,
    action: intent.action,
    target: intent.target ?? undefined,
    decision: 'allowed',
    reason,
    outcome,
    arguments: undefined,
    latencyMs: undefined,
    requestId: intent.request_id,
    clientAddress: intent.client_address ?? undefined,
    ...(details ? { details } : {}),
    intentId: intent.event_id,
  };
}

/** The columns of a chained row and their types. */
const ROW_COLUMNS: readonly (readonly [string, string])[] = [
  ['event_id', 'uuid'], ['tenant', 'text'], ['seq', 'bigint'], ['prev_hash', 'text'], ['hash', 'text'], ['occurred_at', 'timestamptz'],
  ['principal_kind', 'text'], ['principal_id', 'text'], ['principal_label', 'text'], ['agent_id', 'uuid'], ['key_id', 'uuid'],
  ['issuer', 'text'], ['subject', 'text'], ['action', 'text'], ['target', 'text'], ['decision', 'text'], ['reason', 'text'],
  ['outcome', 'text'], ['arguments_digest', 'text'], ['arguments', 'jsonb'], ['latency_ms', 'double precision'], ['request_id', 'text'],
  ['client_address', 'text'], ['details', 'jsonb'],
];

@injectable()
export class DbAuditSink implements AuditSink, LifecycleContribution {
  private buffer: Pending[] = [];
  private recorded = 0;
  private refused = 0;
  private saturated = false;
  private failures = 0;
  private retryAt = 0;
  private stopped = false;
  private pumping: Promise<void> | undefined;
  /** How many events at the front of `buffer` the write in flight carries. */
  private writing = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly partitions = new Set<string>();
  private readonly redact: (args: unknown) => unknown;
  /** Every statement of this writer carries this comment, so a hung one can be found and cancelled. */
  private readonly instanceId = randomUUID();
  private readonly marker = `gatehouse-audit-writer ${this.instanceId}`;
  private lockClient: pg.Client | undefined;
  /**
   * The one-statement append: compare and swap the chain heads, insert the rows, open and close
   * intents; anything but every head moved and every row stored is an error, which undoes it.
   * As knex takes it (`?` values, `??` table names), and as a PostgreSQL server takes it straight
   * from a pooled connection (`$n` values, table names in the text): knex does not build the same
   * text again for every write.
   */
  private readonly appendStatement = appendStatement(this.marker, () => '?', () => '??');
  private readonly nativeAppendStatement = ((): string => {
    let n = 0;
    return appendStatement(this.marker, () => `$${++n}`, (table) => `"${table}"`);
  })();
  /** The stored arguments of intents whose outcome is not recorded yet, by intent id. */
  private readonly intentArguments = new Map<string, StoredArguments>();
  /** The chain heads as this writer's last committed write left them (cleared on any doubt). */
  private readonly heads = new Map<string, { seq: number; hash: string }>();
  readonly hardCap: number;
  /** Open intents of a dead instance claimed and completed at a time (well inside the buffer). */
  private readonly recoveryPage: number;

  constructor(
    @inject(Database) private readonly database: Database,
    @inject(AuditSinkSettings) private readonly settings: AuditSinkSettings,
    @inject(Logger) private readonly logger: Logger,
    @inject(Telemetry) private readonly telemetry: Telemetry,
    @inject(AuditCheckpointer) @optional() private readonly checkpointer?: AuditCheckpointer,
  ) {
    this.redact = redactor(settings.redaction);
    this.hardCap = settings.maxBuffered + Math.ceil(settings.maxBuffered / 10);
    this.recoveryPage = Math.max(1, Math.min(RECOVERY_PAGE, Math.floor(settings.maxBuffered / 2)));
    telemetry.observe('gatehouse.audit.queue.depth', { description: 'Audit events recorded but not yet written.', unit: '{event}' }, (observe) => observe(this.buffer.length));
  }

  record(event: AuditEvent): void {
    this.enqueue(event);
  }

  recordIntent(event: AuditEvent): Promise<string> {
    return new Promise((resolve, reject) => {
      const intent: Intent = { resolve, reject };
      try {
        this.enqueue(event, intent);
      } catch (error) {
        reject(error);
        return;
      }
      intent.timer = setTimeout(() => this.expire(intent), this.settings.intentTimeoutMs).unref();
      // Group commit: the intents of calls that arrive in the same turn of the event loop go in one
      // write, and those that arrive while a write is running together in the next one.
      this.kickSoon();
    });
  }

  /**
   * An intent not committed in time (the database is down, or a write hangs): its call is refused
   * and never runs. An intent no write has carried yet becomes the record of that refusal; one a
   * write has carried may be stored already, so it stays, and once it is written its call is
   * recorded as not run.
   */
  private expire(intent: Intent): void {
    intent.expired = true;
    const at = this.buffer.findIndex((item) => item.intent === intent);
    const waiting = this.buffer[at];
    if (waiting && at >= this.writing && waiting.attempts === 0) {
      this.intentArguments.delete(waiting.row.event_id);
      const { intent: _, ...item } = waiting;
      this.buffer[at] = { ...item, row: { ...item.row, outcome: 'refused', reason: `the audit intent could not be written within ${this.settings.intentTimeoutMs} ms; the call did not run` } };
    }
    intent.reject(new AuditUnavailableError(`The audit intent could not be written within ${this.settings.intentTimeoutMs} ms; the call was not run.`));
  }

  durableByDefault(tool: { readonly annotations?: { readonly readOnlyHint?: boolean } }): boolean {
    return this.settings.durableWrites === true && tool.annotations?.readOnlyHint !== true;
  }

  private enqueue(event: AuditEvent, intent?: Pending['intent']): void {
    if (this.buffer.length >= this.hardCap || this.stopped) {
      this.refused++;
      if (this.refused === 1 || this.refused % 1000 === 0) {
        safeLog(this.logger, 'error', { refused: this.refused, pending: this.buffer.length, hardCap: this.hardCap }, 'audit buffer at its hard cap: refusing requests that need an audit record');
      }
      throw new AuditUnavailableError('The audit trail cannot take more events now; the request was refused.');
    }
    // An outcome stores the arguments its intent stored (the same value, redacted and digested once).
    const stored = event.intentId === undefined ? undefined : this.intentArguments.get(event.intentId);
    if (stored) this.intentArguments.delete(event.intentId!);
    let row: AuditRow;
    try {
      row = this.toRow(event, stored?.source === event.arguments ? stored : undefined);
    } catch (error) {
      row = { ...this.toRow({ ...event, arguments: undefined, details: undefined }), details: storedJson({ auditError: `arguments not storable: ${(error as Error).message}` }) };
    }
    // The intent's arguments are hashed once, for its row and its outcome's.
    const argumentsJson = stored?.json.text === row.arguments ? stored.json : intent && row.arguments !== null ? { text: row.arguments, canonical: canonicalJsonText(row.arguments) } : undefined;
    if (intent && event.arguments !== undefined && this.intentArguments.size < this.hardCap) {
      this.intentArguments.set(row.event_id, { source: event.arguments, arguments: row.arguments, digest: row.arguments_digest, json: argumentsJson ?? { text: row.arguments, canonical: canonicalJsonText(row.arguments) } });
    }
    // Details that only name the intent, stored as JSON.stringify wrote them, are their own canonical JSON (one key).
    const onlyIntent = event.intentId === undefined ? undefined : `{"intentId":${JSON.stringify(event.intentId)}}`;
    const detailsJson = onlyIntent !== undefined && row.details === onlyIntent ? { text: onlyIntent, canonical: onlyIntent } : undefined;
    this.buffer.push({ row, n: ++this.recorded, attempts: 0, ...(intent ? { intent } : {}), ...(event.intentId ? { completes: event.intentId } : {}), ...(argumentsJson ? { argumentsJson } : {}), ...(detailsJson ? { detailsJson } : {}) });
    if (this.buffer.length >= this.settings.maxBuffered && !this.saturated) {
      this.saturated = true;
      safeLog(this.logger, 'error', { pending: this.buffer.length }, 'audit buffer full: refusing new calls until it drains');
    }
    this.timer ??= setInterval(() => this.kick(), this.settings.flushIntervalMs).unref();
    if (this.buffer.length >= this.settings.batchSize) this.kick();
  }

  /**
   * At start-up: hold this instance's liveness lock, then record every intent left open by an
   * instance that is gone (its lock is free) as outcome `unknown`.
   */
  async start(): Promise<void> {
    if (this.database.kind === 'postgres') await this.holdLiveness();
    await this.recoverIntents();
  }

  /**
   * Take this instance's liveness lock on a connection of its own. When that connection is lost
   * (a database restart, a terminated backend) the lock goes with it, and this instance would look
   * dead to one that starts: the lock is taken again on a new connection, retrying until it holds.
   */
  private async holdLiveness(): Promise<void> {
    const settings = (this.database.knex.client as { connectionSettings?: string | pg.ClientConfig }).connectionSettings;
    const client = new pg.Client(typeof settings === 'string' ? { connectionString: settings } : settings);
    client.on('error', (error) => safeLog(this.logger, 'warn', { err: error }, 'the audit liveness connection failed'));
    client.on('end', () => {
      if (this.lockClient !== client) return;
      this.lockClient = undefined;
      void this.regainLiveness();
    });
    try {
      await client.connect();
      await client.query('select pg_advisory_lock($1, hashtext($2))', [INSTANCE_LOCK, this.instanceId]);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    // Closed meanwhile: the lock is not held for an instance that is going away.
    if (this.stopped) await client.end().catch(() => undefined);
    else this.lockClient = client;
  }

  private async regainLiveness(): Promise<void> {
    for (let delay = this.settings.retryDelayMs; !this.stopped && !this.lockClient; delay = Math.min(delay * 2, this.settings.maxRetryDelayMs)) {
      try {
        await this.holdLiveness();
        safeLog(this.logger, 'info', {}, 'the audit liveness lock is held again');
        return;
      } catch (error) {
        safeLog(this.logger, 'warn', { err: error, retryInMs: delay }, 'the audit liveness lock could not be taken again; retrying');
        await sleep(delay);
      }
    }
  }

  /** Record the open intents of dead instances as outcome `unknown`. Returns how many. */
  async recoverIntents(): Promise<number> {
    const knex = this.database.knex;
    const others = (await knex(OPEN_INTENTS_TABLE).whereNot({ instance_id: this.instanceId }).distinct('instance_id')) as { instance_id: string }[];
    let recovered = 0;
    let instances = 0;
    for (const { instance_id: instance } of others) {
      if (this.database.kind === 'postgres') {
        // Without a connection to ask, no instance can be told dead.
        if (!this.lockClient) break;
        // Recoveries running at once share the liveness connection: their queries there take turns.
        const lockClient = this.lockClient;
        const free = await queryInTurn<{ free: boolean }>(lockClient, 'select pg_try_advisory_lock($1, hashtext($2)) as free', [INSTANCE_LOCK, instance]);
        if (!free.rows[0]?.free) continue;
        await queryInTurn(lockClient, 'select pg_advisory_unlock($1, hashtext($2))', [INSTANCE_LOCK, instance]);
      }
      // Taken over a page at a time, each page in one statement: from there they are this instance's
      // open intents, so an instance recovering at the same time finds none of them, and they are
      // recovered again if this one dies. A page fits in the buffer and is written before the next
      // is claimed, however many intents the dead instance left.
      let claimedAny = false;
      for (;;) {
        // Rows another recovering instance is claiming are skipped; the outer condition is checked again
        // on a row that changed while this statement waited for it.
        const page = knex(OPEN_INTENTS_TABLE).select('event_id').where({ instance_id: instance }).limit(this.recoveryPage).forUpdate().skipLocked();
        const claimed = (await knex(OPEN_INTENTS_TABLE)
          .where({ instance_id: instance })
          .whereIn('event_id', page)
          .update({ instance_id: this.instanceId })
          .returning('event_id')) as { event_id: string }[];
        if (claimed.length === 0) break;
        claimedAny = true;
        const ids = claimed.map((open) => open.event_id);
        const intents = (await knex(AUDIT_TABLE).whereRaw('event_id = any(?::uuid[])', [ids])) as Record<string, any>[];
        for (const intent of intents) {
          this.record(completion(intent, 'unknown', 'the instance running this call stopped before recording its outcome', { instance }));
          recovered++;
        }
        // Intents whose audit row never committed have nothing to complete.
        const found = new Set(intents.map((intent) => String(intent.event_id)));
        const orphans = ids.filter((id) => !found.has(id));
        if (orphans.length) await knex(OPEN_INTENTS_TABLE).whereRaw('event_id = any(?::uuid[])', [orphans]).delete();
        await this.flush();
      }
      if (claimedAny) instances++;
    }
    if (recovered > 0) {
      safeLog(this.logger, 'warn', { intents: recovered, instances }, 'calls of stopped instances recorded with outcome unknown');
    }
    return recovered;
  }

  async stop(): Promise<void> {}

  accepting(): boolean {
    return !this.saturated && !this.stopped;
  }

  /** Events recorded but not yet written. */
  pending(): number {
    return this.buffer.length;
  }

  async flush(timeoutMs = this.settings.flushTimeoutMs): Promise<void> {
    const target = this.recorded;
    const started = Date.now();
    const deadline = started + timeoutMs;
    let nextProgress = started + this.settings.progressLogMs;
    while (this.buffer.length > 0 && this.buffer[0]!.n <= target) {
      const now = Date.now();
      if (now >= deadline) {
        throw new AuditUnavailableError(`${this.buffer.filter((p) => p.n <= target).length} audit event(s) could not be written to the database.`);
      }
      if (now >= nextProgress) {
        nextProgress = now + this.settings.progressLogMs;
        safeLog(this.logger, 'warn', { pending: this.buffer.length, waitedMs: now - started, timeoutMs }, 'still writing audit events');
      }
      const wait = Math.min(deadline - now, nextProgress - now);
      if (this.pumping) await Promise.race([this.pumping, sleep(wait)]);
      else if (now < this.retryAt) await sleep(Math.min(this.retryAt - now, wait));
      else {
        this.kick();
        if (!this.pumping) await sleep(Math.min(10, wait));
      }
    }
  }

  /**
   * Write what is buffered, within `flushTimeoutMs` even when a write hangs (a lock on the table):
   * then the hung statement is cancelled and the number of events lost is logged. Signs a final
   * checkpoint when checkpoints are configured.
   */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    try {
      await this.flush();
    } catch (error) {
      this.stopped = true;
      const lost = this.buffer.length;
      await this.cancelWrites();
      this.refuseIntents(this.buffer);
      this.buffer = [];
      safeLog(this.logger, 'error', { err: error, lost }, `audit events lost at shutdown: ${lost} event(s) could not be written within ${this.settings.flushTimeoutMs} ms`);
      await this.releaseLiveness();
      return;
    }
    this.stopped = true;
    this.refuseIntents(this.buffer);
    await this.checkpointer?.final();
    await this.releaseLiveness();
  }

  private async releaseLiveness(): Promise<void> {
    const client = this.lockClient;
    this.lockClient = undefined;
    await client?.end().catch(() => undefined);
  }

  private async cancelWrites(): Promise<void> {
    const writing = this.pumping;
    if (this.database.kind === 'postgres') {
      const cancel = this.database.knex
        .raw(`select pg_cancel_backend(pid) from pg_stat_activity where pid <> pg_backend_pid() and query like ?`, [`%${this.marker}%`])
        .catch((error: unknown) => safeLog(this.logger, 'warn', { err: error }, 'could not cancel the audit write'));
      await Promise.race([cancel, sleep(2_000)]);
    }
    if (writing) await Promise.race([writing, sleep(2_000)]);
  }

  private kickScheduled = false;

  private kickSoon(): void {
    if (this.kickScheduled) return;
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      this.kick();
    });
  }

  private kick(): void {
    if (this.stopped || this.pumping || this.buffer.length === 0 || Date.now() < this.retryAt) return;
    // Started by a timer, awaited by no one unless a flush waits for it: whatever escapes a write
    // round is logged here, and the next kick tries again.
    this.pumping = this.pump()
      .catch((error: unknown) => safeLog(this.logger, 'error', { err: error, pending: this.buffer.length }, 'audit write round failed; retrying'))
      .finally(() => {
        this.pumping = undefined;
      });
  }

  private async pump(): Promise<void> {
    try {
      await this.writeWhileBuffered();
    } finally {
      await this.releaseAppendConnection();
    }
  }

  /** The pooled connection of the one-statement append, held from one write to the next while events keep coming. */
  private appendConnection: PooledConnection | undefined;

  private async releaseAppendConnection(): Promise<void> {
    const connection = this.appendConnection;
    this.appendConnection = undefined;
    if (connection) await (this.database.knex.client as PoolClient).releaseConnection(connection);
  }

  private async writeWhileBuffered(): Promise<void> {
    while (this.buffer.length > 0 && !this.stopped) {
      const batch = this.buffer.slice(0, this.settings.batchSize);
      this.writing = batch.length;
      try {
        await this.telemetry.span('gatehouse.audit.flush', undefined, () => this.write(batch), { 'gatehouse.audit.events': batch.length });
      } catch (error) {
        this.writing = 0;
        for (const item of batch) item.attempts++;
        this.telemetry.auditWriteFailed();
        this.failures++;
        const delay = Math.min(this.settings.maxRetryDelayMs, this.settings.retryDelayMs * 2 ** (this.failures - 1));
        this.retryAt = Date.now() + delay;
        if (this.failures === 1 || this.failures % 20 === 0) {
          safeLog(this.logger, 'warn', { err: error, pending: this.buffer.length, failures: this.failures, retryInMs: delay }, 'audit write failed; retrying');
        }
        return;
      }
      this.writing = 0;
      this.buffer.splice(0, batch.length);
      for (const { intent, row } of batch) {
        if (!intent) continue;
        clearTimeout(intent.timer);
        if (!intent.expired) intent.resolve(row.event_id);
        else this.completeRefused(row);
      }
      this.telemetry.auditWrite(batch.map((item) => item.row.occurred_at));
      if (this.failures > 0) safeLog(this.logger, 'info', { failures: this.failures }, 'audit writes recovered');
      this.failures = 0;
      this.retryAt = 0;
      if (this.saturated && this.buffer.length <= Math.floor(this.settings.maxBuffered / 2)) {
        this.saturated = false;
        safeLog(this.logger, 'info', { pending: this.buffer.length }, 'audit buffer drained: accepting calls again');
      }
    }
  }

  /** Close the intent of a call refused for waiting too long, written all the same: the call did not run. */
  private completeRefused(intent: AuditRow): void {
    try {
      this.record(completion(intent, 'refused', 'the intent was written after the call had been refused for waiting too long; the call did not run'));
    } catch (error) {
      safeLog(this.logger, 'error', { err: error, intent: intent.event_id }, 'the intent of a refused call stays open: its completion could not be recorded');
    }
  }

  /** Intents that will not be written now: their calls must not run. */
  private refuseIntents(items: readonly Pending[]): void {
    for (const { intent } of items) {
      if (!intent || intent.expired) continue;
      clearTimeout(intent.timer);
      intent.reject(new AuditUnavailableError('The audit trail is closing; the call was not run.'));
    }
  }

  private async write(batch: Pending[]): Promise<void> {
    for (const { row } of batch) {
      const name = partitionName(row.occurred_at);
      if (this.partitions.has(name)) continue;
      // Every other statement takes a connection of the pool, which may have only the one held.
      await this.releaseAppendConnection();
      this.partitions.add(await ensurePartition(this.database.knex, row.occurred_at, `/* ${this.marker} */ `));
    }
    if (this.heads.size > 0 && batch.every((item) => item.attempts === 0 && this.heads.has(item.row.tenant))) {
      try {
        await this.appendInOneStatement(batch);
        return;
      } catch (error) {
        this.heads.clear();
        // Only an error PostgreSQL answered with (a SQLSTATE) proves that the statement did not commit; a lost
        // connection leaves it open, and the retry (which skips stored rows) settles it.
        if (!answeredByServer(error) || this.stopped) throw error;
      }
    }
    await this.releaseAppendConnection();
    try {
      await this.append(batch);
    } catch (error) {
      if (!isDataError(error)) throw error;
      // One unstorable row must not block the trail: write rows one by one, degrading the bad ones.
      for (const item of batch) {
        try {
          await this.append([item]);
        } catch (rowError) {
          if (!isDataError(rowError)) throw rowError;
          const detail = storedJson({ auditError: `event stored without arguments and details: ${(rowError as Error).message}`.slice(0, 500) });
          await this.append([{ ...item, row: { ...item.row, arguments: null, details: detail } }]);
        }
      }
    }
  }

  /**
   * Append rows to their tenants' chains in one statement, one round trip: the chain heads this
   * writer last wrote are compared and swapped in the same statement that inserts the rows and
   * opens and closes intents. When another writer moved a head (or it is missing) the statement
   * raises an error, so nothing of it commits, and the batch goes through {@link append}.
   */
  private async appendInOneStatement(batch: Pending[]): Promise<void> {
    const knex = this.database.knex;
    const heads = new Map<string, { from: { seq: number; hash: string }; to: { seq: number; hash: string } }>();
    const links = batch.map((item) => {
      const tenant = item.row.tenant;
      let head = heads.get(tenant);
      if (!head) {
        const cached = this.heads.get(tenant)!;
        head = { from: cached, to: cached };
        heads.set(tenant, head);
      }
      const link = this.chain(item, head.to);
      head.to = { seq: link.seq, hash: link.hash };
      return link;
    });
    // One statement text whatever the batch holds: the heads in one array per column, the rows in one
    // JSON text, each row an object with the keys of ROW_COLUMNS (and `opens`, `completes`).
    const rows = batch.map(({ row, intent, completes }, i): Record<string, unknown> => {
      const link = links[i]!;
      return {
        event_id: row.event_id, tenant: row.tenant, seq: link.seq, prev_hash: link.prev_hash, hash: link.hash, occurred_at: row.occurred_at,
        principal_kind: row.principal_kind, principal_id: row.principal_id, principal_label: row.principal_label, agent_id: row.agent_id, key_id: row.key_id,
        issuer: row.issuer, subject: row.subject, action: row.action, target: row.target, decision: row.decision, reason: row.reason,
        outcome: row.outcome, arguments_digest: row.arguments_digest, arguments: row.arguments, latency_ms: row.latency_ms, request_id: row.request_id,
        client_address: row.client_address, details: row.details, opens: intent !== undefined, completes: completes ?? null,
      };
    });
    const ends = [...heads.values()];
    const values: unknown[] = [
      [...heads.keys()],
      ends.map((head) => head.from.seq),
      ends.map((head) => head.from.hash),
      ends.map((head) => head.to.seq),
      ends.map((head) => head.to.hash),
      JSON.stringify(rows),
      this.instanceId,
      heads.size,
      links.length,
    ];
    if (this.database.kind === 'postgres') {
      // A prepared statement on a PostgreSQL server: parsed and planned once per connection.
      // The connection stays with the writer while writes follow one another (see pump), unless
      // other work is waiting for one of the pool's connections.
      const pool = knex.client as PoolClient;
      // One that died while held (a restart, a terminated backend) is handed back, as the pool would not lend it again.
      if (this.appendConnection?.__knex__disposed) await this.releaseAppendConnection();
      const connection = (this.appendConnection ??= await pool.acquireConnection());
      try {
        await connection.query({ name: `gatehouse-audit-append-${this.instanceId}`, text: this.nativeAppendStatement, values });
      } catch (error) {
        await this.releaseAppendConnection();
        throw error;
      }
      if ((pool.pool?.numPendingAcquires() ?? 1) > 0) await this.releaseAppendConnection();
    } else {
      // Each table name where the statement names it.
      const [tenants, fromSeq, fromHash, toSeq, toHash, json, instance, headCount, rowCount] = values;
      const bindings = [tenants, fromSeq, fromHash, toSeq, toHash, CHAIN_HEADS_TABLE, json, AUDIT_TABLE, OPEN_INTENTS_TABLE, instance, OPEN_INTENTS_TABLE, headCount, rowCount];
      await knex.raw(this.appendStatement, bindings as Knex.RawBinding[]);
    }
    for (const [tenant, { to }] of heads) this.heads.set(tenant, to);
  }

  /** The place of `item`'s row as the next link after `head`. */
  private chain(item: Pending, head: { seq: number; hash: string }): Link {
    const { row } = item;
    const seq = head.seq + 1;
    if (item.argumentsJson?.text !== row.arguments) item.argumentsJson = { text: row.arguments, canonical: canonicalJsonText(row.arguments) };
    if (item.detailsJson?.text !== row.details) item.detailsJson = { text: row.details, canonical: canonicalJsonText(row.details) };
    return { seq, prev_hash: head.hash, hash: rowHash(head.hash, row, seq, { arguments: item.argumentsJson.canonical, details: item.detailsJson.canonical }) };
  }

  /** Append rows to their tenants' chains in one transaction, under a lock on their chain heads. */
  private async append(batch: Pending[]): Promise<void> {
    const comment = `/* ${this.marker} */ `;
    this.heads.clear();
    const moved = await this.database.knex.transaction(async (trx) => {
      let items = batch;
      if (items.some((item) => item.attempts > 0)) {
        // The previous attempt may have committed although its reply was lost: skip what is stored.
        const ids = items.map((item) => item.row.event_id);
        const stored = (await trx.raw(`${comment}select event_id from ?? where event_id = any(?::uuid[])`, [AUDIT_TABLE, ids])) as { rows: { event_id: string }[] };
        const done = new Set(stored.rows.map((r) => r.event_id));
        items = items.filter((item) => !done.has(item.row.event_id));
        if (items.length === 0) return undefined;
      }
      const heads = await this.lockHeads(trx, [...new Set(items.map((item) => item.row.tenant))].sort(), comment);
      const rows = items.map((item) => {
        const link = this.chain(item, heads.get(item.row.tenant)!);
        heads.set(item.row.tenant, { seq: link.seq, hash: link.hash });
        return { ...item.row, ...link };
      });
      // In slices, so that a large batch stays within the parameters one statement may carry (65,535).
      const insert = async (table: string, records: readonly object[], unique: string[]): Promise<void> => {
        for (let at = 0; at < records.length; at += ROWS_PER_INSERT) {
          await trx(table).comment(this.marker).insert(records.slice(at, at + ROWS_PER_INSERT)).onConflict(unique).ignore();
        }
      };
      await insert(AUDIT_TABLE, rows, ['event_id', 'occurred_at']);
      const opened = items.filter((item) => item.intent).map(({ row }) => ({ event_id: row.event_id, tenant: row.tenant, instance_id: this.instanceId, occurred_at: row.occurred_at }));
      await insert(OPEN_INTENTS_TABLE, opened, ['event_id']);
      const completed = items.flatMap((item) => (item.completes ? [item.completes] : []));
      if (completed.length) await trx(OPEN_INTENTS_TABLE).comment(this.marker).whereRaw('event_id = any(?::uuid[])', [completed]).delete();
      const values = [...heads].map(([tenant, head]) => [tenant, head.seq, head.hash]);
      await trx.raw(
        `${comment}update ?? as h set seq = v.seq, hash = v.hash from (values ${values.map(() => '(?::text, ?::bigint, ?::text)').join(', ')}) as v(tenant, seq, hash) where h.tenant = v.tenant`,
        [CHAIN_HEADS_TABLE, ...values.flat()],
      );
      return heads;
    });
    // The next batch of these tenants can go in one statement.
    for (const [tenant, head] of moved ?? []) this.heads.set(tenant, head);
  }

  /** Lock the chain heads of `tenants` (sorted, so writers never deadlock), creating missing ones. */
  private async lockHeads(trx: Knex.Transaction, tenants: string[], comment: string): Promise<Map<string, { seq: number; hash: string }>> {
    const select = async (): Promise<Map<string, { seq: number; hash: string }>> => {
      const result = (await trx.raw(`${comment}select tenant, seq, hash from ?? where tenant = any(?::text[]) order by tenant for update`, [CHAIN_HEADS_TABLE, tenants])) as {
        rows: { tenant: string; seq: string | number; hash: string }[];
      };
      return new Map(result.rows.map((r) => [r.tenant, { seq: Number(r.seq), hash: r.hash }]));
    };
    let heads = await select();
    const missing = tenants.filter((tenant) => !heads.has(tenant));
    if (missing.length > 0) {
      for (const tenant of missing) {
        // A tenant's first event, or a head row that went missing: continue from the last stored row.
        await trx.raw(
          `${comment}insert into ?? (tenant, seq, hash) select ?::text, coalesce((select seq from ?? where tenant = ? order by seq desc limit 1), 0), coalesce((select hash from ?? where tenant = ? order by seq desc limit 1), ?) on conflict do nothing`,
          [CHAIN_HEADS_TABLE, tenant, AUDIT_TABLE, tenant, AUDIT_TABLE, tenant, GENESIS_HASH],
        );
      }
      heads = await select();
    }
    return heads;
  }

  private toRow(event: AuditEvent, known?: StoredArguments): AuditRow {
    const principal = event.principal;
    const agent = principal?.kind === AGENT_KIND ? (principal.attributes as Partial<AgentAttributes>) : undefined;
    const details = event.details;
    const hasArguments = event.arguments !== undefined;
    let stored: string | null = null;
    if (known) stored = known.arguments;
    else if (hasArguments) {
      stored = storedJson(this.redact(event.arguments));
      if (stored !== null && Buffer.byteLength(stored) > this.settings.maxArgumentBytes) {
        stored = JSON.stringify({ truncated: true, bytes: Buffer.byteLength(stored) });
      }
    }
    // The intent an outcome completes is the engine's own id, not the caller's data: it is added after redaction.
    const redacted = details ? this.redact(details) : undefined;
    const storedDetails = storedJson(event.intentId === undefined ? redacted : withIntentId(redacted, event.intentId));
    return {
      event_id: randomUUID(),
      tenant: event.tenant,
      occurred_at: new Date(event.time.getTime()),
      principal_kind: text(principal?.kind),
      principal_id: text(principal?.id),
      principal_label: text(principal?.label),
      agent_id: uuidOrNull(agent?.agentId),
      key_id: uuidOrNull(agent ? agent.keyId : (principal?.attributes.keyId ?? (principal?.kind === 'api-key' ? principal.id : undefined))),
      issuer: text(agent?.issuer ?? stringOf(details?.issuer)),
      subject: text(agent?.subject ?? stringOf(details?.subject)),
      action: text(event.action)!,
      target: text(event.target),
      decision: event.decision,
      reason: text(event.reason),
      outcome: event.outcome,
      arguments_digest: known ? known.digest : hasArguments ? argumentsDigest(event.arguments) : null,
      arguments: stored,
      latency_ms: event.latencyMs ?? null,
      request_id: text(event.requestId)!,
      client_address: text(event.clientAddress),
      details: storedDetails,
    };
  }
}
