import { maskUrlsIn } from './shown-url.js';
import { CONNECTOR_BIN } from './version.js';

/**
 * The connector's only log channel. stdout belongs to the MCP protocol, so everything human goes
 * to stderr: failures always (one line each), details only with `--verbose`. Every registered
 * secret, and every value in the query of a URL, is masked before anything is written.
 */
export class StderrLogger {
  private readonly secrets = new Set<string>();
  private lastLine: { text: string; at: number } | undefined;

  constructor(
    readonly verbose: boolean,
    private readonly write: (text: string) => void = (text) => process.stderr.write(text),
  ) {}

  /** Mask this value wherever it would appear in a log line. */
  addSecret(secret: string | undefined): void {
    // Very short values would mask innocent text; real credentials are never this short.
    if (secret && secret.length >= 6) this.secrets.add(secret);
  }

  redact(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join('[redacted]');
    return maskUrlsIn(out.replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/gi, '$1[redacted]'));
  }

  /** One actionable line. The same line repeated within a few seconds is written once. */
  error(line: string): void {
    const now = Date.now();
    if (this.lastLine && this.lastLine.text === line && now - this.lastLine.at < 5_000) return;
    this.lastLine = { text: line, at: now };
    this.emit(line);
  }

  info(line: string): void {
    if (this.verbose) this.emit(line);
  }

  debug(line: string): void {
    if (this.verbose) this.emit(line);
  }

  private emit(line: string): void {
    this.write(`${CONNECTOR_BIN}: ${this.redact(line)}\n`);
  }
}
