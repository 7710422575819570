/**
 * The aggregation math, pure and in memory: the running total and the dedupe
 * state. No I/O here; the committer logs what a batch did and rolls the batch
 * back when the log refuses it.
 *
 * Dedupe keeps, per producer, its highest counted seq, where the run of
 * consecutive counted seqs ending there starts (every seq of the run was
 * counted: a producer that counts up by one, as LikesServers do, can have any
 * of its likes retried, however many were in flight), and a window of which
 * of the WINDOW seqs up to the highest were counted, as a bitmask (as Kafka's
 * idempotent producer and IPsec's anti-replay window do), for the seqs before
 * a gap. A counted seq is a duplicate; any other seq not above the highest
 * was never counted, or cannot be known to have been, and is "out of order":
 * it is never answered `0`, since `0` promises the like is in the total.
 */
import type { Like } from "../protocol/message.ts";

/** Seqs a producer's window covers: its highest counted seq and the 31 below it. */
export const WINDOW = 32;

/** Producers whose dedupe state is kept, when not given. */
export const DEFAULT_MAX_PRODUCERS = 100_000;

export interface ProducerState {
  /** Highest sequence number applied for this producer. */
  lastSeq: number;
  /** Bit i set: seq `lastSeq - i` was counted. Bit 0 is always set. */
  window: number;
  /** Every seq from this one to lastSeq was counted. */
  runStart: number;
  /** Milliseconds since the epoch when the producer was last heard from. */
  lastSeen: number;
}

export type Applied = "accepted" | "duplicate" | "out of order";

/** A producer as a checkpoint or an older state file stores it; no window means only lastSeq is known. */
export type StoredProducer = Omit<ProducerState, "window" | "runStart"> & { window?: number; runStart?: number };

/**
 * Where `seq` stands against a producer's state: "accepted" when above the
 * highest, "duplicate" when counted, "out of order" otherwise.
 */
export function classify(state: ProducerState, seq: number): Applied {
  if (seq > state.lastSeq) return "accepted";
  if (seq >= state.runStart) return "duplicate";
  const behind = state.lastSeq - seq;
  return behind < WINDOW && ((state.window >>> behind) & 1) === 1 ? "duplicate" : "out of order";
}

/** The state of a producer first counted at `seq`. */
export function newProducer(seq: number, now: number): ProducerState {
  return { lastSeq: seq, window: 1, runStart: seq, lastSeen: now };
}

/** Counts `seq` in the state (it must be above the highest). */
export function advance(state: ProducerState, seq: number): void {
  const shift = seq - state.lastSeq;
  state.window = shift >= WINDOW ? 1 : ((state.window << shift) | 1) >>> 0;
  if (shift !== 1) state.runStart = seq;
  state.lastSeq = seq;
}

/** What one batch changed, for the store. */
export interface BatchChanges {
  total: number;
  touched: [string, ProducerState][];
  evicted: string[];
}

export interface LedgerOptions {
  /** Producers remembered at most; the least recently seen are forgotten first. @default {DEFAULT_MAX_PRODUCERS} */
  maxProducers?: number;
}

export class Ledger {
  #total: number;
  readonly #producers: Map<string, ProducerState>;
  readonly #maxProducers: number;
  // Batch journal: the state before the batch, for rollback.
  #totalBefore = 0;
  #before: Map<string, ProducerState | undefined> | undefined;
  // Producers changed or forgotten since the last checkpoint.
  #dirty = new Set<string>();

  constructor(total = 0, producers: Iterable<[string, StoredProducer]> = [], options: LedgerOptions = {}) {
    const { maxProducers = DEFAULT_MAX_PRODUCERS } = options;
    if (!Number.isSafeInteger(total) || total < 0) {
      throw new RangeError(`Cannot start the ledger: total must be a non-negative integer, got ${total}`);
    }
    if (!Number.isInteger(maxProducers) || maxProducers < 1) {
      throw new RangeError(`Cannot start the ledger: maxProducers must be positive, got ${maxProducers}`);
    }
    this.#total = total;
    // Oldest first, so that eviction takes from the front of the map.
    this.#producers = new Map(
      [...producers].sort((a, b) => a[1].lastSeen - b[1].lastSeen).map((
        [id, { lastSeq, window = 1, runStart = lastSeq, lastSeen }],
      ) => [id, { lastSeq, window: (window | 1) >>> 0, runStart, lastSeen }]),
    );
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
   * Applies one like. A like with a producer and sequence number is counted
   * once: a repeat is a duplicate, and one below the producer's highest that
   * was never counted is out of order; neither changes the total.
   */
  apply(like: Like, now: number): Applied {
    const before = this.#before;
    if (!before) throw new Error("Cannot apply a like outside a batch");
    if (like.producer !== undefined && like.seq !== undefined) {
      const state = this.#producers.get(like.producer);
      if (state) {
        const applied = classify(state, like.seq);
        if (applied === "out of order") return applied;
        if (!before.has(like.producer)) before.set(like.producer, { ...state });
        state.lastSeen = now;
        if (applied === "duplicate") return applied;
        advance(state, like.seq);
      } else {
        if (!before.has(like.producer)) before.set(like.producer, undefined);
        this.#producers.set(like.producer, newProducer(like.seq, now));
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
    const dirty = this.#dirty;
    for (const [id, state] of changes.touched) {
      // Re-insert so that map order stays least-recently-seen first.
      this.#producers.delete(id);
      this.#producers.set(id, state);
      dirty.add(id);
    }
    for (const id of changes.evicted) {
      this.#producers.delete(id);
      dirty.add(id);
    }
  }

  /** Every producer, least recently seen first (for a checkpoint written from scratch). */
  producers(): IterableIterator<[string, ProducerState]> {
    return this.#producers.entries();
  }

  /** The producers changed or forgotten since the last call, for a checkpoint; the set is cleared. */
  takeDirty(): Set<string> {
    const dirty = this.#dirty;
    this.#dirty = new Set();
    return dirty;
  }

  /** Gives back what takeDirty() returned, when the checkpoint could not be written. */
  restoreDirty(ids: Set<string>): void {
    for (const id of ids) this.#dirty.add(id);
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
    for (const id of gone) {
      this.#producers.delete(id);
      this.#dirty.add(id);
    }
    return gone;
  }
}
