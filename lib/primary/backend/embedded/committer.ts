/**
 * Group commit on the embedded store (see batch_committer.ts for the stages
 * it shares). Everything handed in during one event-loop turn, across all
 * connections, becomes one batch:
 *   1. encode: apply the batch to the in-memory ledger (dedupe, new total)
 *      and build its log lines
 *   2. persist: one write() of the lines to the log, the commit record; in
 *      fsync mode also an fdatasync. With `syncOn: "thread"` (pipelined) the
 *      sync runs on a blocking thread while later batches are encoded and
 *      written behind it; when it returns, every batch it covers is answered
 *      and the next sync covers everything written since (one sync in flight
 *      at most). With `syncOn: "loop"` the sync blocks the event loop and the
 *      next batch gathers in the connections' sockets meanwhile.
 *      Before a sync starts with none running, a batch waits, up to the commit
 *      delay, for as many chunks as the fullest recent batch: the connections
 *      known to be sending.
 *   3. answer: the clients of the batch, in order, once its bytes are synced
 * A failed write rolls the batch back and cuts the log back to the end of the
 * batch before it; a failed sync cuts the log back to the last synced byte and
 * rolls back every batch written after it, newest first. Each such batch is
 * answered `1 storage error`, in order: nothing of it counted.
 * The checkpoint (SQLite), rotation, expiry and the log file's checks run
 * between batches, with no batch written and unsynced: a sync in flight is
 * waited for (new batches wait meanwhile), never on this path.
 */
import { setImmediate } from "node:timers";
import type { BatchChanges, Ledger } from "../../ledger.ts";
import { Health } from "../../health.ts";
import type { LikesLog } from "../../likes_log.ts";
import type { Stats } from "../../stats.ts";
import { DEFAULT_DURABILITY, type Durability } from "../backend.ts";
import { BatchCommitter, type Submission } from "../batch_committer.ts";
import type { Checkpointer } from "./checkpointer.ts";
import { EMBEDDED_DEFAULTS, type SyncOn } from "./defaults.ts";

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
  /**
   * fsync mode: `thread` syncs off the event loop with later batches written
   * behind the sync (pipelined); `loop` syncs on the event loop.
   * @default {EMBEDDED_DEFAULTS.syncOn}
   */
  syncOn?: SyncOn;
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

/** A batch written behind a sync (pipelined), waiting for one that covers it. */
interface Written extends Batch {
  /** The log's size after the batch's lines: a sync of at least this much covers it. */
  after: number;
  outcomes: Uint8Array;
  /** Whether its bytes prove the log healthy: it wrote some, and no write failed after it. */
  wrote: boolean;
  /** #writeFailures when it was written. */
  failuresBefore: number;
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
  /** fsync mode, syncOn "thread": batches are written behind a sync running off the loop. */
  readonly #pipelined: boolean;
  /** Pipelined: written batches no returned sync covers yet, oldest first (each open in the ledger). */
  #written: Written[] = [];
  /** Pipelined: a sync is running. */
  #syncing = false;
  /** Pipelined: work waiting for a moment with no batch written and unsynced (see betweenBatches()). */
  #waiting: (() => void)[] = [];
  /** Writes that failed so far: a batch written before one is no proof the log is healthy now. */
  #writeFailures = 0;

  constructor(ledger: Ledger, log: LikesLog, stats: Stats, options: CommitterOptions = {}) {
    const {
      durability = DEFAULT_DURABILITY,
      commitDelay = EMBEDDED_DEFAULTS.commitDelay,
      syncOn = EMBEDDED_DEFAULTS.syncOn,
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
    this.#pipelined = this.fsync && syncOn === "thread";
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
    // Pipelined, with a sync running: written now, the batch waits for that sync
    // anyway, and the next sync covers it with whatever else comes meanwhile.
    if (this.fsync && this.#commitDelay > 0 && !this.#syncing) {
      const started = performance.now();
      queueMicrotask(() => this.#gather(started));
    } else queueMicrotask(() => this.#flush());
  }

  protected busy(): boolean {
    return this.#scheduled || this.#syncing || this.#written.length > 0 || this.queue.length > 0;
  }

  /** Pipelined: no batch is written and unsynced, and no sync runs. */
  #settled(): boolean {
    return !this.#syncing && this.#written.length === 0;
  }

  /**
   * Runs `fn` between batches: for work that must see the ledger and the log
   * agree, such as a checkpoint or expiry. Syncing on the loop, that is now,
   * from any other task: a batch is encoded, written, synced and answered
   * within one task. Pipelined, it is now when no batch waits for a sync, else
   * once the sync running returns and the batches written behind it are
   * synced; no new batch is written until then.
   */
  betweenBatches(fn: () => void): void {
    if (!this.#pipelined || this.#settled()) return fn();
    this.#waiting.push(fn);
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
    const late = performance.now() - started >= this.#commitDelay;
    if (waiting >= this.#expected || late || this.#syncing) {
      // Pipelined, the expectation is what the last sync answered (see #synced()); a batch
      // written behind a sync is no measure of who is sending.
      if (!this.#pipelined || late) this.#expected = waiting;
      return this.#flush();
    }
    setImmediate(() => this.#gather(started));
  }

  #flush(): void {
    this.#scheduled = false;
    // Pipelined, with batches unsynced: work that must run between batches holds
    // new ones back (they stay queued) until the sync covering the written ones
    // returns; #settle() then runs it and flushes the queue. The log file is
    // looked at once for both this and checkLog().
    let unchanged: boolean | undefined;
    if (this.#pipelined && !this.#settled()) {
      unchanged = this.log.unchanged();
      if (this.#mustSettle(unchanged)) return this.#syncWritten();
    }
    const queue = this.queue;
    this.queue = [];
    if (queue.length === 0) {
      this.#syncWritten();
      return this.#afterBatch();
    }
    this.checkLog(unchanged);
    if (this.refusing !== undefined) {
      this.fail(queue);
      this.#syncWritten();
      return this.#afterBatch();
    }
    const batch = this.#encode(queue);
    if (this.#pipelined) this.#write(batch);
    else this.#persist(batch);
  }

  /**
   * Pipelined: whether the next batch must wait until nothing is unsynced:
   * work waits for a moment between batches, a checkpoint or rotation is due
   * (a checkpoint names only synced bytes, and rotation closes the file a sync
   * runs on), or the log's file is not as it was left (its check may move the
   * log to another file).
   */
  #mustSettle(unchanged: boolean): boolean {
    return this.#waiting.length > 0 || this.rotation?.due() === true || this.#checkpointer?.due() === true ||
      !unchanged;
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

  /**
   * Pipelined stage 2: one write of the batch's lines, behind any sync that
   * runs; a sync starts at once if none does. The batch stays open in the
   * ledger until a sync covers it.
   */
  #write(batch: Batch): void {
    const outcomes = this.keepOutcomes(batch.queue);
    const wrote = this.writer.length > 0;
    try {
      this.log.append(this.writer.view);
    } catch (error) {
      // append() has cut any part of the batch that reached the log; the
      // batches before it stand (the newest open in the ledger is this one).
      this.#writeFailures++;
      return this.#failBatch(batch, error);
    }
    this.#written.push({ ...batch, after: this.log.size, outcomes, wrote, failuresBefore: this.#writeFailures });
    if (this.#syncing) this.stats.writtenBehindSync++;
    else this.#sync();
  }

  /** Pipelined: syncs everything written so far, off the event loop. */
  #sync(): void {
    this.#syncing = true;
    const covers = this.log.size;
    this.log.syncAsync().then(() => this.#synced(covers), (error) => this.#syncFailed(error));
  }

  /** Pipelined: the sync of the log's first `covers` bytes returned; answers every batch in them, in order. */
  #synced(covers: number): void {
    this.#syncing = false;
    const written = this.#written;
    let answered = 0;
    while (answered < written.length && written[answered].after <= covers) {
      const batch = written[answered++];
      this.#ledger.commit(batch.changes);
      this.#lineCount += batch.lines;
      const wrote = batch.wrote && batch.failuresBefore === this.#writeFailures;
      this.answer(batch.queue, batch.now, batch.started, batch.outcomes, wrote);
    }
    let chunks = 0;
    for (let i = 0; i < answered; i++) chunks += written[i].queue.length;
    // The connections this sync answered are the ones known to be sending: the
    // next sync started with none running waits for as many (see #gather()).
    if (chunks > 0) this.#expected = chunks;
    written.splice(0, answered);
    if (written.length === 0) return this.#settle();
    // Batches wait behind this sync. The next starts once the connections just
    // answered have sent again (up to the commit delay, see #gather()), so that
    // it covers their next likes too: started at once, it would cover only
    // what came during this one, and a connection with one like in flight
    // would wait two syncs per like.
    if (this.#scheduled) return; // a flush is coming; it starts the sync
    if (this.#commitDelay === 0) return this.#sync();
    this.#scheduled = true;
    const started = performance.now();
    setImmediate(() => this.#gather(started));
  }

  /** Pipelined: starts a sync of the written batches if they wait for one and none runs. */
  #syncWritten(): void {
    if (this.#pipelined && !this.#syncing && this.#written.length > 0) this.#sync();
  }

  /**
   * Pipelined: the sync failed. What it covered cannot be trusted to be on
   * disk, nor what was written behind it: the log is cut back to the last
   * synced byte, and every written batch is rolled back (newest first) and
   * answered `1 storage error`, in order. Their retries count then.
   */
  #syncFailed(error: unknown): void {
    this.#syncing = false;
    const failed = this.#written;
    this.#written = [];
    this.#writeFailures++;
    try {
      this.log.truncate(failed[0].before);
    } catch (cut) {
      console.error(`primary: Cannot cut unsynced batches from the log: ${(cut as Error).message}`);
    }
    for (let i = failed.length - 1; i >= 0; i--) this.#ledger.rollback();
    this.health.fail("log", `Cannot write to the log ${this.log.path}: ${(error as Error).message}`);
    for (const batch of failed) this.fail(batch.queue);
    this.#settle();
  }

  /**
   * Pipelined: nothing is unsynced. Runs what waited for a moment between
   * batches, then what follows every batch (rotation, checkpoint, the next
   * batch).
   */
  #settle(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const fn of waiting) {
      try {
        fn();
      } catch (error) {
        console.error(`primary: Work between batches failed: ${(error as Error).message}`);
      }
    }
    this.#afterBatch();
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

  /**
   * Between two batches: a checkpoint when due, then the next batch or the
   * idle waiters. Pipelined, rotation and the checkpoint wait until nothing
   * is unsynced (a later #settle() runs them).
   */
  #afterBatch(): void {
    if (!this.#pipelined || this.#settled()) {
      this.rotateIfDue();
      if (this.#checkpointer?.due()) this.#checkpointer.start(this.#lineCount);
    }
    this.schedule();
    this.wakeIfIdle();
  }
}
