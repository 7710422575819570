/**
 * The primary's human-readable log (/tmp/PrimaryLikesLog), append-only, and
 * the commit record: a batch is committed once its lines are written here
 * (and synced, in fsync mode), and start-up rebuilds the state by replaying it.
 *
 * Line formats: see lib/formats/primary_log.ts.
 *
 * Committed lines are never removed. The only cuts are of a batch whose write
 * failed (back to the end of the last whole batch) and, at start-up, of a
 * torn last line that has no newline and so was never acknowledged.
 */
import { createHash } from "node:crypto";
import { writeAllSync } from "../common/io.ts";
import { LogOpenError } from "../common/line_log.ts";
import { openPrivateFile } from "../common/private_file.ts";

const encoder = new TextEncoder();
const NEWLINE = 0x0a;

export class LikesLog {
  readonly path: string;
  #file: Deno.FsFile;
  #inode: number;
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
    return new LikesLog(path, LikesLog.#openLocked(path));
  }

  static #openLocked(path: string): Deno.FsFile {
    let file: Deno.FsFile;
    try {
      file = openPrivateFile(path);
    } catch (error) {
      throw new LogOpenError(path, { cause: error });
    }
    // One writer per log: a second primary on it would interleave its lines with ours.
    if (!file.tryLockSync(true)) {
      file.close();
      const cause = new Error(`${path} is in use by another process (is another primary running?)`);
      throw new LogOpenError(path, { cause });
    }
    return file;
  }

  /** Bytes in the log now. */
  get size(): number {
    return this.#size;
  }

  /** Reads up to `length` bytes at `offset` into a new array (shorter at the end of the file). */
  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    let got = 0;
    this.#file.seekSync(offset, Deno.SeekMode.Start);
    while (got < length) {
      const n = this.#file.readSync(out.subarray(got));
      if (n === null || n === 0) break;
      got += n;
    }
    return out.subarray(0, got);
  }

  /** Reads into `buffer` at `offset`; returns how many bytes were read. */
  readInto(offset: number, buffer: Uint8Array): number {
    this.#file.seekSync(offset, Deno.SeekMode.Start);
    let got = 0;
    while (got < buffer.length) {
      const n = this.#file.readSync(buffer.subarray(got));
      if (n === null || n === 0) break;
      got += n;
    }
    return got;
  }

  /** Which log this is: sha256 (hex) of its first line, or "" while it has no whole line. */
  id(): string {
    const head = this.read(0, 4096);
    const newline = head.indexOf(NEWLINE);
    if (newline < 0) return "";
    return createHash("sha256").update(head.subarray(0, newline + 1)).digest("hex");
  }

  /** Where the last whole line ends: bytes after it are a torn line. */
  wholeEnd(): number {
    const chunk = 64 * 1024;
    for (let end = this.#size; end > 0; end -= chunk) {
      const start = Math.max(0, end - chunk);
      const bytes = this.read(start, end - start);
      const newline = bytes.lastIndexOf(NEWLINE);
      if (newline >= 0) return start + newline + 1;
    }
    return 0;
  }

  /**
   * Appends whole lines, given as a string or as their UTF-8 bytes, with one
   * write when the kernel takes it all (it does, but for a full disk). On
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

  /** Cuts the log back to `offset` bytes (a torn line, or a batch whose sync failed). */
  truncate(offset: number): void {
    if (offset >= this.#size) return;
    this.#file.truncateSync(offset);
    this.#size = offset;
  }

  /** Forces what was appended to disk, blocking the event loop. */
  sync(): void {
    this.#file.syncDataSync();
  }

  /** Forces what was appended to disk on a blocking thread, leaving the event loop free. */
  syncAsync(): Promise<void> {
    return this.#file.syncData();
  }

  /**
   * Whether the open file is still the one at the path: undefined when it is,
   * else what happened to it (deleted, or replaced by another file).
   */
  check(): string | undefined {
    let links: number | null;
    try {
      links = this.#file.statSync().nlink;
    } catch (error) {
      return `cannot be checked: ${(error as Error).message}`;
    }
    let named: Deno.FileInfo | undefined;
    try {
      named = Deno.lstatSync(this.path);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) return `cannot be checked: ${(error as Error).message}`;
    }
    if (links === 0 || named === undefined) return "was deleted";
    if (named.ino !== this.#inode) return "was replaced by another file";
    return undefined;
  }

  /**
   * After the log's file was deleted: writes everything the open file holds
   * to a new file at the path and continues there, so no history is lost.
   *
   * @throws {Error} When the path is taken again or the copy fails; the old file stays in use then
   */
  recreate(): void {
    const file = LikesLog.#openLocked(this.path);
    let ours = false;
    try {
      if (file.statSync().size !== 0) throw new Error(`${this.path} exists again and is not empty`);
      ours = true;
      const buffer = new Uint8Array(1 << 20);
      for (let offset = 0; offset < this.#size;) {
        const n = this.readInto(offset, buffer.subarray(0, Math.min(buffer.length, this.#size - offset)));
        if (n === 0) throw new Error(`the open log ended at byte ${offset} of ${this.#size}`);
        writeAllSync(file, buffer.subarray(0, n));
        offset += n;
      }
      file.syncDataSync();
    } catch (error) {
      try {
        if (ours) file.truncateSync(0);
      } catch { /* the copy error is the one to report */ }
      file.close();
      throw error;
    }
    this.#file.close();
    this.#file = file;
    this.#inode = file.statSync().ino ?? 0;
  }

  close(): void {
    this.#file.close();
  }
}
