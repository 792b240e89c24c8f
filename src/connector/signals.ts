/** The signals that stop the connector, and the exit status each leaves: 128 + its number, as shells report it. */
export const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;
export type StopSignal = keyof typeof SIGNAL_EXIT;

export interface StopSignals {
  /** The first stop signal received, if any. */
  readonly received: StopSignal | undefined;
  /** Resolves with the first stop signal. */
  readonly first: Promise<StopSignal>;
}

/**
 * Catch SIGINT and SIGTERM from now on. The connector's entry installs this before it loads
 * anything else, so that a signal during start-up ends it in order instead of by the default kill.
 * Only the first is caught: a second one ends the process at once.
 */
export function catchStopSignals(): StopSignals {
  let received: StopSignal | undefined;
  let resolve!: (signal: StopSignal) => void;
  const first = new Promise<StopSignal>((done) => (resolve = done));
  const onSignal = (signal: NodeJS.Signals): void => {
    // Either signal, again, then has its default effect.
    for (const name of Object.keys(SIGNAL_EXIT)) process.off(name, onSignal);
    received ??= signal as StopSignal;
    resolve(received);
  };
  for (const signal of Object.keys(SIGNAL_EXIT)) process.on(signal, onSignal);
  return {
    get received() {
      return received;
    },
    first,
  };
}
