import { hostname } from 'node:os';
import { inject, injectable } from 'inversify';
import { Database } from '../ports/database.js';
import { EngineConfig } from '../kernel/config.js';
import { Logger, safeLog } from '../log/logger.js';
import { BackgroundWork } from './background-work.js';

/** A running engine instance, as the fleet's registry knows it. */
export interface EngineInstance {
  readonly id: string;
  readonly host: string;
  readonly pid: number;
  readonly version: string;
  readonly startedAt: Date;
  readonly lastHeartbeatAt: Date;
}

const HEARTBEAT_MS = 10_000;
/** An instance silent this long is taken for gone and removed from the registry. */
export const INSTANCE_GONE_MS = 60_000;
const SWEEP_MS = 60_000;
/** How long the events of a session's streams are kept for resumption. */
export const EVENT_RETENTION_MS = 5 * 60_000;

/**
 * The registry of running instances (`engine_instances`: id, host, pid, version, started, last
 * heartbeat) and the fleet's housekeeping: idle MCP sessions, expired admin sessions, old stream
 * events and silent instances are swept by one instance at a time.
 */
@injectable()
export class InstanceRegistry {
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(
    @inject(Database) private readonly database: Database,
    @inject(EngineConfig) private readonly config: EngineConfig,
    @inject(BackgroundWork) private readonly work: BackgroundWork,
    @inject(Logger) private readonly logger: Logger,
  ) {
    work.every('fleet.sweep', SWEEP_MS, (trx) => this.sweep(trx));
  }

  async start(): Promise<void> {
    try {
      await this.database.knex('engine_instances').insert({
        id: this.config.instanceId,
        host: hostname(),
        pid: process.pid,
        version: this.config.serverInfo.version,
      });
    } catch (error) {
      // Serving matters more than being listed (e.g. a database not migrated by this engine yet).
      safeLog(this.logger, 'warn', { err: error }, 'could not register this instance in engine_instances');
    }
    this.heartbeat = setInterval(() => {
      this.database
        .knex('engine_instances')
        .where({ id: this.config.instanceId })
        .update({ last_heartbeat_at: this.database.knex.fn.now() })
        .catch((error: unknown) => safeLog(this.logger, 'warn', { err: error }, 'could not record the instance heartbeat'));
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    await this.database
      .knex('engine_instances')
      .where({ id: this.config.instanceId })
      .delete()
      .catch((error: unknown) => safeLog(this.logger, 'warn', { err: error }, 'could not remove this instance from the registry'));
  }

  /** Instances that sent a heartbeat recently, oldest first. */
  async live(): Promise<EngineInstance[]> {
    const since = new Date(Date.now() - INSTANCE_GONE_MS);
    const rows = (await this.database.knex('engine_instances').where('last_heartbeat_at', '>=', since).orderBy('started_at')) as {
      id: string;
      host: string;
      pid: number;
      version: string;
      started_at: Date | string;
      last_heartbeat_at: Date | string;
    }[];
    return rows.map((row) => ({
      id: row.id,
      host: row.host,
      pid: row.pid,
      version: row.version,
      startedAt: new Date(row.started_at),
      lastHeartbeatAt: new Date(row.last_heartbeat_at),
    }));
  }

  /** One round of housekeeping (run under the fleet's advisory lock). */
  async sweep(trx: import('knex').Knex.Transaction): Promise<void> {
    const now = Date.now();
    const sessions = this.config.sessions;
    if (sessions) await trx('mcp_sessions').where('last_seen_at', '<', new Date(now - sessions.idleTimeoutMs)).delete();
    await trx('mcp_session_events').where('created_at', '<', new Date(now - EVENT_RETENTION_MS)).delete();
    await trx('mcp_client_responses').where('created_at', '<', new Date(now - EVENT_RETENTION_MS)).delete();
    await trx('admin_sessions').where('expires_at', '<', new Date(now)).delete();
    await trx('engine_instances').where('last_heartbeat_at', '<', new Date(now - INSTANCE_GONE_MS)).delete();
  }
}
