/**
 * Where the connector's bearer credential comes from. The remote fetch asks for a token before
 * every request and reports one the server rejected, so a source that can mint new credentials
 * (OAuth client credentials) gets exactly one chance to replace it.
 */
export interface TokenSource {
  /** The credential to send as `Authorization: Bearer …`. Concurrent callers share one fetch. */
  token(): Promise<string>;
  /**
   * The server answered 401 to `token`. Returns true when a fresh credential may succeed (the next
   * `token()` fetches one), false when retrying cannot help (a static API key).
   */
  rejected(token: string): boolean;
  /** What the user configured, for messages: "the API key in GATEHOUSE_API_KEY", "client my-agent". */
  readonly description: string;
  /** The hint a user needs when the server rejects the credential. */
  readonly fixHint: string;
}

/** A static API key. */
export class ApiKeyTokenSource implements TokenSource {
  readonly description: string;
  readonly fixHint: string;

  constructor(
    private readonly key: string,
    envName: string,
  ) {
    this.description = `the API key in ${envName}`;
    this.fixHint = `Create a new key and put it in ${envName}.`;
  }

  async token(): Promise<string> {
    return this.key;
  }

  rejected(): boolean {
    return false;
  }
}
