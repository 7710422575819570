/**
 * How many invalid messages of one address reach the log: each second, the
 * first `rate` are logged line by line and the rest only counted, for one
 * summary line per address when the second is over. Junk costs its sender
 * bytes; without this it cost the log more (a line of escaped data per
 * message, each escape six bytes for one), and a flood could fill the disk
 * without authenticating.
 */
import type { UnloggedLine } from "../formats/primary_log.ts";

/** Invalid messages logged per address per second by default. */
export const DEFAULT_INVALID_LOG_RATE = 10;

interface Tally {
  logged: number;
  dropped: number;
  bytes: number;
}

export class InvalidLogLimit {
  readonly #rate: number;
  /** This second's tallies, by address: at most one per address that sent invalid data since the last flush. */
  #tallies = new Map<string, Tally>();

  /** @param rate Invalid messages logged per address per second; 0 summarises them all. */
  constructor(rate: number = DEFAULT_INVALID_LOG_RATE) {
    if (!Number.isInteger(rate) || rate < 0) {
      throw new RangeError(`Cannot limit invalid data: rate must be a non-negative integer, got ${rate}`);
    }
    this.#rate = rate;
  }

  /** Addresses tallied this second. */
  get tracked(): number {
    return this.#tallies.size;
  }

  /** Whether an invalid message of `bytes` from `address` is logged; if not, it is counted for the summary. */
  admit(address: string, bytes: number): boolean {
    let tally = this.#tallies.get(address);
    if (tally === undefined) this.#tallies.set(address, tally = { logged: 0, dropped: 0, bytes: 0 });
    if (tally.logged < this.#rate) {
      tally.logged++;
      return true;
    }
    tally.dropped++;
    tally.bytes += bytes;
    return false;
  }

  /** Ends the second: the summaries of what was not logged, and a fresh allowance for every address. */
  flush(): UnloggedLine[] {
    const summaries: UnloggedLine[] = [];
    for (const [from, { dropped, bytes }] of this.#tallies) {
      if (dropped > 0) summaries.push({ kind: "unlogged", from, count: dropped, bytes });
    }
    this.#tallies = new Map();
    return summaries;
  }
}
