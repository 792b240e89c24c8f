import { inject, injectable } from 'inversify';
import { Database } from '../ports/database.js';
import { ChangeFeed } from '../ports/change-feed.js';
import { Logger, safeLog } from '../log/logger.js';

/** Published when an event is added to a stream nobody is connected to (someone may be resuming it). */
export const SESSION_EVENTS_APPENDED = 'mcp.session-events.appended';

/** The name, in the event log, of a session's standalone (GET) stream; request streams have their own. */
export const STANDALONE_STREAM = 'get';

/**
 * An event id as clients see it: the row's id, with `p` before it on a request's (POST) stream. The
 * mark tells a request stream's id from the standalone stream's even once the log no longer holds
 * the event, so that its resumption can be refused rather than answered with another stream.
 */
const REQUEST_MARK = 'p';
const EVENT_ID = new RegExp(`^(${REQUEST_MARK}?)([1-9][0-9]{0,17})$`);

/** The id clients see for the row `rowId` of `stream`. */
const eventIdOf = (stream: string, rowId: string): string => (stream === STANDALONE_STREAM ? rowId : `${REQUEST_MARK}${rowId}`);

/** Where a client's `Last-Event-ID` resumes: a stream of the session, after the row `after`. */
export interface Resumption {
  readonly stream: string;
  readonly after: string;
}

/** A `Last-Event-ID` of a request's stream that the log does not hold (expired, or another session's). */
export const STREAM_GONE = 'gone';

/** A `Last-Event-ID` of a request's stream's last entry (its response, or its end): nothing follows it. */
export const STREAM_COMPLETE = 'complete';

/**
 * The last entry of a request's stream that ends without a response (its client cancelled the
 * request): sent as an event with an id and no message, so that a client that comes back resumes
 * after it, to nothing. Not JSON, so no message is taken for it.
 */
export const STREAM_END = 'end';

/** A JSON-RPC response, or the end of a stream without one: the last entry of a request's stream. */
function isFinal(message: string): boolean {
  if (message === STREAM_END) return true;
  if (!message.startsWith('{')) return false;
  try {
    const parsed = JSON.parse(message) as Record<string, unknown>;
    return !('method' in parsed) && ('result' in parsed || 'error' in parsed);
  } catch {
    return false;
  }
}

/**
 * The server→client SSE messages of MCP sessions, kept in PostgreSQL (`mcp_session_events`) for a
 * bounded window (swept by the fleet's housekeeping), so that a client whose stream broke can
 * reconnect with `Last-Event-ID` on any instance and receive what it missed, then the rest as it
 * comes. Event ids are the rows' ids: unique and increasing across the fleet.
 */
@injectable()
export class SessionEventLog {
  constructor(
    @inject(Database) private readonly database: Database,
    @inject(ChangeFeed) private readonly changes: ChangeFeed,
    @inject(Logger) private readonly logger: Logger,
  ) {}

  /**
   * Keep one message of a session's stream and return its event id. `announce` when no client is
   * connected to the stream, so an instance serving its resumption hears of it.
   */
  async append(sessionId: string, stream: string, message: string, announce: boolean): Promise<string> {
    const [row] = (await this.database.knex('mcp_session_events').insert({ session_id: sessionId, stream, message }).returning('id')) as ({ id: string | number } | string | number)[];
    const id = eventIdOf(stream, String(typeof row === 'object' ? row.id : row));
    if (announce) {
      await this.changes.publish(SESSION_EVENTS_APPENDED, { session: sessionId, stream }).catch((error: unknown) => {
        safeLog(this.logger, 'warn', { err: error }, 'could not announce a stream event; a resuming client gets it when it reconnects');
      });
    }
    return id;
  }

  /**
   * Where the client that last saw `eventId` resumes: the stream of the session it belongs to.
   * {@link STREAM_GONE} for the id of a request's stream the log does not hold (its messages can no
   * longer be replayed); {@link STREAM_COMPLETE} for the id of a request's response (the stream's
   * last entry, or its end); undefined for any other id the log does not hold (nothing to replay).
   */
  async resumption(sessionId: string, eventId: string): Promise<Resumption | typeof STREAM_GONE | typeof STREAM_COMPLETE | undefined> {
    const [, mark, rowId] = EVENT_ID.exec(eventId) ?? [];
    if (rowId === undefined) return undefined;
    const row = (await this.database.knex('mcp_session_events').where({ id: rowId, session_id: sessionId }).first('stream', 'message')) as
      | { stream: string; message: string }
      | undefined;
    if (row) return row.stream !== STANDALONE_STREAM && isFinal(row.message) ? STREAM_COMPLETE : { stream: row.stream, after: rowId };
    return mark === REQUEST_MARK ? STREAM_GONE : undefined;
  }

  /**
   * Deliver the stream's events after the row `afterRow` (a {@link Resumption}'s `after`, or the
   * row of an event id this log returned), in order, then each new one as it is added, until the
   * stream's last message (the response) or until stopped. Returns the way to stop.
   */
  follow(sessionId: string, stream: string, afterRow: string, deliver: (id: string, message: string) => void, ended: () => void): () => void {
    let last = afterRow;
    let stopped = false;
    let pumping = Promise.resolve();
    const pump = (): void => {
      pumping = pumping.then(async () => {
        if (stopped) return;
        const rows = (await this.database
          .knex('mcp_session_events')
          .where({ session_id: sessionId, stream })
          .andWhere('id', '>', last)
          .orderBy('id')
          .select('id', 'message')) as { id: string | number; message: string }[];
        for (const row of rows) {
          if (stopped) return;
          last = String(row.id);
          if (row.message === STREAM_END) deliver(eventIdOf(stream, last), '');
          else if (row.message !== '') deliver(eventIdOf(stream, last), row.message);
          if (isFinal(row.message)) {
            stop();
            ended();
            return;
          }
        }
      }).catch((error: unknown) => safeLog(this.logger, 'warn', { err: error }, 'could not read a session stream to resume it'));
    };
    const unsubscribe = this.changes.subscribe(
      SESSION_EVENTS_APPENDED,
      (payload) => {
        if (payload.session === sessionId && payload.stream === stream) pump();
      },
      pump,
    );
    const stop = (): void => {
      stopped = true;
      unsubscribe();
    };
    pump();
    return stop;
  }
}
