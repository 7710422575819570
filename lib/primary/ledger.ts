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
 *
 * The state is bounded without ever forgetting a live producer: one seen
 * within the TTL is kept whatever the traffic, and when the table is full of
 * live producers a new one is refused (`too many producers`, retryable), since
 * forgetting a live one would let its retries be counted twice. The likes of
 * each producer's highest seq are kept too, so that the same seq sent again
 * with another count is refused rather than answered as if it were counted.
 */
import type { Like } from "../protocol/message.ts";

/** Seqs a producer's window covers: its highest counted seq and the 31 below it. */
export const WINDOW = 32;

/** Producers whose dedupe state is kept, when not given. */
export const DEFAULT_MAX_PRODUCERS = 100_000;

/**
 * How long a producer's dedupe state is kept after it was last heard from
 * (ms), when not given: well beyond a LikesServer's whole retry of one
 * message (--retry-for 30s plus --reply-timeout 5s), and short enough that a
 * table filled by fresh ids frees itself.
 */
export const DEFAULT_PRODUCER_TTL = 600_000;

/** Decides whether one more new producer may be admitted for a source (the per-address rate limit). */
export interface NewProducerGate {
  /** Takes one admission; false when the source has used its share. */
  admit(now: number): boolean;
}

export interface ProducerState {
  /** Highest sequence number applied for this producer. */
  lastSeq: number;
  /** Bit i set: seq `lastSeq - i` was counted. Bit 0 is always set. */
  window: number;
  /** Every seq from this one to lastSeq was counted. */
  runStart: number;
  /** Milliseconds since the epoch when the producer was last heard from. */
  lastSeen: number;
  /** The likes of seq lastSeq, or -1 when not known (restored from a checkpoint). */
  lastLikes: number;
}

/**
 * What became of a like: counted, already counted, or refused without being
 * counted (`seq reused`: the highest seq again with another count; `too many
 * producers`: a new producer while the table is full of live ones; `too many
 * new producers`: a new producer over its source's rate).
 */
export type Applied =
  | "accepted"
  | "duplicate"
  | "out of order"
  | "seq reused"
  | "too many producers"
  | "too many new producers";

/** A producer as a checkpoint or an older state file stores it; no window means only lastSeq is known. */
export type StoredProducer = Omit<ProducerState, "window" | "runStart" | "lastLikes"> & {
  window?: number;
  runStart?: number;
  lastLikes?: number;
};

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

/** The state of a producer first counted at `seq` with `likes`. */
export function newProducer(seq: number, now: number, likes = -1): ProducerState {
  return { lastSeq: seq, window: 1, runStart: seq, lastSeen: now, lastLikes: likes };
}

/** Counts `seq`, of `likes`, in the state (it must be above the highest). */
export function advance(state: ProducerState, seq: number, likes = -1): void {
  const shift = seq - state.lastSeq;
  state.window = shift >= WINDOW ? 1 : ((state.window << shift) | 1) >>> 0;
  if (shift !== 1) state.runStart = seq;
  state.lastSeq = seq;
  state.lastLikes = likes;
}

/**
 * What rollback() needs to undo one open batch: the total before it, each
 * producer it touched as it was before (undefined: new in the batch), and the
 * producers it forgot to make room.
 */
interface Journal {
  totalBefore: number;
  before: Map<string, ProducerState | undefined>;
  evicted: string[];
}

/** What one batch changed, for the store. */
export interface BatchChanges {
  total: number;
  touched: [string, ProducerState][];
  evicted: string[];
}

export interface LedgerOptions {
  /**
   * Producers remembered at most; when the table is full, a producer unseen
   * for `producerTtl` makes room for a new one, and without one the new one is
   * refused. @default {DEFAULT_MAX_PRODUCERS}
   */
  maxProducers?: number;
  /** A producer seen within this long (ms) is never forgotten to make room. @default {DEFAULT_PRODUCER_TTL} */
  producerTtl?: number;
}

export class Ledger {
  #total: number;
  readonly #producers: Map<string, ProducerState>;
  readonly #maxProducers: number;
  readonly #producerTtl: number;
  /**
   * The open batches' journals, oldest first: several are open at once when
   * batches are written behind a sync that has not returned (fsync mode,
   * pipelined). The newest is the one apply() adds to.
   */
  #open: Journal[] = [];
  // Producers changed or forgotten since the last checkpoint.
  #dirty = new Set<string>();

  constructor(total = 0, producers: Iterable<[string, StoredProducer]> = [], options: LedgerOptions = {}) {
    const { maxProducers = DEFAULT_MAX_PRODUCERS, producerTtl = DEFAULT_PRODUCER_TTL } = options;
    if (!Number.isSafeInteger(total) || total < 0) {
      throw new RangeError(`Cannot start the ledger: total must be a non-negative integer, got ${total}`);
    }
    if (!Number.isInteger(maxProducers) || maxProducers < 1) {
      throw new RangeError(`Cannot start the ledger: maxProducers must be positive, got ${maxProducers}`);
    }
    if (!Number.isInteger(producerTtl) || producerTtl < 0) {
      throw new RangeError(`Cannot start the ledger: producerTtl must be a non-negative integer, got ${producerTtl}`);
    }
    this.#total = total;
    // Oldest first, so that eviction takes from the front of the map.
    this.#producers = new Map(
      [...producers].sort((a, b) => a[1].lastSeen - b[1].lastSeen).map((
        [id, { lastSeq, window = 1, runStart = lastSeq, lastSeen, lastLikes = -1 }],
      ) => [id, { lastSeq, window: (window | 1) >>> 0, runStart, lastSeen, lastLikes }]),
    );
    this.#maxProducers = maxProducers;
    this.#producerTtl = producerTtl;
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

  /** Batches begun and neither committed nor rolled back. */
  get openBatches(): number {
    return this.#open.length;
  }

  /**
   * Starts a batch: every apply until the next begin() belongs to it. Earlier
   * batches may still be open (written, waiting for their sync): commit()
   * ends the oldest, rollback() undoes the newest, so a failed sync undoes
   * every batch it covers newest first, back to the state before the oldest.
   */
  begin(): void {
    this.#open.push({ totalBefore: this.#total, before: new Map(), evicted: [] });
  }

  /**
   * Applies one like. A like with a producer and sequence number is counted
   * once: a repeat is a duplicate, and one below the producer's highest that
   * was never counted is out of order; neither changes the total. A new
   * producer is first admitted by `gate` (its source's rate), then given
   * room (see LedgerOptions.maxProducers).
   */
  apply(like: Like, now: number, gate?: NewProducerGate): Applied {
    const before = this.#open.at(-1)?.before;
    if (!before) throw new Error("Cannot apply a like outside a batch");
    if (like.producer !== undefined && like.seq !== undefined) {
      const state = this.#producers.get(like.producer);
      if (state) {
        const applied = classify(state, like.seq);
        if (applied === "out of order") return applied;
        if (applied === "duplicate" && like.seq === state.lastSeq && like.likes !== state.lastLikes) {
          if (state.lastLikes >= 0) return "seq reused";
        }
        if (!before.has(like.producer)) before.set(like.producer, { ...state });
        state.lastSeen = now;
        if (applied === "duplicate") return applied;
        advance(state, like.seq, like.likes);
      } else {
        if (gate !== undefined && !gate.admit(now)) return "too many new producers";
        if (this.#producers.size >= this.#maxProducers && !this.#makeRoom(now)) return "too many producers";
        if (!before.has(like.producer)) before.set(like.producer, undefined);
        this.#producers.set(like.producer, newProducer(like.seq, now, like.likes));
      }
    }
    this.#total += like.likes;
    return "accepted";
  }

  /**
   * Forgets the least recently seen producer if it is unseen for the TTL, to
   * make room for a new one; false when every producer is live. Only a full
   * table gets here, so the valid path never pays for it.
   */
  #makeRoom(now: number): boolean {
    const open = this.#open;
    const journal = open.at(-1)!;
    const cutoff = now - this.#producerTtl;
    for (const [id, state] of this.#producers) {
      // Touched in an open batch: seen lately (its place in the map moves only at
      // commit), and its undo is journalled there.
      if (open.some(({ before }) => before.has(id))) continue;
      // Least recently seen first: once one is live, all the rest are.
      if (state.lastSeen >= cutoff) return false;
      journal.before.set(id, state);
      this.#producers.delete(id);
      journal.evicted.push(id);
      return true;
    }
    return false;
  }

  /**
   * What the newest open batch changed, for the store: the new total, the
   * producers it touched, and the producers it forgot to make room (each
   * unseen for the TTL). The batch stays open until commit() or rollback().
   */
  changes(): BatchChanges {
    const journal = this.#open.at(-1);
    if (!journal) throw new Error("Cannot list changes: no batch is open");
    const touched: [string, ProducerState][] = [];
    for (const id of journal.before.keys()) {
      const state = this.#producers.get(id);
      if (state) touched.push([id, state]);
    }
    return { total: this.#total, touched, evicted: journal.evicted.filter((id) => !this.#producers.has(id)) };
  }

  /**
   * Ends the oldest open batch, keeping its changes (`changes`, as changes()
   * listed them), the producers it forgot included.
   */
  commit(changes: BatchChanges): void {
    if (!this.#open.shift()) throw new Error("Cannot commit: no batch is open");
    const dirty = this.#dirty;
    const producers = this.#producers;
    for (const id of changes.evicted) dirty.add(id);
    for (const [id] of changes.touched) {
      // Looked up again: a later batch may have replaced the state since changes()
      // (a rolled-back one puts back a copy). Re-inserted so that map order stays
      // least-recently-seen first.
      const state = producers.get(id);
      if (state) {
        producers.delete(id);
        producers.set(id, state);
      }
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

  /** Undoes the newest open batch: every apply since its begin(). */
  rollback(): void {
    const journal = this.#open.pop();
    if (!journal) throw new Error("Cannot roll back: no batch is open");
    this.#total = journal.totalBefore;
    for (const [id, state] of journal.before) {
      if (state) this.#producers.set(id, state);
      else this.#producers.delete(id);
    }
  }

  /** Forgets producers not seen since `cutoff`; returns their ids. */
  expire(cutoff: number): string[] {
    if (this.#open.length > 0) throw new Error("Cannot expire producers during a batch");
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
