/**
 * Group commit. Connections hand in the messages of each chunk they read;
 * everything handed in during one event-loop turn, across all connections,
 * becomes one batch, in three stages:
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
import type { Durability } from "./store.ts";
import type { BatchChanges, Ledger } from "../../ledger.ts";
import type { Checkpointer } from "./checkpointer.ts";
import { Health } from "../../health.ts";
import type { LikesLog } from "../../likes_log.ts";
import type { Like } from "../../../protocol/message.ts";
import type { Stats } from "../../stats.ts";
import { formatPrimaryLine, PrimaryLogWriter } from "../../../formats/primary_log.ts";

/** A line that was not a valid message, with its data already escaped for the log. */
export interface Rejected {
  kind: "invalid";
  reason: string;
  /** The escaped data (see escape.ts), or undefined to log no data. */
  data: string | undefined;
  /** Peer address, for the log. */
  from: string;
}

/** A fixed reply that needs no commit and no log line, kept in order with the others. */
export interface Reply {
  kind: "reply";
  text: string;
}

export type Entry = Like | Rejected | Reply;

/** A chunk's entries and who waits for their replies. */
interface Submission {
  entries: Entry[];
  resolve: (replies: Uint8Array) => void;
}

export interface CommitterOptions {
  /** @default {"normal"} */
  durability?: Durability;
  /**
   * fsync mode: the longest a batch waits, once something is submitted, for
   * as many chunks as the fullest recent batch held before its write and
   * sync start, so that the connections known to be sending share one sync
   * (ms; 0: sync as soon as anything waits).
   * @default {1}
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

const encoder = new TextEncoder();

/**
 * The reply to a chunk whose likes were all accepted, the common case, is a
 * view of this: nothing to build or encode per chunk. Never written to.
 */
const ALL_ACCEPTED = encoder.encode("0\n".repeat(4096));

// What became of each entry of a batch, for its replies and stats after the commit.
const ACCEPTED = 0;
const DUPLICATE = 1;
const INVALID = 2;
const REPLY = 3;
const OUT_OF_ORDER = 4;

/** The reply to an entry of a batch that could not be committed. */
export function failedReply(entry: Entry): string {
  if (entry.kind === "reply") return `${entry.text}\n`;
  return entry.kind === "invalid" ? `1 ${entry.reason}\n` : "1 storage error\n";
}

function replyText(entries: Entry[], outcomes: Uint8Array, first: number): string {
  let reply = "";
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    const outcome = outcomes[first + i];
    if (entry.kind === "reply") reply += `${entry.text}\n`;
    else if (entry.kind === "invalid") reply += `1 ${entry.reason}\n`;
    else if (outcome === OUT_OF_ORDER) reply += "1 out of order\n";
    else reply += outcome === ACCEPTED ? "0\n" : "0 duplicate\n";
  }
  return reply;
}

export class Committer {
  readonly #ledger: Ledger;
  readonly #log: LikesLog;
  readonly #stats: Stats;
  readonly #fsync: boolean;
  readonly #commitDelay: number;
  readonly #checkpointer: Checkpointer | undefined;
  readonly #health: Health;
  #queue: Submission[] = [];
  #scheduled = false;
  #idle: (() => void)[] = [];
  #refusing: string | undefined;
  #lineCount: number;
  readonly #lines = new PrimaryLogWriter();
  #outcomes = new Uint8Array(4096);
  /**
   * fsync mode: chunks the batch waits for. It follows the fullest batch and
   * falls to what came when the delay ran out, so a connection that went
   * quiet costs at most one delay.
   */
  #expected = 0;

  constructor(ledger: Ledger, log: LikesLog, stats: Stats, options: CommitterOptions = {}) {
    const { durability = "normal", commitDelay = 1, checkpointer, health = new Health(), lines = 0 } = options;
    if (!(commitDelay >= 0)) throw new RangeError(`Cannot commit: commitDelay must be >= 0, got ${commitDelay}`);
    this.#ledger = ledger;
    this.#log = log;
    this.#stats = stats;
    this.#fsync = durability === "fsync";
    this.#commitDelay = commitDelay;
    this.#checkpointer = checkpointer;
    this.#health = health;
    this.#lineCount = lines;
  }

  /** Lines in the log, as far as this committer wrote them. */
  get lines(): number {
    return this.#lineCount;
  }

  /**
   * Queues a chunk's messages; resolves with their replies, one line each, in
   * order, as bytes ready to write: for a chunk of accepted likes nothing is
   * built or encoded. The bytes may be shared: read them, never write to them.
   */
  submit(entries: Entry[]): Promise<Uint8Array> {
    return new Promise((resolve) => this.#enqueue({ entries, resolve }));
  }

  #enqueue(submission: Submission): void {
    this.#queue.push(submission);
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#queue.length === 0) return;
    this.#scheduled = true;
    // A microtask runs once this turn's I/O callbacks have run: every read that
    // completed this turn resumes its connection (all alike, in one round of
    // microtasks) and submits before the flush, so the batch still spans the
    // connections, without the extra event-loop phase setImmediate costs per
    // round trip (setTimeout(0) costs ~2 ms here).
    if (this.#fsync && this.#commitDelay > 0) {
      const started = performance.now();
      queueMicrotask(() => this.#gather(started));
    } else queueMicrotask(() => this.#flush());
  }

  /** Resolves when everything submitted so far has been answered. */
  drained(): Promise<void> {
    if (!this.#scheduled) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
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

  /** While `reason` is set, likes are answered `1 storage error` and nothing is written. */
  refuse(reason: string | undefined): void {
    this.#refusing = reason;
  }

  /**
   * Writes an event line (start, recovery, stop) between batches, synced in
   * fsync mode.
   *
   * @throws {Error} When the log cannot be written
   */
  event(text: string): void {
    this.#log.append(formatPrimaryLine({ kind: "event", text: text.replaceAll("\n", " ") }, new Date()));
    if (this.#fsync) this.#log.sync();
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
    const waiting = this.#queue.length;
    if (waiting >= this.#expected || performance.now() - started >= this.#commitDelay) {
      this.#expected = waiting;
      return this.#flush();
    }
    setImmediate(() => this.#gather(started));
  }

  #flush(): void {
    this.#scheduled = false;
    const queue = this.#queue;
    this.#queue = [];
    if (queue.length === 0) return this.#afterBatch();
    if (this.#refusing !== undefined) {
      this.#fail(queue, this.#refusing);
      return this.#afterBatch();
    }
    const batch = this.#encode(queue);
    this.#persist(batch);
  }

  /** Stage 1: applies the batch to the ledger (left open) and builds its log lines. */
  #encode(queue: Submission[]): Batch {
    const started = performance.now();
    const now = Date.now();
    const ledger = this.#ledger;
    const lines = this.#lines;
    let count = 0;
    for (const { entries } of queue) count += entries.length;
    if (this.#outcomes.length < count) this.#outcomes = new Uint8Array(count * 2);
    const outcomes = this.#outcomes;
    // Every line of the batch starts with the same time.
    lines.begin(new Date(now));
    ledger.begin();
    let k = 0;
    let lineCount = 0;
    for (const { entries } of queue) {
      for (const entry of entries) {
        if (entry.kind === "reply") {
          outcomes[k++] = REPLY;
          continue;
        }
        lineCount++;
        if (entry.kind === "invalid") {
          lines.invalid(entry.data, entry.reason, entry.from);
          outcomes[k++] = INVALID;
          continue;
        }
        const applied = ledger.apply(entry, now);
        lines.like(entry.server, entry.likes, applied, ledger.total, entry.producer, entry.seq);
        outcomes[k++] = applied === "accepted" ? ACCEPTED : applied === "duplicate" ? DUPLICATE : OUT_OF_ORDER;
      }
    }
    return { queue, changes: ledger.changes(), before: this.#log.size, now, started, lines: lineCount };
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
      this.#log.append(this.#lines.view);
    } catch (error) {
      // append() has cut any part of the batch that reached the log.
      return this.#failBatch(batch, error);
    }
    if (this.#fsync) {
      try {
        this.#log.sync();
      } catch (error) {
        // What the sync failed on cannot be trusted to be on disk: not counted, not kept.
        try {
          this.#log.truncate(batch.before);
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
    const { queue, changes, now } = batch;
    this.#ledger.commit(changes);
    this.#lineCount += batch.lines;
    this.#health.ok("log");
    this.#stats.recordCommit(performance.now() - batch.started);
    const outcomes = this.#outcomes;
    let k = 0;
    for (const submission of queue) {
      const { entries, resolve } = submission;
      const allAccepted = this.#recordStats(entries, outcomes, k, now);
      if (allAccepted && 2 * entries.length <= ALL_ACCEPTED.length) {
        resolve(ALL_ACCEPTED.subarray(0, 2 * entries.length));
      } else {
        resolve(encoder.encode(allAccepted ? "0\n".repeat(entries.length) : replyText(entries, outcomes, k)));
      }
      k += entries.length;
    }
    this.#afterBatch();
  }

  #failBatch(batch: Batch, error: unknown): void {
    this.#ledger.rollback();
    const reason = `Cannot write to the log ${this.#log.path}: ${(error as Error).message}`;
    this.#health.fail("log", reason);
    this.#fail(batch.queue, reason);
    this.#afterBatch();
  }

  /** Answers every like of the queue `1 storage error`; nothing of it was counted (the health says why). */
  #fail(queue: Submission[], _reason: string): void {
    for (const submission of queue) {
      this.#stats.failed += submission.entries.length;
      submission.resolve(encoder.encode(submission.entries.map(failedReply).join("")));
    }
  }

  /** Counts a submission's entries in the stats; returns whether all were accepted likes. */
  #recordStats(entries: Entry[], outcomes: Uint8Array, first: number, now: number): boolean {
    const stats = this.#stats;
    let allAccepted = true;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      const outcome = outcomes[first + i];
      if (outcome !== ACCEPTED) allAccepted = false;
      if (entry.kind === "invalid") stats.invalid++;
      else if (entry.kind === "like") {
        if (outcome === OUT_OF_ORDER) stats.failed++;
        else stats.recordLike(entry.server, entry.likes, outcome === DUPLICATE, now);
      }
    }
    return allAccepted;
  }

  /** Between two batches: a checkpoint when due, then the next batch or the idle waiters. */
  #afterBatch(): void {
    if (this.#checkpointer?.due()) this.#checkpointer.start(this.#lineCount);
    this.#schedule();
    if (this.#scheduled) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const wake of idle) wake();
  }
}
