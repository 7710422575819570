/**
 * The group commit both backends share. Connections hand in the messages of
 * each chunk they read; everything handed in during one gathering becomes
 * one batch, in four stages:
 *   1. gather: submit() queues the chunk and asks the backend to schedule a
 *      flush (its own timing: a microtask, setImmediate, a wait for more)
 *   2. encode: the batch's log lines, one per like or invalid line, with
 *      each like's outcome and total as the backend decides them
 *   3. persist: the backend's own (a log write and sync, a Redis commit)
 *   4. answer: the clients of the batch, in order, from the outcomes
 * Stages 2 and 4 are here and loop over every message; the backend's steps
 * run once per batch, so the hot loops stay monomorphic.
 */
import { formatPrimaryLine, PrimaryLogWriter } from "../../formats/primary_log.ts";
import { escapeText } from "../../common/escape.ts";
import { formatLike, type Like } from "../../protocol/message.ts";
import { REASONS, rejection, REPLIES } from "../../protocol/replies.ts";
import type { Applied, NewProducerGate } from "../ledger.ts";
import type { Health } from "../health.ts";
import type { LikesLog } from "../likes_log.ts";
import type { LogRotation } from "../log_rotation.ts";
import type { Stats } from "../stats.ts";
import type { CommitPath, Durability, Entry, Source } from "./backend.ts";

/** A chunk's entries, where they came from, and who waits for their replies. */
export interface Submission {
  entries: Entry[];
  source: Source | undefined;
  resolve: (replies: Uint8Array) => void;
}

/** What became of a like. */
export type Outcome = Applied;

/** Decides each like of a batch in order, as encode() meets them: the ledger, or a store's answer. */
export interface Decider {
  apply(like: Like, now: number, gate?: NewProducerGate): Outcome;
  /** The total after the like last applied. */
  readonly total: number;
}

const encoder = new TextEncoder();

const ACCEPTED_LINE = `${REPLIES.accepted}\n`;
const DUPLICATE_LINE = `${REPLIES.duplicate}\n`;
const OUT_OF_ORDER_LINE = `${REPLIES.outOfOrder}\n`;
const STORAGE_ERROR_LINE = `${REPLIES.storageError}\n`;

/**
 * The reply to a chunk whose likes were all accepted, the common case, is a
 * view of this: nothing to build or encode per chunk. Never written to.
 */
const ALL_ACCEPTED = encoder.encode(ACCEPTED_LINE.repeat(4096));

// What became of each entry of a batch, for its replies and stats after the commit.
const ACCEPTED = 0;
const DUPLICATE = 1;
const INVALID = 2;
const REPLY = 3;
const OUT_OF_ORDER = 4;
// Likes refused by the dedupe state, not counted: logged as invalid lines, with these reasons.
const SEQ_REUSED = 5;
const TOO_MANY_PRODUCERS = 6;
const TOO_MANY_NEW_PRODUCERS = 7;
const REFUSED_REASONS: Record<number, string> = {
  [SEQ_REUSED]: REASONS.seqReused.text,
  [TOO_MANY_PRODUCERS]: REASONS.tooManyProducers.text,
  [TOO_MANY_NEW_PRODUCERS]: REASONS.tooManyNewProducers.text,
};
const REFUSED_OUTCOMES: Partial<Record<Outcome, number>> = {
  "seq reused": SEQ_REUSED,
  "too many producers": TOO_MANY_PRODUCERS,
  "too many new producers": TOO_MANY_NEW_PRODUCERS,
};
/** The least time between two log lines about refused new producers (ms). */
export const REFUSAL_LOG_EVERY = 10_000;

/** The reply to an entry of a batch that could not be committed. */
export function failedReply(entry: Entry): string {
  if (entry.kind === "reply") return `${entry.text}\n`;
  return entry.kind === "invalid" ? `${rejection(entry.reason)}\n` : STORAGE_ERROR_LINE;
}

function replyText(entries: Entry[], outcomes: Uint8Array, first: number): string {
  let reply = "";
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i];
    const outcome = outcomes[first + i];
    if (entry.kind === "reply") reply += `${entry.text}\n`;
    else if (entry.kind === "invalid") reply += `${rejection(entry.reason)}\n`;
    else if (outcome === OUT_OF_ORDER) reply += OUT_OF_ORDER_LINE;
    else if (outcome >= SEQ_REUSED) reply += `${rejection(REFUSED_REASONS[outcome])}\n`;
    else reply += outcome === ACCEPTED ? ACCEPTED_LINE : DUPLICATE_LINE;
  }
  return reply;
}

/**
 * The shared stages of a group commit; a backend adds its scheduling and its
 * persist, and calls encode() and answer() (or fail()) once per batch.
 */
export abstract class BatchCommitter implements CommitPath {
  protected readonly log: LikesLog;
  protected readonly stats: Stats;
  protected readonly health: Health;
  protected readonly fsync: boolean;
  /** The chunks gathered for the next batch. */
  protected queue: Submission[] = [];
  protected refusing: string | undefined;
  /** The lines encode() wrote, until the next encode(). */
  protected readonly writer = new PrimaryLogWriter();
  #outcomes = new Uint8Array(4096);
  #idle: (() => void)[] = [];
  #refusalsLogged = 0;
  #refusalLoggedAt = -Infinity;
  #checkLog: (() => void) | undefined;
  /** Set by the backend: rotates the log between batches once it is past its size. */
  rotation: LogRotation | undefined;

  constructor(log: LikesLog, stats: Stats, health: Health, durability: Durability) {
    this.log = log;
    this.stats = stats;
    this.health = health;
    this.fsync = durability === "fsync";
  }

  /**
   * Queues a chunk's messages; resolves with their replies, one line each, in
   * order, as bytes ready to write: for a chunk of accepted likes nothing is
   * built or encoded. The bytes may be shared: read them, never write to them.
   */
  submit(entries: Entry[], source?: Source): Promise<Uint8Array> {
    return new Promise((resolve) => {
      this.queue.push({ entries, source, resolve });
      this.schedule();
    });
  }

  /** Stage 1: makes sure a flush of the queue is coming, if it is not. */
  protected abstract schedule(): void;

  /** Whether a batch is gathering, in flight, or not yet as durable as promised. */
  protected abstract busy(): boolean;

  abstract betweenBatches(fn: () => void): void;

  drained(): Promise<void> {
    if (!this.busy()) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** Resolves drained() once nothing is busy. */
  protected wakeIfIdle(): void {
    if (this.busy()) return;
    const idle = this.#idle;
    this.#idle = [];
    for (const wake of idle) wake();
  }

  refuse(reason: string | undefined): void {
    this.refusing = reason;
  }

  watchLog(check: () => void): void {
    this.#checkLog = check;
  }

  abstract loggedTotal(): number;

  /**
   * Before a batch's write: the log watch's check, when the file is not as it
   * was left (`unchanged`: the caller's own look at it this task, if it took one).
   */
  protected checkLog(unchanged?: boolean): void {
    if (this.#checkLog !== undefined && !(unchanged ?? this.log.unchanged())) this.#checkLog();
  }

  /** After a batch: rotates the log when it is past its size. */
  protected rotateIfDue(): void {
    if (this.rotation?.due()) this.rotation.rotate();
  }

  /**
   * Writes an event line (start, recovery, stop) between batches, synced in
   * fsync mode.
   *
   * @throws {Error} When the log cannot be written
   */
  event(text: string): void {
    this.log.append(formatPrimaryLine({ kind: "event", text: text.replaceAll("\n", " ") }, new Date()));
    if (this.fsync) this.log.sync();
  }

  /**
   * Stage 2: writes the batch's lines to `writer` (every one with the time
   * `now`) and notes each entry's outcome for answer(), each like decided by
   * `decider`. Returns how many lines it wrote.
   */
  protected encode(queue: Submission[], decider: Decider, now: number): number {
    const lines = this.writer;
    let count = 0;
    for (const { entries } of queue) count += entries.length;
    if (this.#outcomes.length < count) this.#outcomes = new Uint8Array(count * 2);
    const outcomes = this.#outcomes;
    lines.begin(new Date(now));
    let k = 0;
    let lineCount = 0;
    for (const { entries, source } of queue) {
      const gate = source?.gate;
      for (const entry of entries) {
        if (entry.kind === "reply") {
          outcomes[k++] = REPLY;
          continue;
        }
        if (entry.kind === "invalid") {
          if (entry.unlogged === undefined) {
            lines.invalid(entry.data, entry.reason, entry.from, entry.length);
            lineCount++;
          }
          outcomes[k++] = INVALID;
          continue;
        }
        lineCount++;
        const applied = decider.apply(entry, now, gate);
        if (applied === "accepted" || applied === "duplicate" || applied === "out of order") {
          lines.like(entry.server, entry.likes, applied, decider.total, entry.producer, entry.seq);
          outcomes[k++] = applied === "accepted" ? ACCEPTED : applied === "duplicate" ? DUPLICATE : OUT_OF_ORDER;
        } else {
          const refused = REFUSED_OUTCOMES[applied]!;
          const text = formatLike(entry);
          if (source === undefined || source.logRefusal(text.length)) {
            lines.invalid(escapeText(text), REFUSED_REASONS[refused], source?.from ?? "-");
          } else {
            lineCount--;
          }
          outcomes[k++] = refused;
        }
      }
    }
    return lineCount;
  }

  /**
   * The outcomes encode() noted for `queue`, kept for an answer() after later
   * batches were encoded (a batch waiting for its sync while others are
   * written behind it).
   */
  protected keepOutcomes(queue: Submission[]): Uint8Array {
    let count = 0;
    for (const { entries } of queue) count += entries.length;
    return this.#outcomes.slice(0, count);
  }

  /**
   * Stage 4: the batch is committed; counts it, and answers each submission
   * in order. `started`: when the batch's commit began. By default the batch
   * is the one encoded last; a batch answered later passes its kept outcomes,
   * and whether the log took bytes of it that prove the log healthy.
   */
  protected answer(
    queue: Submission[],
    now: number,
    started: number,
    outcomes: Uint8Array = this.#outcomes,
    wrote: boolean = this.writer.length > 0,
  ): void {
    // A batch that wrote nothing (only fixed replies) proves nothing about the log.
    if (wrote) this.health.ok("log");
    this.stats.recordCommit(performance.now() - started);
    let k = 0;
    for (const submission of queue) {
      const { entries, resolve } = submission;
      const allAccepted = this.#recordStats(entries, outcomes, k, now);
      if (allAccepted && 2 * entries.length <= ALL_ACCEPTED.length) {
        resolve(ALL_ACCEPTED.subarray(0, 2 * entries.length));
      } else {
        resolve(encoder.encode(allAccepted ? ACCEPTED_LINE.repeat(entries.length) : replyText(entries, outcomes, k)));
      }
      k += entries.length;
    }
    this.#logRefusals();
  }

  /** One line per REFUSAL_LOG_EVERY at most while new producers are being refused, so a flood cannot flood the log. */
  #logRefusals(): void {
    const stats = this.stats;
    const refused = stats.producersRefused + stats.newProducersLimited;
    if (refused === this.#refusalsLogged) return;
    const now = performance.now();
    if (now - this.#refusalLoggedAt < REFUSAL_LOG_EVERY) return;
    this.#refusalLoggedAt = now;
    this.#refusalsLogged = refused;
    console.error(
      `primary: Refusing new producers: ${stats.producersRefused} refused as too many producers ` +
        `(the dedupe table is full of live ones: see --max-producers, --producer-ttl), ` +
        `${stats.newProducersLimited} as too many new producers from one address (--new-producer-rate), since start`,
    );
  }

  /** Answers every like of the queue `1 storage error`; nothing of it was counted (the health says why). */
  protected fail(queue: Submission[]): void {
    for (const submission of queue) {
      this.stats.failed += submission.entries.length;
      submission.resolve(encoder.encode(submission.entries.map(failedReply).join("")));
    }
  }

  /** Counts a submission's entries in the stats; returns whether all were accepted likes. */
  #recordStats(entries: Entry[], outcomes: Uint8Array, first: number, now: number): boolean {
    const stats = this.stats;
    let allAccepted = true;
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i];
      const outcome = outcomes[first + i];
      if (outcome !== ACCEPTED) allAccepted = false;
      if (entry.kind === "invalid") stats.invalid++;
      else if (entry.kind === "like") {
        if (outcome === OUT_OF_ORDER) stats.failed++;
        else if (outcome >= SEQ_REUSED) {
          stats.failed++;
          if (outcome === SEQ_REUSED) stats.seqReused++;
          else if (outcome === TOO_MANY_PRODUCERS) stats.producersRefused++;
          else stats.newProducersLimited++;
        } else stats.recordLike(entry.server, entry.likes, outcome === DUPLICATE, now);
      }
    }
    return allAccepted;
  }
}
