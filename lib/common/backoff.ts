/** Retry delays: exponential backoff with full jitter. */
import type { Random } from "./random.ts";

export interface BackoffOptions {
  /** Delay bound of the first retry (ms). @default {100} */
  base?: number;
  /** Largest delay bound (ms). @default {5000} */
  cap?: number;
}

/**
 * The delay before retry number `attempt` (0 for the first retry): uniform in
 * [0, min(cap, base * 2^attempt)). Full jitter spreads the retries of many
 * producers that failed at the same moment, so a restarted primary is not hit
 * by all of them at once.
 */
export function backoffDelay(attempt: number, random: Random, options: BackoffOptions = {}): number {
  const { base = 100, cap = 5000 } = options;
  if (!Number.isInteger(attempt) || attempt < 0) {
    throw new RangeError(`Cannot compute a backoff delay: attempt must be a non-negative integer, got ${attempt}`);
  }
  if (base <= 0 || cap < base) throw new RangeError(`Cannot compute a backoff delay: need 0 < base <= cap`);
  const bound = Math.min(cap, base * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * bound);
}
