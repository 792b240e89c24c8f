import { pino, stdSerializers, stdTimeFunctions, type Logger as Pino } from 'pino';

/**
 * The logger the engine writes to. Compatible with pino-style loggers (`info(fields, message)`),
 * so a host can pass its own (a pino instance fits as it is). The default is `PinoLogger`: one
 * JSON object per line on stderr.
 *
 * Contract: a call never throws, whatever the fields hold (BigInt, circular structures, errors
 * with `cause` chains, values whose getters throw). The engine still guards every call it makes
 * from a catch path (see `safeLog`), because a host's logger may not keep this promise.
 */
type Method = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
  child(fields: Record<string, unknown>): Logger;
  /**
   * Whether lines of `level` are written (optional; pino has it). The engine asks before it builds
   * the fields of a line written on every request, so a logger that drops them costs nothing.
   */
  isLevelEnabled?(level: Method): boolean;
}

export const Logger = Symbol.for('gatehouse.Logger');

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

/** Where log lines go: anything with a `write(line)` method (a stream, a test's collector). */
export interface LogDestination {
  write(line: string): unknown;
}

function serialiseErrors(fields: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(fields)) {
    const value = fields[key];
    if (key !== 'err' && value instanceof Error) {
      out ??= { ...fields };
      out[key] = stdSerializers.errWithCause(value);
    }
  }
  return out ?? fields;
}

/** The fields that are plain strings, numbers and booleans; the rest named as unwritable. */
function plainFields(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(fields ?? {})) {
    const value = fields[key];
    out[key] = typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? value : '[unwritable]';
  }
  return out;
}

/**
 * The default `Logger`, on pino: ISO time, level names, errors (in any field) with their `code`,
 * stack and `cause` chain; BigInt and circular values are written, never thrown on.
 */
export class PinoLogger implements Logger {
  readonly pino: Pino;

  constructor(levelOrPino: LogLevel | Pino = 'info', destination?: LogDestination) {
    this.pino = typeof levelOrPino === 'string'
      ? pino({
        level: levelOrPino,
        base: undefined,
        timestamp: stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        serializers: { err: stdSerializers.errWithCause },
      }, destination ?? pino.destination({ fd: 2, sync: true }))
      : levelOrPino;
  }

  isLevelEnabled(level: Method): boolean {
    return this.pino.isLevelEnabled(level);
  }

  private log(method: Method, fields: Record<string, unknown>, message: string): void {
    try {
      // A line below the level is dropped before its fields are looked at.
      if (!this.pino.isLevelEnabled(method)) return;
      this.pino[method](serialiseErrors(fields ?? {}), message);
    } catch (error) {
      try {
        this.pino[method]({ ...plainFields(fields), logFailure: String((error as { message?: unknown })?.message ?? 'unknown') }, `${message} (fields could not be written)`);
      } catch {
        // Nothing left to write with; a log line is never worth a failed request.
      }
    }
  }

  debug(fields: Record<string, unknown>, message: string): void { this.log('debug', fields, message); }
  info(fields: Record<string, unknown>, message: string): void { this.log('info', fields, message); }
  warn(fields: Record<string, unknown>, message: string): void { this.log('warn', fields, message); }
  error(fields: Record<string, unknown>, message: string): void { this.log('error', fields, message); }
  child(fields: Record<string, unknown>): Logger {
    try {
      return new PinoLogger(this.pino.child(serialiseErrors(fields)));
    } catch {
      return this;
    }
  }
}

/**
 * Logs from a catch path: never throws, whichever `Logger` the host passed. Call it only after
 * the audit event for the same failure has been recorded.
 */
export function safeLog(logger: Logger, level: Method, fields: Record<string, unknown>, message: string): void {
  try {
    logger[level](fields, message);
  } catch {
    try {
      logger[level]({}, `${message} (fields could not be written)`);
    } catch {
      // The host's logger is broken; the audit trail already holds the event.
    }
  }
}

/** Whether `logger` writes lines of `level`: true unless it says otherwise (or fails to say). */
export function writesLevel(logger: Logger, level: Method): boolean {
  try {
    return logger.isLevelEnabled?.(level) !== false;
  } catch {
    return true;
  }
}
