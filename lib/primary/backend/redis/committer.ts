/**
 * Group commit on the Redis store, for several primaries sharing one total.
 * Everything submitted in one event-loop turn becomes one batch (the stages
 * it shares with the embedded store are in batch_committer.ts):
 *   1. commit: one RedisStore.commit round trip does the dedupe, the INCRBY
 *      of the shared total and this primary's journal entry for the batch
 *   2. log: one write of the batch's lines, with their outcomes and the
 *      shared totals, and a `Redis journal <id>` line saying the log holds
 *      that batch
 *   3. answer: the clients of the batch, in order
 * In fsync mode Redis (appendfsync always) has the batch on its disk before
 * it replies, journal entry included, so the answers do not wait for the
 * log's own sync: it runs in the background, and only the journal ids it
 * covers are confirmed to Redis. Until then the journal keeps the batch, and
 * a power cut that takes the log's unsynced end is repaired from it at start-up.
 * Redis is the commit point; the log is this primary's record of what it
 * acknowledged. A batch that Redis may hold but the log does not (Redis went
 * away mid-commit, the log write failed, the process died) is written to the
 * log from the journal before anything else: at start-up (recover()) and
 * before the next batch. A journal entry is deleted only once the log holds
 * it on disk (confirmed by the next commit's `loggedUpTo`, or trimJournal).
 * Crash point by crash point: docs/redis_store.md.
 */
import { setImmediate } from "node:timers";
import { DEFAULT_DURABILITY, type Durability } from "../backend.ts";
import { BatchCommitter, type Decider, type Outcome, type Submission } from "../batch_committer.ts";
import { Health } from "../../health.ts";
import type { LikesLog } from "../../likes_log.ts";
import type { Stats } from "../../stats.ts";
import { REDIS_DEFAULTS } from "./defaults.ts";
import {
  type CommitResult,
  type JournalLike,
  type RedisStore,
  StoreRefusedError,
  StoreUnavailableError,
} from "./store.ts";
import { formatPrimaryLine, type InvalidLine, type LikeLine, parsePrimaryLine } from "../../../formats/primary_log.ts";
import { formatLike, type Like } from "../../../protocol/message.ts";
import { REASONS } from "../../../protocol/replies.ts";

/**
 * Test hook: with this set to 1 (and readable), the primary exits at once
 * right after a Redis commit, before its log write: the crash the journal is for.
 */
export const CRASH_AFTER_COMMIT_ENV = "LIKES_CRASH_AFTER_COMMIT";

/** Whether the crash hook is set; false without the grant to read it. */
export function crashAfterCommitRequested(): boolean {
  const variable = CRASH_AFTER_COMMIT_ENV;
  if (Deno.permissions.querySync({ name: "env", variable }).state !== "granted") return false;
  return Deno.env.get(variable) === "1";
}

export interface RedisCommitterOptions {
  /** fsync: each batch's log write is synced before its answers. @default {"normal"} */
  durability?: Durability;
  /** Told of Redis and log failures and recoveries. @default {new Health()} */
  health?: Health;
  /** The end of the log as start-up found it (see readLogTail). @default {{ journalId: "", after: [] }} */
  tail?: Omit<LogTail, "notes" | "total">;
  /** The Total of the log's last like line, what a new file continues from. @default {0} */
  loggedTotal?: number;
  /** Exit (137) right after a Redis commit, before the log write: a test hook. @default {false} */
  crashAfterCommit?: boolean;
  /**
   * Batches whose commits may be outstanding at once: the next batch's commit
   * goes to Redis while the one before still waits for its reply, so Redis
   * can take both in one turn (and, with appendfsync always, one AOF sync).
   * Log writes and answers stay in batch order.
   * @default {REDIS_DEFAULTS.inFlight}
   */
  inFlight?: number;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * A like's line as the log writes it, from the journal's record of it: a
 * like line, or for a like refused as seq reused the Invalid data line the
 * commit path writes (its sender's address is not in the journal).
 */
function journalLine(like: JournalLike): LikeLine | InvalidLine {
  if (like.outcome === "seq reused") {
    return { kind: "invalid", data: encoder.encode(formatLike(like)), reason: REASONS.seqReused.text, from: "-" };
  }
  const line: LikeLine = {
    kind: "like",
    server: like.server,
    likes: like.likes,
    duplicate: like.outcome === "duplicate",
    total: like.total,
  };
  if (like.outcome === "out of order") line.outOfOrder = true;
  if (like.producer !== undefined) {
    line.producer = like.producer;
    line.seq = like.seq;
  }
  return line;
}

/** What start-up on Redis needs from the end of the log. */
export interface LogTail {
  /** The id of the last `Redis journal` line, "" when there is none. */
  journalId: string;
  /**
   * The like lines after it: the start of a batch whose write was cut short
   * by a crash (its journal line, written last, is missing), or lines the log
   * had before it was used with Redis. Undefined when there are too many to keep.
   */
  after: LikeLine[] | undefined;
  /**
   * The shared total on the last like line before that journal line: the
   * highest total Redis gave this log, below which it must never be found.
   * Undefined without a journal line.
   */
  total: number | undefined;
  /** Sentences for the log and stderr: what was repaired. */
  notes: string[];
}

/** Like lines after the last journal line kept at most (a batch cut short is one batch). */
const TAIL_LINES = 100_000;

/**
 * Reads the end of the log backwards to its last `Redis journal` line, after
 * cutting a torn last line (no newline: never acknowledged).
 */
export function readLogTail(log: LikesLog): LogTail {
  const notes: string[] = [];
  const end = log.wholeEnd();
  if (end < log.size) {
    const torn = log.size - end;
    log.truncate(end);
    notes.push(`Removed a torn last line of ${torn} bytes (it had no newline, so it was never acknowledged)`);
  }
  const chunk = 64 * 1024;
  let carry = "";
  let after: LikeLine[] | undefined = [];
  let journalId: string | undefined;
  for (let to = log.size; to > 0; to -= chunk) {
    const from = Math.max(0, to - chunk);
    const lines = (decoder.decode(log.read(from, to - from)) + carry).split("\n");
    // The first piece may be the end of a line that starts in the chunk before.
    carry = from > 0 ? lines.shift()! : "";
    for (let i = lines.length - 1; i >= 0; i--) {
      const entry = parsePrimaryLine(lines[i])?.entry;
      if (journalId !== undefined) {
        // A batch's like lines come before its journal line: the nearest is its last.
        if (entry?.kind === "like") return { journalId, after: after?.reverse(), total: entry.total, notes };
        continue;
      }
      if (entry?.kind === "journal") journalId = entry.id;
      else if (entry?.kind === "like" && after !== undefined) {
        after.push(entry);
        if (after.length > TAIL_LINES) after = undefined;
      }
    }
  }
  return { journalId: journalId ?? "", after: after?.reverse(), total: undefined, notes };
}

/**
 * How many of `batch`'s lines the log already ends with (a write cut short),
 * 0 if it does not. Only like lines are compared (`after` holds no others):
 * the count runs to the last of them, so an Invalid data line just after it
 * is written again rather than risk losing it.
 */
function alreadyLogged(batch: (LikeLine | InvalidLine)[], after: readonly LikeLine[]): number {
  if (after.length === 0) return 0;
  const same = (a: LikeLine, b: LikeLine) =>
    a.server === b.server && a.likes === b.likes && a.total === b.total && a.duplicate === b.duplicate &&
    a.outOfOrder === b.outOfOrder && a.producer === b.producer && a.seq === b.seq;
  let matched = 0;
  for (let i = 0; i < batch.length; i++) {
    const line = batch[i];
    if (line.kind !== "like") continue;
    if (!same(after[matched], line)) return 0;
    if (++matched === after.length) return i + 1;
  }
  return 0;
}

/** The outcomes and totals Redis returned for a batch, handed to encode() like by like. */
class Decided implements Decider {
  #result: CommitResult | undefined;
  #k = 0;
  total = 0;
  /** Likes of the batch accepted into the shared total. */
  accepted = 0;

  reset(result: CommitResult | undefined): void {
    this.#result = result;
    this.#k = 0;
    this.accepted = 0;
  }

  apply(like: Like): Outcome {
    const k = this.#k++;
    const outcome = this.#result!.outcomes[k];
    this.total = this.#result!.totals[k];
    if (outcome === "accepted") this.accepted += like.likes;
    return outcome;
  }
}

export class RedisCommitter extends BatchCommitter {
  readonly #store: RedisStore;
  readonly #crashAfterCommit: boolean;
  readonly #decided = new Decided();
  #scheduled = false;
  /** Batches between their flush and their answers. */
  #inFlight = 0;
  readonly #maxInFlight: number;
  /** Settles once the last flushed batch has logged and answered: the next one's turn. */
  #previous: Promise<void> = Promise.resolve();
  #pollDue = false;
  #betweenBatches: (() => void)[] = [];
  #fenced: string | undefined;
  /** Why the store can no longer be trusted (lost its identity, went backwards): for good, until a restart. */
  #lost: string | undefined;
  /** The last refusal written to the log: each is written once, not per batch. */
  #noted: string | undefined;
  /** The journal id Redis was last told the log holds (trimmed up to). */
  #trimmed = "";
  /** The last journal id the log holds. */
  #logged: string;
  /** The last journal id the log holds on disk (fsync mode: once synced): what Redis may delete up to. */
  #confirmed: string;
  /** fsync mode: the log's background sync while it runs (its outcome handled); another is due after it. */
  #sync: Promise<void> | undefined;
  #syncAgain = false;
  /** The log's size the last finished sync covers. */
  #syncedSize: number;
  /**
   * Counts the times the log fell behind Redis (a commit whose reply was lost,
   * a failed log write, a cut after a failed sync). A batch whose commit was
   * sent before one is not logged on its own: its lines would follow a gap,
   * which the journal fills, in order, before the next batch.
   */
  #gaps = 0;
  /** Redis may hold a batch the log lacks: write the journal to the log before the next batch. */
  #unlogged = true;
  #total = 0;
  #share = 0;
  /** The Total of the last like line this committer logged. */
  #loggedTotal = 0;
  /** Like lines after the log's last journal line, found at start-up: maybe the start of the next batch. */
  #partial: LikeLine[] | undefined;

  constructor(store: RedisStore, log: LikesLog, stats: Stats, options: RedisCommitterOptions = {}) {
    const {
      durability = DEFAULT_DURABILITY,
      health = new Health(),
      tail,
      crashAfterCommit = false,
      inFlight = REDIS_DEFAULTS.inFlight,
      loggedTotal = 0,
    } = options;
    if (!Number.isSafeInteger(inFlight) || inFlight < 1) {
      throw new RangeError(`Cannot commit to Redis: inFlight must be an integer >= 1, got ${inFlight}`);
    }
    super(log, stats, health, durability);
    this.#maxInFlight = inFlight;
    this.#store = store;
    this.#logged = tail?.journalId ?? "";
    this.#confirmed = this.#logged;
    this.#syncedSize = log.size;
    this.#partial = tail?.after ?? [];
    this.#crashAfterCommit = crashAfterCommit;
    this.#loggedTotal = loggedTotal;
  }

  /** The shared total as last heard from Redis (by a commit or a poll). */
  get total(): number {
    return this.#total;
  }

  loggedTotal(): number {
    return this.#loggedTotal;
  }

  /**
   * What a new file of the log starts with after its continuation line: the
   * last journal id the log holds, so that start-up finds it in the current
   * file (by id, whichever file the batch itself is in).
   */
  carryOver(): string {
    return this.#logged === "" ? "" : formatPrimaryLine({ kind: "journal", id: this.#logged }, new Date());
  }

  /** The log went on in a new file: the size a finished sync covers is of that file. */
  continued(): void {
    this.#syncedSize = this.log.size;
  }

  /** Likes this primary accepted into the shared total since it started. */
  get share(): number {
    return this.#share;
  }

  /** The last journal id the log holds on disk: Redis may delete its journal up to it. */
  get loggedUpTo(): string {
    return this.#confirmed;
  }

  /**
   * At start-up, before taking likes: writes to the log the journal batches
   * it lacks (with a line saying how many), confirms them, and reads the
   * shared total.
   *
   * @returns How many batches were written from the journal
   * @throws {StoreUnavailableError} When Redis does not answer
   * @throws {Error} When the log cannot be written or the journal read
   */
  async recover(): Promise<number> {
    // The log's end may be in the page cache only (a kill -9 before its sync): on disk before it is confirmed.
    if (this.fsync) {
      await this.log.syncAsync();
      this.#syncedSize = this.log.size;
    }
    const written = await this.#drain();
    this.#total = await this.#store.total();
    return written;
  }

  protected busy(): boolean {
    return this.#scheduled || this.#inFlight !== 0 || this.#sync !== undefined;
  }

  betweenBatches(fn: () => void): void {
    if (this.#inFlight === 0) fn();
    else this.#betweenBatches.push(fn);
  }

  /**
   * While `reason` is set, likes are answered `1 storage error`: another
   * process holds this primary's id (see claim.ts). Apart from refuse(),
   * which the log watch sets and clears.
   */
  fence(reason: string | undefined): void {
    if (reason !== undefined) {
      this.health.fail("claim", reason);
      if (this.#fenced === undefined) this.#note(reason);
    } else this.health.ok("claim");
    this.#fenced = reason;
  }

  /** Writes a refusal to the log once, not once per refused batch. */
  #note(reason: string): void {
    if (this.#noted === reason) return;
    this.#noted = reason;
    try {
      this.event(reason);
    } catch (error) {
      console.error(`primary: Cannot log "${reason}": ${(error as Error).message}`);
    }
  }

  /**
   * Reads the shared total (and first writes any journal batches the log
   * lacks) between batches: keeps the dashboard's total current and /healthz
   * true while no likes arrive, such as after Redis comes back.
   */
  poll(): void {
    this.#pollDue = true;
    this.schedule();
  }

  protected schedule(): void {
    if (this.#scheduled || (this.queue.length === 0 && !this.#pollDue)) return;
    // Work waiting for a pause between batches gets one: no new batch until those in flight are done.
    if (this.#inFlight >= (this.#betweenBatches.length > 0 ? 1 : this.#maxInFlight)) return;
    this.#scheduled = true;
    // After this turn's I/O callbacks: every connection with data this turn joins the batch.
    setImmediate(() => this.#flush());
  }

  #flush(): void {
    this.#scheduled = false;
    const queue = this.queue;
    this.queue = [];
    const poll = this.#pollDue;
    this.#pollDue = false;
    this.#inFlight++;
    const previous = this.#previous;
    const { promise, resolve } = Promise.withResolvers<void>();
    this.#previous = promise;
    this.#run(queue, poll, previous).catch(async (error) => {
      // A bug, not a store failure: still, nobody is left waiting, and answers keep their order.
      console.error(`primary: Batch failed: ${(error as Error).stack}`);
      this.#markUnlogged();
      await previous;
      this.fail(queue);
    }).finally(() => {
      resolve();
      this.#inFlight--;
      this.#afterBatch();
    });
  }

  /** The log may now lack a batch Redis counted: the journal is written to it before the next batch. */
  #markUnlogged(): void {
    this.#unlogged = true;
    this.#gaps++;
  }

  /**
   * One batch. Its commit is sent at once, even while the batch before waits
   * for its reply; its log write and answers wait for `previous` (that batch
   * done), so the log and every connection's replies keep their order.
   */
  async #run(queue: Submission[], poll: boolean, previous: Promise<void>): Promise<void> {
    // Fenced or lost: not even the journal is read, nor the total (it must not go backwards on the dashboard).
    if ((this.#fenced ?? this.#lost) !== undefined || (queue.length > 0 && this.refusing !== undefined)) {
      await previous;
      return this.fail(queue);
    }
    if (this.#unlogged) {
      // The journal goes into the log first, after every batch before this one.
      await previous;
      try {
        await this.#drain();
      } catch (error) {
        this.#storeFailed(error);
        return this.fail(queue);
      }
    }
    if (queue.length === 0) {
      await previous;
      if (poll) await this.#readTotal();
      return;
    }
    const started = performance.now();
    const now = Date.now();
    const likes: Like[] = [];
    for (const { entries } of queue) {
      for (const entry of entries) if (entry.kind === "like") likes.push(entry);
    }
    let result: CommitResult | undefined;
    const gaps = this.#gaps;
    const confirmed = this.#confirmed;
    if (likes.length > 0) {
      let failure: unknown;
      try {
        result = await this.#store.commit(likes, now, confirmed, this.#total);
      } catch (error) {
        failure = error;
        // The script may have run with its reply lost: the journal tells.
        if (error instanceof StoreUnavailableError) this.#markUnlogged();
      }
      if (this.#crashAfterCommit && result !== undefined) Deno.exit(137);
      await previous;
      if (result === undefined) {
        this.#storeFailed(failure);
        return this.fail(queue);
      }
      if (this.#gaps !== gaps) {
        // The log fell behind Redis after this commit was sent: its lines
        // would follow a gap. The journal writes both, in order, first.
        this.#markUnlogged();
        return this.fail(queue);
      }
      this.#healthy();
      this.#trimmed = confirmed;
      this.#total = result.totals[result.totals.length - 1];
    } else await previous;
    this.checkLog();
    try {
      // append() cuts whatever part of the batch reached the log when it fails.
      this.log.append(this.#encode(queue, result, now));
    } catch (error) {
      // Redis counted the batch: its journal entry stays until the log holds it.
      if (result !== undefined) this.#markUnlogged();
      this.health.fail("log", `Cannot write to the log ${this.log.path}: ${(error as Error).message}`);
      return this.fail(queue);
    }
    if (result !== undefined) {
      this.#logged = result.journalId;
      this.#loggedTotal = this.#total;
    }
    if (this.fsync) this.#syncSoon();
    else this.#confirmed = this.#logged;
    this.#share += this.#decided.accepted;
    this.answer(queue, now, started);
  }

  /**
   * fsync mode: syncs the log in the background (one sync at a time, the
   * next covering every write since), then confirms the journal ids it
   * covers. A failed sync leaves the log's unsynced end untrusted: it is cut
   * back to the last sync, and the journal writes it again.
   */
  #syncSoon(): void {
    if (this.#sync !== undefined) {
      this.#syncAgain = true;
      return;
    }
    const id = this.#logged;
    const size = this.log.size;
    this.#sync = this.log.syncAsync().then(() => {
      // A drain's own sync may have confirmed more meanwhile.
      if (size < this.#syncedSize) return;
      this.#confirmed = id;
      this.#syncedSize = size;
    }, (error) => {
      this.health.fail("log", `Cannot sync the log ${this.log.path}: ${(error as Error).message}`);
      try {
        this.log.truncate(this.#syncedSize);
      } catch (cut) {
        console.error(`primary: Cannot cut an unsynced end from the log: ${(cut as Error).message}`);
      }
      this.#logged = this.#confirmed;
      this.#partial = [];
      this.#markUnlogged();
      this.#syncAgain = false;
    }).finally(() => {
      this.#sync = undefined;
      if (this.#syncAgain) {
        this.#syncAgain = false;
        return this.#syncSoon();
      }
      if (this.#unlogged) this.poll();
      this.wakeIfIdle();
    });
  }

  /** The batch's log lines and its journal line, as one write. */
  #encode(queue: Submission[], result: CommitResult | undefined, now: number): Uint8Array {
    this.#decided.reset(result);
    this.encode(queue, this.#decided, now);
    if (result !== undefined) this.writer.journal(result.journalId);
    return this.writer.view;
  }

  #storeFailed(error: unknown): void {
    const message = (error as Error).message;
    if (error instanceof StoreRefusedError) {
      if (error.refusal === "persistence") {
        this.health.fail("store", message);
        return this.#note(message);
      }
      // Redis answered: whatever outage came before is over; what it answered is the problem now.
      this.health.ok("store");
      if (error.refusal === "fenced") return this.fence(message);
      if (this.#lost === undefined) {
        this.#lost = message;
        this.health.fail("identity", message);
      }
      return this.#note(message);
    }
    this.health.fail(
      "store",
      error instanceof StoreUnavailableError ? message : `Redis store ${this.#store.url}: ${message}`,
    );
  }

  #healthy(): void {
    this.health.ok("store");
    this.#noted = undefined;
  }

  /**
   * The poll: checks what a commit's guard would (and the persistence
   * settings), reads the shared total, and confirms what the log holds, so
   * that the journal keeps no batch long after it was logged.
   */
  async #readTotal(): Promise<void> {
    try {
      this.#total = await this.#store.verify(this.#total);
      if (this.#confirmed !== this.#trimmed) {
        const confirmed = this.#confirmed;
        await this.#store.trimJournal(confirmed);
        this.#trimmed = confirmed;
      }
      this.#healthy();
    } catch (error) {
      this.#storeFailed(error);
    }
  }

  /**
   * Writes the journal batches past the last one the log holds to the log,
   * then confirms them; the confirmation may fail (the next commit's
   * `loggedUpTo` repeats it).
   */
  async #drain(): Promise<number> {
    // A background sync that fails cuts the log back to the last finished one:
    // it must not cut what this drain writes, nor leave it confirmed.
    while (this.#sync !== undefined) await this.#sync;
    const batches = await this.#store.readJournal(this.#logged);
    if (batches.length > 0) {
      let lines = "";
      let likes = 0;
      // A batch whose write was cut short by a crash: the log has its first lines, not its journal line.
      const first = batches[0].likes.map(journalLine);
      const skip = this.#partial === undefined ? 0 : alreadyLogged(first, this.#partial);
      for (const batch of batches) {
        const time = new Date(batch.time);
        const batchLines = batch === batches[0] ? first : batch.likes.map(journalLine);
        for (let i = batch === batches[0] ? skip : 0; i < batchLines.length; i++) {
          const line = batchLines[i];
          lines += formatPrimaryLine(line, time);
          if (line.kind === "like" && !line.duplicate && !line.outOfOrder) likes += line.likes;
        }
        lines += formatPrimaryLine({ kind: "journal", id: batch.id }, time);
      }
      const note = `Wrote ${batches.length} batches (${likes} likes counted) from the Redis journal of ` +
        `${this.#store.primaryId}: committed in Redis, missing from this log` +
        (skip > 0 ? ` (the first ${skip} lines of the first were already in it, cut short by a crash)` : "");
      const text = formatPrimaryLine({ kind: "event", text: note }, new Date()) + lines;
      const before = this.log.size;
      try {
        this.log.append(text);
        if (this.fsync) await this.log.syncAsync();
      } catch (error) {
        if (this.fsync) this.log.truncate(before);
        throw new Error(`Cannot write to the log ${this.log.path}: ${(error as Error).message}`, { cause: error });
      }
      console.error(`primary: ${note}`);
      this.health.ok("log");
      this.#logged = batches[batches.length - 1].id;
      // Synced above in fsync mode, with every write before it.
      this.#confirmed = this.#logged;
      this.#syncedSize = this.log.size;
      const last = batches[batches.length - 1].likes.at(-1);
      if (last !== undefined) {
        this.#total = Math.max(this.#total, last.total);
        this.#loggedTotal = last.total;
      }
    }
    this.#unlogged = false;
    this.#partial = [];
    if (!this.fsync) this.#confirmed = this.#logged;
    if (this.#confirmed !== "") {
      try {
        await this.#store.trimJournal(this.#confirmed);
        this.#trimmed = this.#confirmed;
      } catch { /* the next commit confirms it */ }
    }
    return batches.length;
  }

  #afterBatch(): void {
    if (this.#inFlight === 0) {
      const deferred = this.#betweenBatches;
      this.#betweenBatches = [];
      for (const fn of deferred) fn();
      // Not while a background sync holds the file.
      if (this.#sync === undefined) this.rotateIfDue();
    }
    this.schedule();
    this.wakeIfIdle();
  }
}
