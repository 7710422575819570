/**
 * The primary's log as a chain of files: the live file at the log's path and
 * its rotated predecessors beside it (`<log>.1`, `.2` …, newest first, as
 * logrotate and the primary's own rotation name them). Each file but the
 * first of the chain starts with a continuation line naming the previous
 * file by id (the sha256 of its first line) and the total it continues
 * from; the chain is found by those ids, not by the numbers in the names.
 */
import { readAtSync } from "../common/io.ts";
import { createHash } from "node:crypto";
import { rotatedLogPath } from "./file_names.ts";
import { LINE_CONTINUES, PrimaryLogReader } from "./primary_log.ts";

const NEWLINE = 0x0a;

/** A log file read, never written: a rotated one, or the live one at start-up. */
export interface ReadableLog {
  readonly path: string;
  readonly size: number;
  /** Reads into `buffer` at `offset`; returns how many bytes were read. */
  readInto(offset: number, buffer: Uint8Array): number;
  read(offset: number, length: number): Uint8Array;
  id(): string;
}

/** sha256 (hex) of the first line in `head`, or "" when it holds no whole line. */
export function firstLineId(head: Uint8Array): string {
  const newline = head.indexOf(NEWLINE);
  if (newline < 0) return "";
  return createHash("sha256").update(head.subarray(0, newline + 1)).digest("hex");
}

/** What a file's first line says it continues, if it is a continuation line. */
export function continuationOf(log: ReadableLog): { id: string; total: number } | undefined {
  const head = log.read(0, 4096);
  const newline = head.indexOf(NEWLINE);
  if (newline < 0) return undefined;
  const reader = new PrimaryLogReader();
  if (reader.read(head, 0, newline) !== LINE_CONTINUES) return undefined;
  return { id: reader.continues, total: reader.total };
}

/** A rotated log file, open for reading. */
export class RotatedLog implements ReadableLog {
  readonly path: string;
  readonly size: number;
  readonly #file: Deno.FsFile;
  #id: string | undefined;

  private constructor(path: string, file: Deno.FsFile) {
    this.path = path;
    this.#file = file;
    this.size = file.statSync().size;
  }

  /** Opens `path` for reading; undefined when there is no file there. */
  static open(path: string): RotatedLog | undefined {
    try {
      const info = Deno.lstatSync(path);
      // A symlink planted beside the log is not one of ours.
      if (!info.isFile) return undefined;
      return new RotatedLog(path, Deno.openSync(path, { read: true }));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  readInto(offset: number, buffer: Uint8Array): number {
    return readAtSync(this.#file, offset, buffer);
  }

  read(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(Math.max(0, Math.min(length, this.size - offset)));
    return out.subarray(0, this.readInto(offset, out));
  }

  id(): string {
    return this.#id ??= firstLineId(this.read(0, 4096));
  }

  close(): void {
    this.#file.close();
  }
}

/** The chain of files ending in `current`, oldest first, found by the ids the continuation lines name. */
export interface LogChain {
  /** Oldest first; the last is `current`. */
  files: ReadableLog[];
  /**
   * When the oldest file found continues one that is not beside it: that
   * file's id (it was deleted, or never kept), so the chain starts there.
   */
  missing?: string;
  /** Closes the rotated files opened. */
  close(): void;
}

/**
 * Finds the chain of `current`: the rotated files `<path>.1`, `.2` … (read
 * until one is missing), linked by their continuation lines. Files beside
 * it that are not in the chain are left out (and closed).
 */
export function logChain(current: ReadableLog, path = current.path): LogChain {
  const byId = new Map<string, RotatedLog>();
  const opened: RotatedLog[] = [];
  for (let n = 1;; n++) {
    let file: RotatedLog | undefined;
    try {
      file = RotatedLog.open(rotatedLogPath(path, n));
    } catch {
      break; // not readable (no grant): the chain is what was found
    }
    if (file === undefined) break;
    opened.push(file);
    if (!byId.has(file.id())) byId.set(file.id(), file);
  }
  const files: ReadableLog[] = [current];
  const used = new Set<RotatedLog>();
  let missing: string | undefined;
  for (let link = continuationOf(current); link !== undefined;) {
    const previous = byId.get(link.id);
    if (previous === undefined || used.has(previous)) {
      missing = link.id;
      break;
    }
    used.add(previous);
    files.unshift(previous);
    link = continuationOf(previous);
  }
  for (const file of opened) if (!used.has(file)) file.close();
  return { files, missing, close: () => used.forEach((file) => file.close()) };
}
