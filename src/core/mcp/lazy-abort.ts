/**
 * An abort controller whose signal is created only when something reads it. Every handler call
 * can be aborted (client gone, cancellation, shutdown), but most handlers never look: they should
 * not pay for an `AbortController` and its signal on every call.
 */
export class LazyAbort {
  private controller: AbortController | undefined;
  private aborted = false;
  private reason: unknown;

  abort(reason?: unknown): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    this.controller?.abort(reason);
  }

  /** Why it was aborted (the first reason given); undefined while it runs. */
  get abortReason(): unknown {
    return this.aborted ? this.reason : undefined;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.aborted) this.controller.abort(this.reason);
    }
    return this.controller.signal;
  }
}
