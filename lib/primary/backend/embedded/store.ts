/**
 * The checkpoint in SQLite: the total, the dedupe state, and how much of the
 * log (which log, up to which byte and line) they account for. The log is the
 * commit record; the checkpoint only saves start-up from replaying all of it.
 * It is written off the acknowledgement path, every few seconds or megabytes
 * and at a clean stop, and only for log bytes that are already as durable as
 * the durability mode promises: a checkpoint is never ahead of its log.
 *
 * Nothing here needs to reach the disk for correctness (a checkpoint lost in
 * a crash is an older one, or none: start-up replays more log), so SQLite
 * runs with synchronous=NORMAL in both durability modes.
 *
 * A checkpoint carries a checksum of its own content (every field and every
 * producer row), so that one changed outside the primary (by hand, by a tool,
 * by damage SQLite does not see) is not trusted: start-up replays the whole
 * log instead. The producers enter it as a sum of per-row hashes, which a
 * save updates for the rows it changes rather than rehashing them all. The
 * checksum is not a secret: one who can rewrite the file and knows the
 * formula can forge it, so replay.ts also checks the total against the log.
 */
import { createHash } from "node:crypto";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { ProducerState } from "../../ledger.ts";
import { createPrivateFile } from "../../../common/private_file.ts";
import { StoreError } from "../backend.ts";

/** Where in which log a checkpoint stands. */
export interface LogPosition {
  /** sha256 (hex) of the log's first line: which log this is. */
  logId: string;
  /** Bytes of the log accounted for; always the end of a line. */
  offset: number;
  /** Lines of the log accounted for. */
  lines: number;
  /** The last bytes before `offset` (at most TAIL_BYTES), to prove the log at hand is the one. */
  tail: Uint8Array;
}

/**
 * A producer as the checkpoint keeps it: without the likes of its highest
 * seq, which a replay of the log after the checkpoint brings back for the
 * producers it saw (see docs/exactly-once.md).
 */
export type CheckpointProducer = Omit<ProducerState, "lastLikes">;

export interface Checkpoint extends LogPosition {
  total: number;
  producers: [string, CheckpointProducer][];
}

/** How many bytes before its offset a checkpoint keeps to recognise its log. */
export const TAIL_BYTES = 256;
/** 4: with a checksum. A checkpoint of version 3 (none) is not trusted: one whole replay writes a version 4. */
const VERSION = 4;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS checkpoint (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL,
  total INTEGER NOT NULL,
  log_id TEXT NOT NULL,
  log_offset INTEGER NOT NULL,
  log_lines INTEGER NOT NULL,
  log_tail BLOB NOT NULL,
  checksum TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS checkpoint_producers (
  id TEXT PRIMARY KEY,
  last_seq INTEGER NOT NULL,
  seq_window INTEGER NOT NULL,
  run_start INTEGER NOT NULL,
  last_seen INTEGER NOT NULL
) WITHOUT ROWID;
`;

/** Why a state file holds no checkpoint that can be used, or undefined when it holds one. */
export type Loaded = { checkpoint: Checkpoint } | { untrusted: string };

export class Store {
  readonly path: string;
  readonly #db: DatabaseSync;
  readonly #saveState: StatementSync;
  readonly #saveProducer: StatementSync;
  readonly #deleteProducer: StatementSync;
  readonly #getProducer: StatementSync;
  /** The producer rows' count and hash sum, once known (see #producerSum). */
  #rows: RowSum | undefined;
  readonly #begin: StatementSync;
  readonly #commit: StatementSync;

  private constructor(path: string, db: DatabaseSync) {
    this.path = path;
    this.#db = db;
    this.#saveState = db.prepare(
      "INSERT OR REPLACE INTO checkpoint (id, version, total, log_id, log_offset, log_lines, log_tail, checksum) " +
        "VALUES (1, ?, ?, ?, ?, ?, ?, ?)",
    );
    this.#getProducer = db.prepare(
      "SELECT last_seq, seq_window, run_start, last_seen FROM checkpoint_producers WHERE id = ?",
    );
    this.#saveProducer = db.prepare("INSERT OR REPLACE INTO checkpoint_producers VALUES (?, ?, ?, ?, ?)");
    this.#deleteProducer = db.prepare("DELETE FROM checkpoint_producers WHERE id = ?");
    this.#begin = db.prepare("BEGIN");
    this.#commit = db.prepare("COMMIT");
  }

  /**
   * Opens (or creates, owner-only) the checkpoint database and takes an
   * exclusive lock on it, so that two primaries can never share one.
   *
   * @throws {StoreError} When the file is a symlink, unreadable, unwritable, locked, or not a database
   */
  static open(path: string): Store {
    let db: DatabaseSync | undefined;
    try {
      createPrivateFile(path);
      db = new DatabaseSync(path);
      db.exec("PRAGMA locking_mode = EXCLUSIVE");
      db.exec("PRAGMA journal_mode = WAL");
      db.exec("PRAGMA synchronous = NORMAL");
      db.exec("PRAGMA busy_timeout = 0");
      // A write transaction up front proves the file is writable and takes the lock.
      db.exec("BEGIN IMMEDIATE");
      db.exec(SCHEMA);
      // A state file of version 3 has no checksum column: added, its checkpoint then fails as of an older version.
      const columns = db.prepare("SELECT name FROM pragma_table_info('checkpoint')").all() as { name: string }[];
      if (!columns.some((c) => c.name === "checksum")) {
        db.exec("ALTER TABLE checkpoint ADD COLUMN checksum TEXT NOT NULL DEFAULT ''");
      }
      db.exec("COMMIT");
      return new Store(path, db);
    } catch (error) {
      try {
        db?.close();
      } catch { /* the open error is the one to report */ }
      const reason = (error as Error).message.replace(/\s*\n\s*/g, "; ");
      const hint = /locked|busy/i.test(reason) ? " (is another primary running on it?)" : "";
      throw new StoreError(`Cannot open state file ${path}: ${reason}${hint}`, { cause: error });
    }
  }

  /** True for an open() error that a fresh checkpoint file would cure (not a database, damaged). */
  static isDamaged(error: unknown): boolean {
    const message = (error as Error)?.message ?? "";
    return error instanceof StoreError && /not a database|malformed|corrupt/i.test(message);
  }

  /** Reads the checkpoint, checking it is whole; says why when there is none to trust. */
  load(): Loaded {
    try {
      const check = this.#db.prepare("PRAGMA quick_check").get() as Record<string, string>;
      const verdict = String(Object.values(check)[0]);
      if (verdict !== "ok") return { untrusted: `is damaged (${verdict.replace(/\s*\n\s*/g, "; ")})` };
      const row = this.#db.prepare(
        "SELECT version, total, log_id, log_offset, log_lines, log_tail, checksum FROM checkpoint WHERE id = 1",
      ).get() as
        | {
          version: number;
          total: number;
          log_id: string;
          log_offset: number;
          log_lines: number;
          log_tail: Uint8Array;
          checksum: string;
        }
        | undefined;
      if (!row) return { untrusted: "holds no checkpoint (it is new, empty, or from an older version)" };
      if (row.version !== VERSION) return { untrusted: `is of version ${row.version}, not ${VERSION}` };
      const numbers = [row.total, row.log_offset, row.log_lines];
      if (!numbers.every((n) => Number.isSafeInteger(n) && n >= 0) || !(row.log_tail instanceof Uint8Array)) {
        return { untrusted: "holds values out of range" };
      }
      const producers = this.#readProducers();
      const rows = emptySum();
      for (const [id, state] of producers) addRow(rows, id, state, 1);
      const position = { logId: row.log_id, offset: row.log_offset, lines: row.log_lines, tail: row.log_tail };
      if (row.checksum !== checksum(row.total, position, rows)) {
        return { untrusted: "fails its checksum (it was changed outside the primary)" };
      }
      this.#rows = rows;
      return { checkpoint: { total: row.total, ...position, producers } };
    } catch (error) {
      return { untrusted: `cannot be read (${(error as Error).message.replace(/\s*\n\s*/g, "; ")})` };
    }
  }

  /**
   * Writes a checkpoint: the total and position, and the producers given
   * (`undefined` deletes one). With `all`, every stored producer not given is
   * deleted first (a checkpoint from scratch). The checksum covers the
   * stored producers as they are: after a load() that did not trust them,
   * only a save from scratch makes a checkpoint worth trusting.
   *
   * @throws {StoreError} When the write fails; the previous checkpoint stays whole then
   */
  save(
    total: number,
    position: LogPosition,
    producers: Iterable<[string, CheckpointProducer | undefined]>,
    all = false,
  ): void {
    const db = this.#db;
    try {
      this.#begin.run();
      try {
        if (all) db.exec("DELETE FROM checkpoint_producers");
        // Updated in a copy: a failed save leaves the known sum as the rolled-back table has it.
        const rows = all ? emptySum() : { ...this.#producerSum() };
        for (const [id, state] of producers) {
          const old = all ? undefined : this.#getProducer.get(id) as StoredProducer | undefined;
          if (old) {
            addRow(rows, id, {
              lastSeq: old.last_seq,
              window: old.seq_window,
              runStart: old.run_start,
              lastSeen: old.last_seen,
            }, -1);
          }
          if (state) {
            this.#saveProducer.run(id, state.lastSeq, state.window, state.runStart, state.lastSeen);
            addRow(rows, id, state, 1);
          } else if (old) {
            this.#deleteProducer.run(id);
          }
        }
        this.#saveState.run(
          VERSION,
          total,
          position.logId,
          position.offset,
          position.lines,
          position.tail,
          checksum(total, position, rows),
        );
        this.#commit.run();
        this.#rows = rows;
      } catch (error) {
        if (db.isTransaction) db.exec("ROLLBACK");
        throw error;
      }
    } catch (error) {
      throw new StoreError(`Cannot write checkpoint to ${this.path}: ${(error as Error).message}`, { cause: error });
    }
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /** The stored producers' sum, read from the table the first time a save needs it without a load before. */
  #producerSum(): RowSum {
    if (this.#rows) return this.#rows;
    const rows = emptySum();
    for (const [id, state] of this.#readProducers()) addRow(rows, id, state, 1);
    return this.#rows = rows;
  }

  #readProducers(): [string, CheckpointProducer][] {
    return (this.#db.prepare("SELECT id, last_seq, seq_window, run_start, last_seen FROM checkpoint_producers")
      .all() as unknown as (StoredProducer & { id: string })[])
      .map((r): [string, CheckpointProducer] => [r.id, {
        lastSeq: r.last_seq,
        window: r.seq_window,
        runStart: r.run_start,
        lastSeen: r.last_seen,
      }]);
  }
}

interface StoredProducer {
  last_seq: number;
  seq_window: number;
  run_start: number;
  last_seen: number;
}

/** How many producer rows, and the sum of their hashes in two 32-bit lanes: order does not matter. */
interface RowSum {
  count: number;
  low: number;
  high: number;
}

function emptySum(): RowSum {
  return { count: 0, low: 0, high: 0 };
}

/** Adds (`sign` 1) or takes away (-1) one producer row's hash. */
function addRow(sum: RowSum, id: string, state: CheckpointProducer, sign: 1 | -1): void {
  const text = `${id}\n${state.lastSeq}\n${state.window}\n${state.runStart}\n${state.lastSeen}`;
  // Two FNV-1a hashes with different offsets: 64 bits, enough that no edit of a row keeps the sum.
  let a = 0x811c9dc5, b = 0x050c5d1f;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 15);
  }
  sum.count += sign;
  sum.low = (sum.low + sign * (a >>> 0)) >>> 0;
  sum.high = (sum.high + sign * (b >>> 0)) >>> 0;
}

/** sha256 (hex) of every field of a checkpoint and its producers' sum. */
function checksum(total: number, position: LogPosition, rows: RowSum): string {
  return createHash("sha256")
    .update(`likes checkpoint ${VERSION}\n${total}\n${position.logId}\n${position.offset}\n${position.lines}\n`)
    .update(position.tail)
    .update(`\n${rows.count}\n${rows.low}\n${rows.high}`)
    .digest("hex");
}
