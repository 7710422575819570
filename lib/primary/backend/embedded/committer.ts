/**
 * Group commit on the embedded store (see batch_committer.ts for the stages
 * it shares). Everything handed in during one event-loop turn, across all
 * connections, becomes one batch:
 *   1. encode: apply the batch to the in-memory ledger (dedupe, new total)
 *      and build its log lines
 *   2. persist: one write() of the lines to the log, the commit record; in
 *      fsync mode also one fdatasync, while the next batch gathers in the
 *      connections' sockets (the more connections send, the more likes per sync).
 *      In fsync mode a batch first waits, up to the commit delay, for as many
 *      chunks as the fullest recent batch: the connections known to be sending.
 *   3. answer: the clients of the batch, in order
 * A failed write or sync rolls the ledger back, cuts the log back to the end
 * of the last whole batch, and answers `1 storage error`: nothing counted.
 * The checkpoint (SQLite) is written between batches, never on this path.
 */
import { setImmediate } from "node:timers";
import type { BatchChanges, Ledger } from "../../ledger.ts";
import { Health } from "../../health.ts";
import type { LikesLog } from "../../likes_log.ts";
import type { Stats } from "../../stats.ts";
import { DEFAULT_DURABILITY, type Durability } from "../backend.ts";
import { BatchCommitter, type Submission } from "../batch_committer.ts";
import type { Checkpointer } from "./checkpointer.ts";
import { EMBEDDED_DEFAULTS } from "./defaults.ts";

export interface CommitterOptions {
  /** @default {"normal"} */
  durability?: Durability;
  /**
   * fsync mode: the longest a batch waits, once something is submitted, for
   * as many chunks as the fullest recent batch held before its write and
   * sync start, so that the connections known to be sending share one sync
   * (ms; 0: sync as soon as anything waits).
   * @default {EMBEDDED_DEFAULTS.commitDelay}
   */
  commitDelay?: number;
  /** Writes the checkpoint between batches when due. @default {undefined} */
  checkpointer?: Checkpointer;
  /** Told of failed and recovered writes. @default {new Health()} */
  health?: Health;
  /** Lines the log held when the committer took it over (for the checkpoint's line count). @default {0} */
  lines?: number;
}

/** A batch between its stages. */
interface Batch {
  queue: Submission[];
  changes: BatchChanges;
  /** The log's size before the batch's lines. */
  before: number;
  now: number;
  started: number;
  lines: number;
}

export class Committer extends BatchCommitter {
  readonly #ledger: Ledger;
  readonly #commitDelay: number;
  readonly #checkpointer: Checkpointer | undefined;
  #scheduled = false;
  #lineCount: number;
  /**
   * fsync mode: chunks the batch waits for. It follows the fullest batch and
   * falls to what came when the delay ran out, so a connection that went
   * quiet costs at most one delay.
   */
  #expected = 0;

  constructor(ledger: Ledger, log: LikesLog, stats: Stats, options: CommitterOptions = {}) {
    const {
      durability = DEFAULT_DURABILITY,
      commitDelay = EMBEDDED_DEFAULTS.commitDelay,
      checkpointer,
      health = new Health(),
      lines = 0,
    } = options;
    if (!(commitDelay >= 0)) throw new RangeError(`Cannot commit: commitDelay must be >= 0, got ${commitDelay}`);
    super(log, stats, health, durability);
    this.#ledger = ledger;
    this.#commitDelay = commitDelay;
    this.#checkpointer = checkpointer;
    this.#lineCount = lines;
  }

  /** Lines in the log, as far as this committer wrote them. */
  get lines(): number {
    return this.#lineCount;
  }

  loggedTotal(): number {
    return this.#ledger.total;
  }

  /**
   * The log went on in a new file holding `lines` lines; unless the
   * primary's own rotation did it (it checkpoints on its own schedule), the
   * next checkpoint is due at once.
   */
  continued(lines: number, rotated: boolean): void {
    this.#lineCount = lines;
    if (!rotated) this.#checkpointer?.continued();
  }

  protected schedule(): void {
    if (this.#scheduled || this.queue.length === 0) return;
    this.#scheduled = true;
    // A microtask runs once this turn's I/O callbacks have run: every read that
    // completed this turn resumes its connection (all alike, in one round of
    // microtasks) and submits before the flush, so the batch still spans the
    // connections, without the extra event-loop phase setImmediate costs per
    // round trip (setTimeout(0) costs ~2 ms here).
    if (this.fsync && this.#commitDelay > 0) {
      const started = performance.now();
      queueMicrotask(() => this.#gather(started));
    } else queueMicrotask(() => this.#flush());
  }

  protected busy(): boolean {
    return this.#scheduled;
  }

  /**
   * Runs `fn` between batches: for work that must see the ledger and the log
   * agree, such as a checkpoint or expiry. That is now, from any other task: a
   * batch is encoded, written, synced and answered within one task.
   */
  betweenBatches(fn: () => void): void {
    fn();
  }

  /** Writes the checkpoint now, if one is configured (at a clean stop). */
  checkpoint(all = false): boolean {
    return this.#checkpointer?.write(this.#lineCount, all) ?? true;
  }

  override event(text: string): void {
    super.event(text);
    this.#lineCount++;
  }

  /**
   * fsync mode: flushes once as many chunks wait as the fullest recent batch
   * held, or the commit delay ran out. It looks again each event-loop turn
   * (setImmediate, a few µs; a timer would fire milliseconds late here), so
   * every read that completes meanwhile joins. Measured against syncing at
   * once: +35 % likes/s at 10×1, +20 % at 10×16 (docs/performance.md).
   */
  #gather(started: number): void {
    const waiting = this.queue.length;
    if (waiting >= this.#expected || performance.now() - started >= this.#commitDelay) {
      this.#expected = waiting;
      return this.#flush();
    }
    setImmediate(() => this.#gather(started));
  }

  #flush(): void {
    this.#scheduled = false;
    const queue = this.queue;
    this.queue = [];
    if (queue.length === 0) return this.#afterBatch();
    this.checkLog();
    if (this.refusing !== undefined) {
      this.fail(queue);
      return this.#afterBatch();
    }
    const batch = this.#encode(queue);
    this.#persist(batch);
  }

  /** Stage 1: applies the batch to the ledger (left open) and builds its log lines. */
  #encode(queue: Submission[]): Batch {
    const started = performance.now();
    const now = Date.now();
    const before = this.log.size;
    this.#ledger.begin();
    const lines = this.encode(queue, this.#ledger, now);
    return { queue, changes: this.#ledger.changes(), before, now, started, lines };
  }

  /**
   * Stage 2: one write of the batch's lines and, in fsync mode, one sync.
   * The sync blocks the event loop on purpose: what connections send
   * meanwhile waits in their sockets and is read as one next batch, so the
   * group commit is the same, without a hop to a blocking thread and back per
   * sync (measured 25-40% more likes/s at 1x1 to 10x16 than syncing off the
   * loop, and no worse at 50x32; see docs/performance.md).
   */
  #persist(batch: Batch): void {
    try {
      this.log.append(this.writer.view);
    } catch (error) {
      // append() has cut any part of the batch that reached the log.
      return this.#failBatch(batch, error);
    }
    if (this.fsync) {
      try {
        this.log.sync();
      } catch (error) {
        // What the sync failed on cannot be trusted to be on disk: not counted, not kept.
        try {
          this.log.truncate(batch.before);
        } catch (cut) {
          console.error(`primary: Cannot cut an unsynced batch from the log: ${(cut as Error).message}`);
        }
        return this.#failBatch(batch, error);
      }
    }
    this.#answer(batch);
  }

  /** Stage 3: the batch is committed; answer each submission in order. */
  #answer(batch: Batch): void {
    this.#ledger.commit(batch.changes);
    this.#lineCount += batch.lines;
    this.answer(batch.queue, batch.now, batch.started);
    this.#afterBatch();
  }

  #failBatch(batch: Batch, error: unknown): void {
    this.#ledger.rollback();
    this.health.fail("log", `Cannot write to the log ${this.log.path}: ${(error as Error).message}`);
    this.fail(batch.queue);
    this.#afterBatch();
  }

  /** Between two batches: a checkpoint when due, then the next batch or the idle waiters. */
  #afterBatch(): void {
    this.rotateIfDue();
    if (this.#checkpointer?.due()) this.#checkpointer.start(this.#lineCount);
    this.schedule();
    this.wakeIfIdle();
  }
}
