/**
 * The logger the engine writes to. Compatible with pino-style loggers (`info(fields, message)`),
 * so a host can pass its own. The default writes one JSON object per line to stderr.
 */
export interface Logger {
  debug(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
  child(fields: Record<string, unknown>): Logger;
}

export const Logger = Symbol.for('gatehouse.Logger');

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export class JsonLogger implements Logger {
  constructor(
    private readonly level: LogLevel = 'info',
    private readonly bindings: Record<string, unknown> = {},
    private readonly write: (line: string) => void = (line) => process.stderr.write(line + '\n'),
  ) {}

  private log(level: Exclude<LogLevel, 'silent'>, fields: Record<string, unknown>, message: string): void {
    if (rank[level] < rank[this.level]) return;
    const entry: Record<string, unknown> = { time: new Date().toISOString(), level, msg: message, ...this.bindings };
    for (const [key, value] of Object.entries(fields)) {
      entry[key] = value instanceof Error ? { name: value.name, message: value.message, stack: value.stack } : value;
    }
    this.write(JSON.stringify(entry));
  }

  debug(fields: Record<string, unknown>, message: string): void { this.log('debug', fields, message); }
  info(fields: Record<string, unknown>, message: string): void { this.log('info', fields, message); }
  warn(fields: Record<string, unknown>, message: string): void { this.log('warn', fields, message); }
  error(fields: Record<string, unknown>, message: string): void { this.log('error', fields, message); }
  child(fields: Record<string, unknown>): Logger {
    return new JsonLogger(this.level, { ...this.bindings, ...fields }, this.write);
  }
}
