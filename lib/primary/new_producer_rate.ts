/**
 * The rate of new producers per peer address: a token bucket per address,
 * shared by all of its connections, so that one client cannot fill the
 * dedupe table with fresh producer ids (see Ledger). A bucket lives while its
 * address has a connection open, and until it has refilled after that.
 */
import type { NewProducerGate } from "./ledger.ts";

/** New producers per second per address, when not given: many times what an honest parent starts. */
export const DEFAULT_NEW_PRODUCER_RATE = 100;
/** New producers an address may start at once, when not given (a bench's or a parent's start-up). */
export const DEFAULT_NEW_PRODUCER_BURST = 1000;

export interface NewProducerRateOptions {
  /** New producers admitted per second per address; 0 for no limit. @default {DEFAULT_NEW_PRODUCER_RATE} */
  rate?: number;
  /** New producers an address may start at once. @default {DEFAULT_NEW_PRODUCER_BURST} */
  burst?: number;
}

class Bucket implements NewProducerGate {
  tokens: number;
  updated = -Infinity;
  connections = 0;
  readonly #rate: number;
  readonly #burst: number;

  constructor(rate: number, burst: number) {
    this.#rate = rate;
    this.#burst = burst;
    this.tokens = burst;
  }

  admit(now: number): boolean {
    if (now > this.updated) {
      this.tokens = Math.min(this.#burst, this.tokens + (now - this.updated) * this.#rate / 1000);
      this.updated = now;
    }
    if (this.tokens < 1) return false;
    this.tokens--;
    return true;
  }
}

export class NewProducerRates {
  readonly #rate: number;
  readonly #burst: number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(options: NewProducerRateOptions = {}) {
    const { rate = DEFAULT_NEW_PRODUCER_RATE, burst = DEFAULT_NEW_PRODUCER_BURST } = options;
    if (!(rate >= 0) || !Number.isFinite(rate)) {
      throw new RangeError(`Cannot limit new producers: rate must be a non-negative number, got ${rate}`);
    }
    if (!Number.isInteger(burst) || burst < 1) {
      throw new RangeError(`Cannot limit new producers: burst must be a positive integer, got ${burst}`);
    }
    this.#rate = rate;
    this.#burst = burst;
  }

  /** The gate of a connection from `address`, undefined when there is no limit; release() it when the connection ends. */
  open(address: string): NewProducerGate | undefined {
    if (this.#rate === 0) return undefined;
    let bucket = this.#buckets.get(address);
    if (bucket === undefined) {
      bucket = new Bucket(this.#rate, this.#burst);
      this.#buckets.set(address, bucket);
    }
    bucket.connections++;
    return bucket;
  }

  /**
   * Ends a connection's hold on its address's bucket. The bucket is dropped
   * with its last connection only once it has refilled: reconnecting must not
   * buy a fresh burst.
   */
  release(address: string): void {
    const bucket = this.#buckets.get(address);
    if (bucket !== undefined) bucket.connections--;
  }

  /** Drops the buckets of addresses with no connection whose bucket is full again (call now and then). */
  sweep(now = Date.now()): void {
    for (const [address, bucket] of this.#buckets) {
      if (bucket.connections > 0) continue;
      const refilled = bucket.tokens + (now - bucket.updated) * this.#rate / 1000;
      if (refilled >= this.#burst) this.#buckets.delete(address);
    }
  }

  /** Addresses with a bucket (for tests and the bound). */
  get size(): number {
    return this.#buckets.size;
  }
}
