/**
 * Built-in rotation of the primary's log: at the first batch boundary past
 * `maxBytes`, the log goes on in a new file (LikesLog.rotate()), a
 * checkpoint is written naming the new file, and rotated files beyond
 * `keep` are deleted, never one the checkpoint still needs (start-up replays
 * from the file the checkpoint names through to the current one).
 */
import { readAtSync } from "../common/io.ts";
import { rotatedLogPath } from "../formats/file_names.ts";
import type { LikesLog } from "./likes_log.ts";
import { firstLineId } from "../formats/log_chain.ts";

export interface LogRotationOptions {
  /** Rotate at the first batch boundary past this many bytes; 0 never. @default {LOG_ROTATION_DEFAULTS.maxBytes} */
  maxBytes?: number;
  /** Rotated files kept; Infinity keeps all. @default {LOG_ROTATION_DEFAULTS.keep} */
  keep?: number;
}

export const LOG_ROTATION_DEFAULTS = {
  /** 1 GiB: at the seed's pace a month of likes, at the benchmark's some seconds. */
  maxBytes: 2 ** 30,
  keep: Infinity,
} as const;

/** What rotation needs of the backend. */
export interface RotationHooks {
  /** The running total the new file continues from. */
  total(): number;
  /**
   * Writes a checkpoint of the new file (between batches); returns the id of
   * the log the stored checkpoint names ("" for none): files it needs stay.
   */
  checkpoint(): string;
  /** The id of the log the stored checkpoint names, without writing one. */
  saved(): string;
}

export class LogRotation {
  readonly #log: LikesLog;
  readonly #maxBytes: number;
  readonly #keep: number;
  readonly #hooks: RotationHooks;
  /** The size past which the next rotation is due (further out after a failed one). */
  #next: number;
  /** Rotations done since start. */
  rotations = 0;
  /** Rotations since rotation last asked for a checkpoint. */
  #sinceCheckpoint = 0;
  /**
   * Rotated files unlinked whose pages are being freed. Unlinking a file of
   * dirty pages cost 14 % of the primary's time at 1M files under 50x32 when
   * done on the event loop: a file is now opened and unlinked there (cheap
   * while it is open), then emptied on a blocking thread, where freeing its
   * pages costs the loop nothing, and closed. Being unlinked first, no later
   * rename can put another file under its name.
   */
  #freeing: Promise<void> = Promise.resolve();

  constructor(log: LikesLog, hooks: RotationHooks, options: LogRotationOptions = {}) {
    const { maxBytes = LOG_ROTATION_DEFAULTS.maxBytes, keep = LOG_ROTATION_DEFAULTS.keep } = options;
    if (!(maxBytes >= 0) || !(keep >= 0)) {
      throw new RangeError(`Cannot rotate the log: maxBytes and keep must be >= 0, got ${maxBytes} and ${keep}`);
    }
    this.#log = log;
    this.#hooks = hooks;
    this.#maxBytes = maxBytes;
    this.#keep = keep;
    this.#next = maxBytes > 0 ? maxBytes : Infinity;
  }

  /** Whether the log is past its size: one comparison, asked after every batch. */
  due(): boolean {
    return this.#log.size >= this.#next;
  }

  /** Resolves once the files deleted so far have been freed (at a stop). */
  settled(): Promise<void> {
    return this.#freeing;
  }

  /** Rotates now (between batches); a failure is logged on stderr and retried after another maxBytes. */
  rotate(): void {
    const log = this.#log;
    const size = log.size;
    const total = this.#hooks.total();
    try {
      log.rotate(
        total,
        `Rotated the log at ${size} bytes (--log-max-bytes ${this.#maxBytes}): the previous file is now ` +
          `${rotatedLogPath(log.path, 1)}`,
      );
    } catch (error) {
      this.#next = log.size + this.#maxBytes;
      console.error(`primary: Cannot rotate the log ${log.path}: ${(error as Error).message}; retrying later`);
      return;
    }
    this.rotations++;
    this.#next = this.#maxBytes;
    // A checkpoint per rotation cost a third of the likes/s at 1M files under 50x32: one every
    // `keep` rotations is enough for the checkpoint never to need a file beyond keep for long.
    if (++this.#sinceCheckpoint >= Math.max(1, Math.min(this.#keep, 1_000_000))) {
      this.#sinceCheckpoint = 0;
      this.prune(this.#hooks.checkpoint());
    } else this.prune(this.#hooks.saved());
  }

  /**
   * Deletes rotated files beyond `keep`, but none from the one the checkpoint
   * names (`neededId`) onwards: they are what the next start-up replays.
   */
  prune(neededId: string): void {
    if (this.#keep === Infinity) return;
    const log = this.#log;
    let needed = 0;
    if (neededId !== log.id()) {
      // The checkpoint names an older file (its write failed): keep every file from that one on.
      needed = Infinity;
      for (let n = 1;; n++) {
        const id = fileId(rotatedLogPath(log.path, n));
        if (id === undefined) break;
        if (id === neededId) {
          needed = n;
          break;
        }
      }
    }
    for (let n = Math.max(this.#keep, needed) + 1; n !== Infinity; n++) {
      const path = rotatedLogPath(log.path, n);
      let file: Deno.FsFile;
      try {
        file = Deno.openSync(path, { read: true, write: true });
      } catch (error) {
        if (!(error instanceof Deno.errors.NotFound)) {
          console.error(`primary: Cannot delete the rotated log ${path}: ${(error as Error).message}`);
        }
        break;
      }
      try {
        Deno.removeSync(path);
      } catch (error) {
        file.close();
        console.error(`primary: Cannot delete the rotated log ${path}: ${(error as Error).message}`);
        break;
      }
      this.#free(file);
    }
  }

  /** Empties an unlinked file on a blocking thread, then closes it (its pages freed off the loop). */
  #free(file: Deno.FsFile): void {
    const freed = file.truncate(0).catch(() => {/* its space comes back at the close all the same */})
      .finally(() => file.close());
    this.#freeing = Promise.all([this.#freeing, freed]).then(() => {});
  }
}

/** The id of the log file at `path`, or undefined when there is none. */
export function fileId(path: string): string | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  try {
    const head = new Uint8Array(4096);
    return firstLineId(head.subarray(0, readAtSync(file, 0, head)));
  } finally {
    file.close();
  }
}
