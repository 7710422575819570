/**
 * The aggregation math, pure and in memory: the running total and the dedupe
 * state (highest applied sequence number per producer). No I/O here; the
 * committer persists what a batch changed and rolls the batch back when the
 * store refuses it.
 */
import type { Like } from "../protocol/message.ts";

export interface ProducerState {
  /** Highest sequence number applied for this producer. */
  lastSeq: number;
  /** Milliseconds since the epoch when the producer was last heard from. */
  lastSeen: number;
}

export type Applied = "accepted" | "duplicate";

/** What one batch changed, for the store. */
export interface BatchChanges {
  total: number;
  touched: [string, ProducerState][];
  evicted: string[];
}

export interface LedgerOptions {
  /** Producers remembered at most; the least recently seen are forgotten first. @default {100000} */
  maxProducers?: number;
}

export class Ledger {
  #total: number;
  readonly #producers: Map<string, ProducerState>;
  readonly #maxProducers: number;
  // Batch journal: the state before the batch, for rollback.
  #totalBefore = 0;
  #before: Map<string, ProducerState | undefined> | undefined;

  constructor(total = 0, producers: Iterable<[string, ProducerState]> = [], options: LedgerOptions = {}) {
    const { maxProducers = 100_000 } = options;
    if (!Number.isSafeInteger(total) || total < 0) {
      throw new RangeError(`Cannot start the ledger: total must be a non-negative integer, got ${total}`);
    }
    if (!Number.isInteger(maxProducers) || maxProducers < 1) {
      throw new RangeError(`Cannot start the ledger: maxProducers must be positive, got ${maxProducers}`);
    }
    this.#total = total;
    // Oldest first, so that eviction takes from the front of the map.
    this.#producers = new Map([...producers].sort((a, b) => a[1].lastSeen - b[1].lastSeen));
    this.#maxProducers = maxProducers;
  }

  get total(): number {
    return this.#total;
  }

  get producerCount(): number {
    return this.#producers.size;
  }

  /** The producer's state, if it is remembered. */
  producer(id: string): ProducerState | undefined {
    return this.#producers.get(id);
  }

  /** Starts a batch: every apply until commit() or rollback() belongs to it. */
  begin(): void {
    if (this.#before) throw new Error("Cannot begin a batch: one is already open");
    this.#totalBefore = this.#total;
    this.#before = new Map();
  }

  /**
   * Applies one like. A like with a producer and sequence number that is not
   * above the producer's last applied one is a duplicate and changes nothing.
   */
  apply(like: Like, now: number): Applied {
    const before = this.#before;
    if (!before) throw new Error("Cannot apply a like outside a batch");
    if (like.producer !== undefined && like.seq !== undefined) {
      const state = this.#producers.get(like.producer);
      if (state && like.seq <= state.lastSeq) {
        if (!before.has(like.producer)) before.set(like.producer, { ...state });
        state.lastSeen = now;
        return "duplicate";
      }
      if (!before.has(like.producer)) before.set(like.producer, state && { ...state });
      if (state) {
        state.lastSeq = like.seq;
        state.lastSeen = now;
      } else {
        this.#producers.set(like.producer, { lastSeq: like.seq, lastSeen: now });
      }
    }
    this.#total += like.likes;
    return "accepted";
  }

  /**
   * What the open batch changed, for the store: the new total, the producers
   * it touched, and the least recently seen producers to forget if the batch
   * pushes their number over the limit. The batch stays open until commit()
   * or rollback().
   */
  changes(): BatchChanges {
    const before = this.#before;
    if (!before) throw new Error("Cannot list changes: no batch is open");
    const touched: [string, ProducerState][] = [];
    for (const id of before.keys()) {
      const state = this.#producers.get(id);
      if (state) touched.push([id, state]);
    }
    const evicted: string[] = [];
    const excess = this.#producers.size - this.#maxProducers;
    if (excess > 0) {
      for (const id of this.#producers.keys()) {
        if (evicted.length === excess) break;
        if (!before.has(id)) evicted.push(id);
      }
    }
    return { total: this.#total, touched, evicted };
  }

  /** Ends the batch, keeping its changes and forgetting the producers `changes()` evicted. */
  commit(changes: BatchChanges): void {
    const before = this.#before;
    if (!before) throw new Error("Cannot commit: no batch is open");
    this.#before = undefined;
    for (const [id, state] of changes.touched) {
      // Re-insert so that map order stays least-recently-seen first.
      this.#producers.delete(id);
      this.#producers.set(id, state);
    }
    for (const id of changes.evicted) this.#producers.delete(id);
  }

  /** Undoes every apply since begin(). */
  rollback(): void {
    const before = this.#before;
    if (!before) throw new Error("Cannot roll back: no batch is open");
    this.#before = undefined;
    this.#total = this.#totalBefore;
    for (const [id, state] of before) {
      if (state) this.#producers.set(id, state);
      else this.#producers.delete(id);
    }
  }

  /** Forgets producers not seen since `cutoff`; returns their ids. */
  expire(cutoff: number): string[] {
    if (this.#before) throw new Error("Cannot expire producers during a batch");
    const gone: string[] = [];
    for (const [id, state] of this.#producers) {
      if (state.lastSeen >= cutoff) break;
      gone.push(id);
    }
    for (const id of gone) this.#producers.delete(id);
    return gone;
  }
}
