/** A logger that records every line the engine writes, with its fields as JSON. */
import type { Logger } from '@gatehouse-mcp/engine';

export interface LoggedLine {
  readonly level: string;
  readonly message: string;
  /** The line's fields (with those bound by `child`), `err` reduced to its message and cause. */
  readonly json: string;
}

export class RecordingLogger implements Logger {
  constructor(
    readonly lines: LoggedLine[] = [],
    private readonly bound: Record<string, unknown> = {},
  ) {}
  private record(level: string, fields: Record<string, unknown>, message: string): void {
    const err = fields.err as Error | undefined;
    const json = JSON.stringify({ ...this.bound, ...fields, err: err && { message: err.message, cause: String((err as { cause?: unknown }).cause) } });
    this.lines.push({ level, message, json });
  }
  debug(fields: Record<string, unknown>, message: string): void {
    this.record('debug', fields, message);
  }
  info(fields: Record<string, unknown>, message: string): void {
    this.record('info', fields, message);
  }
  warn(fields: Record<string, unknown>, message: string): void {
    this.record('warn', fields, message);
  }
  error(fields: Record<string, unknown>, message: string): void {
    this.record('error', fields, message);
  }
  child(fields: Record<string, unknown>): Logger {
    return new RecordingLogger(this.lines, { ...this.bound, ...fields });
  }
}
