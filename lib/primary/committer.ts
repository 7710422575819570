/**
 * Group commit. Connections hand in the messages of each chunk they read;
 * everything handed in during one event-loop turn, across all connections,
 * becomes one batch: applied to the ledger, written to the log, committed to
 * the store in one transaction, and only then answered. One commit per turn
 * instead of one per message is what makes durable ingestion fast.
 *
 * Commit path, in order:
 *   1. apply the batch to the in-memory ledger (dedupe, new total)
 *   2. append the batch's lines to the log (and fdatasync in fsync mode)
 *   3. commit total + dedupe state + the log's new length to SQLite
 *   4. answer the clients
 * A crash before 3 leaves log lines past the committed length: they were never
 * acknowledged, and start-up cuts them off. A failure in 2 or 3 rolls the
 * ledger back and answers `1 storage error`.
 */
import { setImmediate } from "node:timers";
import type { Durability, Store } from "./store.ts";
import type { Ledger } from "./ledger.ts";
import type { LikesLog } from "./likes_log.ts";
import type { Like } from "../protocol/message.ts";
import type { Stats } from "./stats.ts";
import { formatPrimaryLine, PrimaryLogWriter } from "../formats/primary_log.ts";

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

function failedReply(entry: Entry): string {
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
    else reply += outcome === ACCEPTED ? "0\n" : "0 duplicate\n";
  }
  return reply;
}

export class Committer {
  readonly #ledger: Ledger;
  readonly #store: Store;
  readonly #log: LikesLog;
  readonly #stats: Stats;
  readonly #fsync: boolean;
  #queue: Submission[] = [];
  #scheduled = false;
  #idle: (() => void)[] = [];
  readonly #lines = new PrimaryLogWriter();
  #outcomes = new Uint8Array(4096);

  constructor(ledger: Ledger, store: Store, log: LikesLog, stats: Stats, options: CommitterOptions = {}) {
    const { durability = "normal" } = options;
    this.#ledger = ledger;
    this.#store = store;
    this.#log = log;
    this.#stats = stats;
    this.#fsync = durability === "fsync";
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
    if (!this.#scheduled) {
      this.#scheduled = true;
      // setImmediate runs after this turn's I/O callbacks, so every
      // connection that had data this turn joins the batch (setTimeout(0)
      // would cost ~2 ms here).
      setImmediate(() => this.#flush());
    }
  }

  /** Resolves when everything submitted so far has been answered. */
  drained(): Promise<void> {
    if (!this.#scheduled) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /**
   * Writes an event line (start, recovery, stop, a refused client) and commits
   * the log's new length, so that recovery never cuts it off.
   */
  event(text: string): void {
    this.#log.append(formatPrimaryLine({ kind: "event", text }, new Date()));
    if (this.#fsync) this.#log.sync();
    const total = this.#ledger.total;
    this.#store.save({ total, touched: [], evicted: [] }, this.#log.mark);
  }

  #flush(): void {
    const queue = this.#queue;
    this.#queue = [];
    this.#scheduled = false;
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
    for (const { entries } of queue) {
      for (const entry of entries) {
        if (entry.kind === "reply") {
          outcomes[k++] = REPLY;
          continue;
        }
        if (entry.kind === "invalid") {
          lines.invalid(entry.data, entry.reason, entry.from);
          outcomes[k++] = INVALID;
          continue;
        }
        const accepted = ledger.apply(entry, now) === "accepted";
        lines.like(entry.server, entry.likes, !accepted, ledger.total, entry.producer, entry.seq);
        outcomes[k++] = accepted ? ACCEPTED : DUPLICATE;
      }
    }
    const changes = ledger.changes();
    const before = this.#log.mark.offset;
    try {
      this.#log.append(lines.view);
      if (this.#fsync) this.#log.sync();
      this.#store.save(changes, this.#log.mark);
    } catch (error) {
      ledger.rollback();
      // The batch's lines must not stay in the log: no commit covers them.
      this.#log.truncate(before);
      console.error(`Commit failed, answering ${queue.length} chunks with errors: ${(error as Error).message}`);
      for (const submission of queue) {
        this.#stats.failed += submission.entries.length;
        submission.resolve(encoder.encode(submission.entries.map(failedReply).join("")));
      }
      this.#wakeIdle();
      return;
    }
    ledger.commit(changes);
    this.#stats.recordCommit(performance.now() - started);
    k = 0;
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
    this.#wakeIdle();
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
      else if (entry.kind === "like") stats.recordLike(entry.server, entry.likes, outcome === DUPLICATE, now);
    }
    return allAccepted;
  }

  #wakeIdle(): void {
    if (this.#scheduled) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const wake of idle) wake();
  }
}
