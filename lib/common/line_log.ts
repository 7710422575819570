/**
 * A small append-only log of timestamped lines (the LikesServer logs and
 * ParentProcessStatus). Each line is written with one synchronous write, so
 * nothing sits in a buffer when the process is stopped or killed.
 */
import { writeAllSync } from "./io.ts";
import { openPrivateFile } from "./private_file.ts";

const encoder = new TextEncoder();

/** A log that cannot be opened (created, locked, or checked safe); `cause` holds why. */
export class LogOpenError extends Error {
  readonly path: string;
  constructor(path: string, options: { cause: unknown }) {
    const reason = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(`Cannot open log ${path}: ${reason}`, options);
    this.name = "LogOpenError";
    this.path = path;
  }
}

export interface LineLogOptions {
  /** Start the file empty instead of appending. @default {false} */
  truncate?: boolean;
  /** Also print each line on stdout. @default {false} */
  echo?: boolean;
  /** Hold an exclusive lock for as long as the log is open: one writer per file. @default {false} */
  lock?: boolean;
}

export class LineLog {
  readonly path: string;
  readonly #file: Deno.FsFile;
  readonly #echo: boolean;

  private constructor(path: string, file: Deno.FsFile, echo: boolean) {
    this.path = path;
    this.#file = file;
    this.#echo = echo;
  }

  /**
   * Opens the log owner-only, never through a symlink.
   *
   * @throws {LogOpenError} When the file cannot be created or opened, or is locked (with `lock`)
   */
  static open(path: string, options: LineLogOptions = {}): LineLog {
    const { truncate = false, echo = false, lock = false } = options;
    try {
      return new LineLog(path, openPrivateFile(path, { append: !truncate, truncate, lock }), echo);
    } catch (error) {
      throw new LogOpenError(path, { cause: error });
    }
  }

  /** Appends `<ISO time> <text>`. The text must come from us or be escaped. */
  line(text: string, now = new Date()): void {
    const line = `${now.toISOString()} ${text}\n`;
    const bytes = encoder.encode(line);
    writeAllSync(this.#file, bytes);
    if (this.#echo) Deno.stdout.writeSync(bytes);
  }

  close(): void {
    this.#file.close();
  }
}
