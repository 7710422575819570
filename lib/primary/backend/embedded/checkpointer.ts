/**
 * Writes the checkpoint (see store.ts) every `every` ms or `bytes` of log,
 * whichever comes first, and at a clean stop, always between batches: never
 * while a batch is written or synced, so that the checkpoint's state is
 * exactly that of the log up to its offset. No like waits for it: in normal
 * mode the log sync a checkpoint needs runs on a blocking thread, and the
 * state taken between batches is saved once it is done (see start()).
 */
import type { LogPosition, Store } from "./store.ts";
import { DEFAULT_DURABILITY, type Durability } from "../backend.ts";
import { EMBEDDED_DEFAULTS } from "./defaults.ts";
import type { Ledger, ProducerState } from "../../ledger.ts";
import type { LikesLog } from "../../likes_log.ts";
import type { Health } from "../../health.ts";
import { positionAt } from "./replay.ts";

export interface CheckpointerOptions {
  /** Longest time between checkpoints while the log grows (ms). @default {EMBEDDED_DEFAULTS.checkpointEvery} */
  every?: number;
  /** Most log bytes between checkpoints. @default {EMBEDDED_DEFAULTS.checkpointBytes} */
  bytes?: number;
  /** @default {"normal"} */
  durability?: Durability;
}

/** A checkpoint taken between batches, waiting for the log sync that must precede its save. */
interface Pending {
  total: number;
  position: LogPosition;
  /** The dirty producers' states as they were when taken (copies: the ledger moves on). */
  producers: [string, ProducerState | undefined][];
  dirty: Set<string>;
}

export class Checkpointer {
  readonly #store: Store;
  readonly #log: LikesLog;
  readonly #ledger: Ledger;
  readonly #health: Health;
  readonly #every: number;
  readonly #bytes: number;
  readonly #fsync: boolean;
  /** Told the log id each checkpoint saved names (rotation deletes the files it no longer needs). */
  onSaved: (logId: string) => void = () => {};
  /** The log id the stored checkpoint names ("" before the first). */
  #savedLogId = "";
  // The clock starts with the checkpointer: the first is due one period in, as every later one.
  #lastAt = Date.now();
  #lastOffset = -1;
  #failed = false;
  /** A checkpoint whose log sync is running; superseded when write() runs meanwhile. */
  #pending: Pending | undefined;
  #settled: Promise<void> = Promise.resolve();

  constructor(store: Store, log: LikesLog, ledger: Ledger, health: Health, options: CheckpointerOptions = {}) {
    const {
      every = EMBEDDED_DEFAULTS.checkpointEvery,
      bytes = EMBEDDED_DEFAULTS.checkpointBytes,
      durability = DEFAULT_DURABILITY,
    } = options;
    if (!(every > 0) || !(bytes > 0)) {
      throw new RangeError(`Cannot checkpoint: every and bytes must be positive, got ${every} and ${bytes}`);
    }
    this.#store = store;
    this.#log = log;
    this.#ledger = ledger;
    this.#health = health;
    this.#every = every;
    this.#bytes = bytes;
    this.#fsync = durability === "fsync";
  }

  /** The id of the log the stored checkpoint names, "" before one was written. */
  get savedLogId(): string {
    return this.#savedLogId;
  }

  /** The log went on in a new file: a checkpoint of it is due now. */
  continued(): void {
    this.#lastOffset = -1;
    this.#lastAt = 0;
  }

  /** Whether enough time or log has passed since the last checkpoint. */
  due(now = Date.now()): boolean {
    if (this.#pending) return false;
    const grown = this.#log.size - this.#lastOffset;
    if (grown <= 0) return false;
    // After a failure (a full disk, say), retry on the clock, not after every batch.
    return (!this.#failed && grown >= this.#bytes) || now - this.#lastAt >= this.#every;
  }

  /**
   * Writes a checkpoint of the ledger at the log's end, which holds `lines`
   * lines; with `all`, every producer (a checkpoint from scratch), else those
   * changed since the last one. Returns false, with the health told why, when
   * it could not be written; the next one retries.
   */
  write(lines: number, all = false): boolean {
    return this.#save(lines, all, true);
  }

  /**
   * At a rotation: writes a checkpoint of the file just begun (its first
   * lines) now, without the sync a normal-mode checkpoint waits for. The
   * rotated files it lets go are deleted only once it is saved, and a sync
   * queues behind every other write to the disk: up to 165 ms measured under
   * 50×32 with 1M files, while tens of rotated files piled up. Normal mode
   * promises kill -9, which needs no sync; after a power loss that took the
   * new file's first lines, this checkpoint does not match the log, and
   * start-up rebuilds from the chain instead.
   */
  writeAtRotation(lines: number): boolean {
    return this.#save(lines, false, false);
  }

  #save(lines: number, all: boolean, sync: boolean): boolean {
    const log = this.#log;
    const ledger = this.#ledger;
    // A checkpoint still waiting for its sync is superseded: this one covers its producers too.
    if (this.#pending) ledger.restoreDirty(this.#pending.dirty);
    this.#pending = undefined;
    const dirty = ledger.takeDirty();
    try {
      // In normal mode the log is not synced per batch; sync it now, so that not
      // even a power loss can leave the checkpoint ahead of the log (fsync mode
      // only checkpoints what its syncs covered).
      if (!this.#fsync && sync) log.sync();
      const position = positionAt(log, log.size, lines, log.id());
      const producers: Iterable<[string, ProducerState | undefined]> = all
        ? ledger.producers()
        : [...dirty].map((id) => [id, ledger.producer(id)]);
      this.#store.save(ledger.total, position, producers, all);
      this.#savedLogId = position.logId;
    } catch (error) {
      ledger.restoreDirty(dirty);
      this.#failedWith(error);
      return false;
    }
    this.#health.ok("checkpoint");
    this.#failed = false;
    this.#lastAt = Date.now();
    this.#lastOffset = log.size;
    this.onSaved(this.#savedLogId);
    return true;
  }

  /**
   * Takes a checkpoint of the changed producers now (between batches, like
   * write()) and saves it once the log is synced up to its offset, which in
   * normal mode runs on a blocking thread while batches go on: a sync of
   * megabytes of log must not stall the event loop. In fsync mode the log is
   * synced already and the checkpoint is saved at once.
   */
  start(lines: number): void {
    if (this.#fsync) {
      this.write(lines);
      return;
    }
    if (this.#pending) return;
    const log = this.#log;
    const ledger = this.#ledger;
    const dirty = ledger.takeDirty();
    let pending: Pending;
    try {
      const producers: [string, ProducerState | undefined][] = [];
      for (const id of dirty) {
        const state = ledger.producer(id);
        producers.push([id, state && { ...state }]);
      }
      pending = { total: ledger.total, position: positionAt(log, log.size, lines, log.id()), producers, dirty };
    } catch (error) {
      ledger.restoreDirty(dirty);
      this.#failedWith(error);
      return;
    }
    this.#pending = pending;
    this.#lastAt = Date.now();
    this.#lastOffset = pending.position.offset;
    this.#settled = log.syncAsync().then(
      () => {
        if (this.#pending !== pending) return;
        this.#pending = undefined;
        try {
          this.#store.save(pending.total, pending.position, pending.producers, false);
          this.#savedLogId = pending.position.logId;
        } catch (error) {
          ledger.restoreDirty(pending.dirty);
          this.#failedWith(error);
          return;
        }
        this.#health.ok("checkpoint");
        this.#failed = false;
        this.onSaved(this.#savedLogId);
      },
      (error) => {
        if (this.#pending !== pending) return;
        this.#pending = undefined;
        ledger.restoreDirty(pending.dirty);
        this.#failedWith(error);
      },
    );
  }

  /** Resolves when the checkpoint start() began is saved, superseded or failed. */
  settled(): Promise<void> {
    return this.#settled;
  }

  #failedWith(error: unknown): void {
    this.#health.fail("checkpoint", `Cannot write the checkpoint: ${(error as Error).message}`);
    this.#lastAt = Date.now();
    this.#failed = true;
  }
}
