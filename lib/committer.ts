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
import type { Like } from "./message.ts";
import type { Stats } from "./stats.ts";

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

interface Submission {
  entries: Entry[];
  resolve: (replies: string) => void;
}

export interface CommitterOptions {
  /** @default {"normal"} */
  durability?: Durability;
}

const SERVER_NAMES: string[] = [];
function serverName(n: number): string {
  return SERVER_NAMES[n] ??= `LikesServer${n}`;
}

function failedReply(entry: Entry): string {
  if (entry.kind === "reply") return `${entry.text}\n`;
  return entry.kind === "invalid" ? `1 ${entry.reason}\n` : "1 storage error\n";
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

  constructor(ledger: Ledger, store: Store, log: LikesLog, stats: Stats, options: CommitterOptions = {}) {
    const { durability = "normal" } = options;
    this.#ledger = ledger;
    this.#store = store;
    this.#log = log;
    this.#stats = stats;
    this.#fsync = durability === "fsync";
  }

  /** Queues a chunk's messages; resolves with their replies, one line each, in order. */
  submit(entries: Entry[]): Promise<string> {
    return new Promise((resolve) => {
      this.#queue.push({ entries, resolve });
      if (!this.#scheduled) {
        this.#scheduled = true;
        // setImmediate runs after this turn's I/O callbacks, so every
        // connection that had data this turn joins the batch (setTimeout(0)
        // would cost ~2 ms here).
        setImmediate(() => this.#flush());
      }
    });
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
    this.#log.append(`${new Date().toISOString()} ${text}\n`);
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
    const time = new Date(now).toISOString();
    const ledger = this.#ledger;
    ledger.begin();
    let lines = "";
    const replies: string[] = [];
    for (const { entries } of queue) {
      let reply = "";
      for (const entry of entries) {
        if (entry.kind === "reply") {
          reply += `${entry.text}\n`;
          continue;
        }
        if (entry.kind === "invalid") {
          lines += entry.data === undefined
            ? `${time} Invalid data (${entry.reason}) from ${entry.from}\n`
            : `${time} Invalid data ${entry.data} (${entry.reason}) from ${entry.from}\n`;
          reply += `1 ${entry.reason}\n`;
          continue;
        }
        const name = serverName(entry.server);
        if (ledger.apply(entry, now) === "accepted") {
          lines += entry.producer === undefined
            ? `${time} ${name} ${entry.likes} Total ${ledger.total}\n`
            : `${time} ${name} ${entry.likes} Total ${ledger.total} producer=${entry.producer} seq=${entry.seq}\n`;
          reply += "0\n";
        } else {
          lines +=
            `${time} ${name} ${entry.likes} Duplicate Total ${ledger.total} producer=${entry.producer} seq=${entry.seq}\n`;
          reply += "0 duplicate\n";
        }
      }
      replies.push(reply);
    }
    const changes = ledger.changes();
    const before = this.#log.mark.offset;
    try {
      this.#log.append(lines);
      if (this.#fsync) this.#log.sync();
      this.#store.save(changes, this.#log.mark);
    } catch (error) {
      ledger.rollback();
      // The batch's lines must not stay in the log: no commit covers them.
      this.#log.truncate(before);
      console.error(`Commit failed, answering ${queue.length} chunks with errors: ${(error as Error).message}`);
      for (const { entries, resolve } of queue) {
        this.#stats.failed += entries.length;
        resolve(entries.map(failedReply).join(""));
      }
      this.#wakeIdle();
      return;
    }
    ledger.commit(changes);
    this.#stats.recordCommit(performance.now() - started);
    for (let i = 0; i < queue.length; i++) {
      this.#recordStats(queue[i].entries, replies[i], now);
      queue[i].resolve(replies[i]);
    }
    this.#wakeIdle();
  }

  // The replies already say which likes were duplicates ("0 duplicate"), so
  // the stats read that instead of asking the ledger again.
  #recordStats(entries: Entry[], reply: string, now: number): void {
    const stats = this.#stats;
    let at = 0;
    for (const entry of entries) {
      const end = reply.indexOf("\n", at);
      if (entry.kind === "invalid") stats.invalid++;
      else if (entry.kind === "like") stats.recordLike(entry.server, entry.likes, end - at > 1, now);
      at = end + 1;
    }
  }

  #wakeIdle(): void {
    if (this.#scheduled) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const wake of idle) wake();
  }
}
