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
 *
 * The log may go on in another file (rotate(), continueAtPath(),
 * continueTruncated()): the new file's first line is a continuation line
 * naming the previous file's id and the total it continues from, so that
 * the files form a chain that replays and audits as one log.
 */
import { firstLineId } from "../formats/log_chain.ts";
import { readAtSync, writeAllSync } from "../common/io.ts";
import { LogOpenError } from "../common/line_log.ts";
import { openPrivateFile } from "../common/private_file.ts";
import {
  formatPrimaryLine,
  LINE_ACCEPTED,
  LINE_BAD,
  LINE_DUPLICATE,
  LINE_OUT_OF_ORDER,
  PrimaryLogReader,
} from "../formats/primary_log.ts";
import { rotatedLogPath } from "../formats/file_names.ts";
import { dirname } from "node:path";

const encoder = new TextEncoder();
const NEWLINE = 0x0a;

export class LikesLog {
  readonly path: string;
  #file: Deno.FsFile;
  #inode: number;
  #uid: number | null;
  #size: number;
  #id = "";
  /**
   * Lines a new file starts with after its continuation line (the Redis
   * store's last journal id): set by the backend.
   */
  carryOver: () => string = () => "";
  /**
   * fsync mode: a new file's first lines are synced before it is used, and
   * so is the directory (its renames and the new name), where the primary
   * may read it. In normal mode nothing is synced but what a checkpoint
   * needs: the file it names, up to its offset (syncAsync()).
   */
  syncEachWrite = false;
  /** Whether the directory may be read, and so synced (canSyncDirectory()), once asked. */
  #directorySyncable: boolean | undefined;
  /**
   * Told how many lines the new file holds whenever the log goes on in
   * another file, and whether it was the primary's own rotation (which
   * checkpoints on its own schedule) rather than something done to the file.
   */
  onContinue: (lines: number, rotated: boolean) => void = () => {};

  private constructor(path: string, file: Deno.FsFile) {
    this.path = path;
    this.#file = file;
    const info = file.statSync();
    this.#inode = info.ino ?? 0;
    this.#uid = info.uid;
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
    return out.subarray(0, readAtSync(this.#file, offset, out));
  }

  /** Reads into `buffer` at `offset`; returns how many bytes were read. */
  readInto(offset: number, buffer: Uint8Array): number {
    return readAtSync(this.#file, offset, buffer);
  }

  /** Which log this is: sha256 (hex) of its first line, or "" while it has no whole line. */
  id(): string {
    if (this.#id !== "") return this.#id;
    return this.#id = firstLineId(this.read(0, 4096));
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
    if (offset === 0) this.#id = "";
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
   * Whether the file at the path is still the open file, as long as it was
   * written: one lstat, cheap enough to ask before every batch. False means
   * check() (or a truncation) has something to say.
   */
  unchanged(): boolean {
    try {
      const named = Deno.lstatSync(this.path);
      return named.ino === this.#inode && named.size === this.#size;
    } catch {
      return false;
    }
  }

  /** Bytes the open file lost to a truncation by someone else (logrotate's copytruncate), 0 when none. */
  truncatedBy(): number {
    const size = this.#file.statSync().size;
    return size < this.#size ? this.#size - size : 0;
  }

  /**
   * Whether the open file is still the one at the path: undefined when it is,
   * else what happened to it: deleted (no link left), moved (still linked
   * under another name, as logrotate renames it, and the path free or an
   * empty file of our owner waiting), or replaced by another file.
   */
  check(): "was deleted" | "was moved" | string | undefined {
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
    if (links === 0) return "was deleted";
    if (named === undefined) return "was moved";
    if (named.ino === this.#inode) return undefined;
    if (named.isFile && named.size === 0 && named.uid === this.#uid && named.nlink === 1) return "was moved";
    return "was replaced by another file";
  }

  /**
   * Built-in rotation, at a batch boundary: syncs the file, renames it to
   * `<path>.1` (shifting older ones to `.2`, `.3` … first) and goes on in a
   * new file at the path that continues it from `total`.
   *
   * @throws {Error} When a rename or the new file fails; the log goes on in the open file then
   */
  rotate(total: number, note: string): void {
    let top = 1;
    while (exists(rotatedLogPath(this.path, top))) top++;
    for (let n = top - 1; n >= 1; n--) Deno.renameSync(rotatedLogPath(this.path, n), rotatedLogPath(this.path, n + 1));
    Deno.renameSync(this.path, rotatedLogPath(this.path, 1));
    this.#continueIn(total, note, true);
  }

  /**
   * After the file was moved away (logrotate's rename): goes on in a new file
   * at the path, or in the empty one waiting there (logrotate's `create`).
   *
   * @throws {Error} When the path holds a file that is not empty, or the new file fails
   */
  continueAtPath(total: number, note: string): void {
    this.#continueIn(total, note);
  }

  /**
   * After the open file was truncated under us (logrotate's copytruncate):
   * starts it again with a continuation line from `total`, the running total
   * before anything written since the truncation. Lines of ours written
   * after the truncation (a batch that raced it) are kept, after the
   * continuation line; their first Total says where they started.
   *
   * @throws {Error} When what the file holds now is not whole lines of ours (it was cut, not truncated)
   */
  continueTruncated(total: number, note: string): void {
    const previous = this.id();
    const size = this.#file.statSync().size;
    const kept = this.read(0, size);
    const from = startingTotal(kept, total);
    if (from === undefined) throw new Error(`it was cut to ${size} bytes that are not whole lines of ours`);
    this.#file.truncateSync(0);
    this.#size = 0;
    this.#id = "";
    const head = this.#head(previous, from, note);
    this.append(head.text);
    this.append(kept);
    this.onContinue(head.lines + count(kept, NEWLINE), false);
  }

  /**
   * At start-up, in an empty log: makes it continue the file `previous` (a
   * rotation interrupted, or logrotate run while the primary was down),
   * with `carried` lines (the previous file's last journal id) after the
   * continuation line.
   */
  startContinuing(previous: string, total: number, carried: string, note: string): void {
    if (this.#size !== 0) throw new Error(`Cannot continue another file in ${this.path}: it is not empty`);
    const now = new Date();
    this.append(
      formatPrimaryLine({ kind: "continues", id: previous, total }, now) + carried +
        formatPrimaryLine({ kind: "event", text: note }, now),
    );
    this.#id = "";
  }

  /** The continuation line, the carried-over lines and a note, and how many lines they are. */
  #head(previous: string, total: number, note: string): { text: string; lines: number } {
    const now = new Date();
    const carried = this.carryOver();
    const text = formatPrimaryLine({ kind: "continues", id: previous, total }, now) + carried +
      formatPrimaryLine({ kind: "event", text: note }, now);
    return { text, lines: 2 + count(carried, "\n") };
  }

  /**
   * Whether the log's directory can be synced, so that a rotation's renames
   * and a new file's name survive a power loss even on a filesystem that
   * does not order them before the file's own sync: it needs read access to
   * the directory, which the primary's task does not grant (it would let the
   * primary read every file there).
   */
  canSyncDirectory(): boolean {
    // Asked once: grants do not change while the primary runs, and rotations come up to 100 a second.
    return this.#directorySyncable ??=
      Deno.permissions.querySync({ name: "read", path: dirname(this.path) }).state === "granted";
  }

  /** fsync mode: makes the directory's entries durable where it can (canSyncDirectory()). */
  #syncDirectory(): void {
    if (!this.syncEachWrite || !this.canSyncDirectory()) return;
    const directory = Deno.openSync(dirname(this.path), { read: true });
    try {
      directory.syncSync();
    } finally {
      directory.close();
    }
  }

  #continueIn(total: number, note: string, rotated = false): void {
    const previous = this.id();
    const file = LikesLog.#openLocked(this.path);
    let ours = false;
    let lines = 0;
    try {
      const info = file.statSync();
      if (info.size !== 0) throw new Error(`${this.path} exists and is not empty`);
      if (info.uid !== this.#uid) throw new Error(`${this.path} belongs to another user (uid ${info.uid})`);
      ours = true;
      const head = this.#head(previous, total, note);
      writeAllSync(file, encoder.encode(head.text));
      if (this.syncEachWrite) file.syncDataSync();
      this.#syncDirectory();
      lines = head.lines;
    } catch (error) {
      try {
        if (ours) file.truncateSync(0);
      } catch { /* the first error is the one to report */ }
      file.close();
      throw error;
    }
    // Not synced in normal mode: a file rotated away is read only by an audit or a rebuild, and a
    // forced write-back of each (100 a second at 1M files under 50x32) kept the disk so busy that
    // the checkpoints that let older files go fell behind, and tens of MB of them stayed.
    this.#file.close();
    this.#file = file;
    const info = file.statSync();
    this.#inode = info.ino ?? 0;
    this.#size = info.size;
    this.#id = "";
    this.onContinue(lines, rotated);
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
      this.#syncDirectory();
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

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

function count(text: string | Uint8Array, c: string | number): number {
  let n = 0;
  for (let i = text.indexOf(c as never); i >= 0; i = text.indexOf(c as never, i + 1)) n++;
  return n;
}

/**
 * The running total before whole log lines `bytes`: from their first like
 * line, else `total`; undefined when they are not whole lines of ours.
 */
function startingTotal(bytes: Uint8Array, total: number): number | undefined {
  if (bytes.length === 0) return total;
  if (bytes.at(-1) !== NEWLINE) return undefined;
  const reader = new PrimaryLogReader();
  for (let start = 0; start < bytes.length;) {
    const end = bytes.indexOf(NEWLINE, start);
    const kind = reader.read(bytes, start, end);
    if (kind === LINE_BAD) return undefined;
    if (kind === LINE_ACCEPTED) return reader.total - reader.likes;
    if (kind === LINE_DUPLICATE || kind === LINE_OUT_OF_ORDER) return reader.total;
    start = end + 1;
  }
  return total;
}
