import pg from 'pg';

/**
 * pg's deprecation warning for a query sent on a client that already has one waiting behind a
 * running one; pg 9 refuses such a query.
 */
export const isOverlappingQueryWarning = (warning: Error): boolean =>
  warning.name === 'DeprecationWarning' && /client\.query\(\) when the client is already executing a query/.test(warning.message);

export interface OverlapWatch {
  /** The stack of each query sent on a client while an earlier query on that client had not settled. */
  readonly overlaps: string[];
  /** pg's warnings about such a query heard meanwhile (pg warns once per process, and only from the third). */
  readonly warnings: string[];
  stop(): void;
}

/**
 * Watch every pg client of this process, from now until `stop()`, for a query sent while another
 * query on the same client is still running or waiting: what pg 9 refuses. Stricter than pg's own
 * warning, which it prints once per process and only when a query is already waiting behind the
 * running one.
 */
export function watchOverlappingQueries(): OverlapWatch {
  const overlaps: string[] = [];
  const warnings: string[] = [];
  const unsettled = new WeakMap<pg.Client, number>();
  const prototype = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const original = prototype.query;
  prototype.query = function (this: pg.Client, ...args: unknown[]): unknown {
    const running = unsettled.get(this) ?? 0;
    if (running > 0) overlaps.push(new Error(`a query sent while ${running} other(s) had not settled on the same client`).stack ?? '');
    unsettled.set(this, running + 1);
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      unsettled.set(this, (unsettled.get(this) ?? 1) - 1);
    };
    const callback = args.at(-1);
    if (typeof callback === 'function') {
      args[args.length - 1] = (...results: unknown[]) => {
        settle();
        return (callback as (...a: unknown[]) => unknown)(...results);
      };
    }
    const result = original.apply(this, args);
    if (result instanceof Promise) result.then(settle, settle);
    else if (result && typeof (result as { once?: unknown }).once === 'function') {
      (result as { once(event: string, listener: () => void): void }).once('end', settle);
      (result as { once(event: string, listener: () => void): void }).once('error', settle);
    }
    return result;
  };
  const onWarning = (warning: Error): void => {
    if (isOverlappingQueryWarning(warning)) warnings.push(warning.stack ?? warning.message);
  };
  process.on('warning', onWarning);
  return {
    overlaps,
    warnings,
    stop() {
      prototype.query = original;
      process.off('warning', onWarning);
    },
  };
}
