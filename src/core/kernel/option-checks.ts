import { ConfigError } from '../errors.js';

/**
 * The longest duration a timer can wait: Node fires a timer armed for longer after 1 ms (with a
 * TimeoutOverflowWarning), so a larger setting would expire everything at once, or spin.
 */
export const MAX_DURATION_MS = 2_147_483_647;

/** `value` as a duration option: a positive number of milliseconds a timer can wait. */
export function checkDurationMs(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0 || value > MAX_DURATION_MS) {
    throw new ConfigError(`${name} must be a positive number of milliseconds, at most ${MAX_DURATION_MS} (about 24.8 days), not ${shown(value)}.`);
  }
  return value;
}

/** `value` as a count option (sizes, limits, attempts): a whole number ≥ 1. */
export function checkCount(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw new ConfigError(`${name} must be a whole number of at least 1, not ${shown(value)}.`);
  }
  return value;
}

function shown(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value) : String(value);
}
