/**
 * The primary's human-readable log (/tmp/PrimaryLikesLog), append-only: the
 * file. Its lines are written and read by lib/formats/primary_log.ts.
 *
 * Each batch is written here before its commit, and the commit records where
 * the log then ends. At start-up anything past that mark was never
 * acknowledged and is cut off, so log and state agree on every acknowledged like.
 */
import type { LogMark } from "./store.ts";
import { writeAllSync } from "../common/io.ts";
import { LogOpenError } from "../common/line_log.ts";
import { openPrivateFile } from "../common/private_file.ts";

const encoder = new TextEncoder();

export class LikesLog {
  readonly path: string;
  readonly #file: Deno.FsFile;
  readonly #inode: number;
  #size: number;

  private constructor(path: string, file: Deno.FsFile) {
    this.path = path;
    this.#file = file;
    const info = file.statSync();
    this.#inode = info.ino ?? 0;
    this.#size = info.size;
  }

  /**
   * Opens the log for appending, creating it owner-only, never through a
   * symlink, and locks it.
   *
   * @throws {LogOpenError} When the path is a symlink, not a file, locked, or cannot be opened
   */
  static open(path: string): LikesLog {
    let file: Deno.FsFile;
    try {
      file = openPrivateFile(path);
    } catch (error) {
      throw new LogOpenError(path, { cause: error });
    }
    // One writer per log: a second primary on it would cut the first one's lines at recovery.
    if (!file.tryLockSync(true)) {
      file.close();
      const cause = new Error(`${path} is in use by another process (is another primary running?)`);
      throw new LogOpenError(path, { cause });
    }
    return new LikesLog(path, file);
  }

  /** Where the log ends now. */
  get mark(): LogMark {
    return { path: this.path, inode: this.#inode, offset: this.#size };
  }

  /**
   * Brings the log in line with the committed mark after a crash: cuts off the
   * lines of a batch that was written but never committed. Returns a sentence
   * saying what was done, or undefined when nothing was needed.
   */
  recover(committed: LogMark): string | undefined {
    if (committed.path === "") return undefined;
    if (committed.path !== this.path || committed.inode !== this.#inode) {
      return `The state was last used with another log (${committed.path}); this log is kept as it is`;
    }
    if (this.#size > committed.offset) {
      const cut = this.#size - committed.offset;
      this.#file.truncateSync(committed.offset);
      this.#size = committed.offset;
      return `Removed ${cut} bytes of log lines that were never committed nor acknowledged`;
    }
    if (this.#size < committed.offset) {
      return `The log is ${
        committed.offset - this.#size
      } bytes shorter than the state expects; it was truncated or lost data`;
    }
    return undefined;
  }

  /**
   * Appends text (whole lines), given as a string or as its UTF-8 bytes. On
   * failure the log is cut back to where it was, so that no half line stays
   * behind, and the error is thrown.
   */
  append(text: string | Uint8Array): void {
    if (text.length === 0) return;
    const bytes = typeof text === "string" ? encoder.encode(text) : text;
    try {
      writeAllSync(this.#file, bytes);
    } catch (error) {
      try {
        this.#file.truncateSync(this.#size);
      } catch { /* the write error is the one to report */ }
      throw error;
    }
    this.#size += bytes.length;
  }

  /** Cuts the log back to `offset` bytes (the lines of a batch whose commit failed). */
  truncate(offset: number): void {
    if (offset >= this.#size) return;
    this.#file.truncateSync(offset);
    this.#size = offset;
  }

  /** Forces what was appended to disk (used by the fsync durability mode). */
  sync(): void {
    this.#file.syncDataSync();
  }

  close(): void {
    this.#file.close();
  }
}
