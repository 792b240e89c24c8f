/** A source of time in milliseconds since the epoch. */
export interface Clock {
  now(): number;
}

/**
 * The engine's clock, for what it measures against time (how long an MCP session has been idle).
 * The core binds the system clock unless a plugin binds its own: a test moves time on with a
 * manual clock instead of waiting.
 *
 * ```ts
 * const clock = { at: Date.now(), now() { return this.at; } };
 * definePlugin({ id: 'manual-clock', register: ({ bind }) => bind(Clock).toConstantValue(clock) });
 * clock.at += 31 * 60_000; // a session idle for 31 minutes has expired
 * ```
 */
export const Clock = Symbol.for('gatehouse.Clock');

export const systemClock: Clock = { now: () => Date.now() };
