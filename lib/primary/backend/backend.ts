/**
 * The storage backend as the rest of the primary sees it: where the total
 * and the dedupe state live, and the commit path the server hands its
 * messages to. Each backend lives in a folder of its own (embedded/, redis/)
 * and is opened by the `--store` scheme in open.ts; batch_committer.ts is the
 * group commit they share. The server and the timers know only this module.
 */
import type { Like } from "../../protocol/message.ts";
import type { Health } from "../health.ts";
import type { NewProducerGate } from "../ledger.ts";
import type { LikesLog } from "../likes_log.ts";
import type { PrimaryOptions } from "../options.ts";
import type { Stats } from "../stats.ts";

/** normal survives kill -9 of the primary; fsync also survives power loss. */
export type Durability = "normal" | "fsync";

/** The durability mode when none is given. */
export const DEFAULT_DURABILITY: Durability = "normal";

export { DEFAULT_PRODUCER_TTL } from "../ledger.ts";

/** The store cannot be used at all (locked, unwritable, volatile); the primary exits instead of starting. */
export class StoreError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StoreError";
  }
}

/** A line that was not a valid message, with its data already escaped for the log. */
export interface Rejected {
  kind: "invalid";
  reason: string;
  /** The escaped data (see escape.ts) or its start, or undefined to log no data. */
  data: string | undefined;
  /** The whole data's length, when `data` holds only its start or none of it (see InvalidLine). */
  length?: number;
  /** Answered and counted, but past --invalid-log-rate: only the second's summary line tells of it. */
  unlogged?: true;
  /** Peer address, for the log. */
  from: string;
}

/** A fixed reply that needs no commit and no log line, kept in order with the others. */
export interface Reply {
  kind: "reply";
  text: string;
}

/** Where a chunk came from: its peer address, and the rate limit on new producers from that address. */
export interface Source {
  from: string;
  gate: NewProducerGate | undefined;
  /**
   * Whether a refusal line of `bytes` from this sender may be logged on its
   * own; past the sender's --invalid-log-rate it is only counted for the
   * second's summary, so a flood of refused producers cannot fill the disk.
   */
  logRefusal(bytes: number): boolean;
}

/** One message of a chunk, as the server hands it to the commit path. */
export type Entry = Like | Rejected | Reply;

/** What the server, the log watch and the timers need of a committer, whichever backend it commits to. */
export interface CommitPath {
  /**
   * Queues a chunk's messages; resolves with their replies, one line each, in
   * order (bytes: read, never write). `source`: who sent them, for the log and
   * the rate of new producers.
   */
  submit(entries: Entry[], source?: Source): Promise<Uint8Array>;
  /** Resolves when everything submitted so far has been answered. */
  drained(): Promise<void>;
  /** Runs `fn` when no batch is in flight (now, if none is). */
  betweenBatches(fn: () => void): void;
  /** While `reason` is set, likes are answered `1 storage error` and nothing is written. */
  refuse(reason: string | undefined): void;
  /**
   * Runs `check` before a batch's write whenever the log's file is not as
   * this primary left it (moved, truncated, replaced: one lstat per batch),
   * so that no batch goes into a file logrotate has taken away.
   */
  watchLog(check: () => void): void;
  /** The running total the log's last like line holds: what a new file of the log continues from. */
  loggedTotal(): number;
  /**
   * Writes an event line to the log.
   *
   * @throws {Error} When the log cannot be written
   */
  event(text: string): void;
}

/** An open backend, as primary.ts runs it. */
export interface Backend {
  committer: CommitPath;
  /** The total: this primary's own, or the shared total as last heard from the store. */
  total(): number;
  /** Likes this primary accepted, when it shares the total with others. */
  share?(): number;
  /** Starts the backend's timers; returns their stop. */
  serve(): () => void;
  /** After the stop line: the backend's own bookkeeping; says what failed, if anything. */
  close(signal: string): Promise<string | undefined>;
}

/** What the primary hands every backend it opens: the log is the primary's record of what it acknowledged. */
export interface BackendContext {
  log: LikesLog;
  stats: Stats;
  health: Health;
}

/**
 * Opens a backend before the primary listens: recovers its state, writes the
 * start-up lines to the log.
 *
 * @throws {Error} When the store cannot be used; the log stays open (the caller closes it)
 */
export type OpenBackend = (options: PrimaryOptions, context: BackendContext) => Promise<Backend>;
