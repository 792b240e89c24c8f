/**
 * What went wrong between the connector and the remote server, phrased for the person who
 * configured it. `kind` is stable (tests and scripts match on it); `message` is the one line the
 * connector prints on stderr.
 */
export type ConnectorErrorKind =
  | 'config'
  | 'unreachable'
  | 'dns'
  | 'tls'
  | 'timeout'
  /** The connection dropped after a request that must not run twice was sent: its outcome is unknown. */
  | 'dropped'
  | 'unauthorized'
  | 'expired'
  | 'forbidden'
  | 'server'
  | 'rate-limited'
  | 'protocol'
  | 'idp';

export class ConnectorError extends Error {
  override readonly name = 'ConnectorError';

  constructor(
    readonly kind: ConnectorErrorKind,
    message: string,
    /** Safe to retry with backoff: the request never reached the server, or the server refused it unprocessed. */
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A bad flag, a missing secret, an unreadable file: the user must fix the configuration (exit code 2). */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const EXIT_OK = 0;
/** The server could not be reached or refused the credential at start-up. */
export const EXIT_CONNECT = 1;
/** Bad flags or configuration. */
export const EXIT_USAGE = 2;
