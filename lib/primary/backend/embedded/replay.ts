/**
 * Start-up: the state is rebuilt from the log, the commit record. A
 * checkpoint, when it can be trusted, saves replaying the log up to its offset.
 *
 *   - checkpoint beyond the log's end (log truncated, replaced, lost): stop;
 *     a total never shrinks because a log went missing (--reset starts over)
 *   - checkpoint missing, empty, damaged, failing its checksum, from another
 *     log, not matching the log at its offset, or holding a total other than
 *     the running total on the log's last like line before its offset: not
 *     trusted; the whole log is replayed, and one line says so
 *   - a torn last line (no newline: never acknowledged) is cut, and a line
 *     says how many bytes went; whole lines are never cut
 *   - a line that does not parse (a like line damaged in place included), or
 *     a Total that is not the running total, stops start-up with the line
 *     number
 */
import {
  LINE_ACCEPTED,
  LINE_BAD,
  LINE_CONTINUES,
  LINE_DUPLICATE,
  LINE_OUT_OF_ORDER,
  LINE_RESET,
  PrimaryLogReader,
} from "../../../formats/primary_log.ts";
import { escapeBytes } from "../../../common/escape.ts";
import { advance, newProducer, type ProducerState } from "../../ledger.ts";
import type { LikesLog } from "../../likes_log.ts";
import { logChain, type ReadableLog } from "../../../formats/log_chain.ts";
import { type Checkpoint, type LogPosition, type Store, TAIL_BYTES } from "./store.ts";

/** The log cannot be replayed, or does not hold what the checkpoint accounts for: start-up stops. */
export class ReplayError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ReplayError";
  }
}

export interface Recovered {
  total: number;
  producers: Map<string, ProducerState>;
  /** Where the log stands after recovery (its whole lines). */
  position: LogPosition;
  /** Lines replayed past the checkpoint (or from the start). */
  replayed: number;
  /** Sentences for the log and stderr: what recovery did that an operator should know. */
  notes: string[];
  /** Whether the checkpoint was used; false means the state was rebuilt from the whole log. */
  fromCheckpoint: boolean;
  /** Whether there was nothing to recover: an empty (or no) log and no checkpoint. */
  newLog: boolean;
}

const NEWLINE = 0x0a;
const CHUNK = 8 << 20;

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The position at the end of the log's whole lines, for a checkpoint. */
export function positionAt(log: ReadableLog, offset: number, lines: number, logId = log.id()): LogPosition {
  const from = Math.max(0, offset - TAIL_BYTES);
  return { logId, offset, lines, tail: log.read(from, offset - from) };
}

/**
 * The running total at `offset` (the end of a line) as the log itself says
 * it: the Total of the last like line before it, 0 after a reset or with none
 * before; a string saying why when the line that would tell does not read.
 * Read backwards, so it costs the bytes since that line, not the whole log.
 */
export function runningTotalAt(log: ReadableLog, offset: number): number | string {
  const reader = new PrimaryLogReader();
  let buffer = new Uint8Array(Math.min(64 * 1024, Math.max(offset, 1)));
  let end = offset;
  while (end > 0) {
    const from = Math.max(0, end - buffer.length);
    const length = end - from;
    const chunk = buffer.subarray(0, length);
    if (log.readInto(from, chunk) !== length) return `it ended before byte ${end}`;
    if (end === offset && chunk[length - 1] !== NEWLINE) return "it is not the end of a line";
    // chunk ends with a newline: each line is (newline before it, its newline].
    let lineEnd = length - 1;
    while (lineEnd >= 0) {
      const newline = lineEnd === 0 ? -1 : chunk.lastIndexOf(NEWLINE, lineEnd - 1);
      if (newline < 0 && from > 0) break; // the line starts before this chunk
      const kind = reader.read(chunk, newline + 1, lineEnd);
      if (kind === LINE_ACCEPTED || kind === LINE_DUPLICATE || kind === LINE_OUT_OF_ORDER) return reader.total;
      if (kind === LINE_RESET) return 0;
      if (kind === LINE_CONTINUES) return reader.total;
      if (kind === LINE_BAD) return `the line ending at byte ${from + lineEnd + 1} does not read (${reader.error})`;
      lineEnd = newline;
    }
    if (lineEnd < 0) return 0;
    if (lineEnd === length - 1) {
      // One line longer than the buffer: no line of ours is, but read on rather than fail.
      buffer = new Uint8Array(buffer.length * 2);
      continue;
    }
    end = from + lineEnd + 1;
  }
  return 0;
}

/**
 * Replays `log[from.offset, end)` onto a total and producers, checking each
 * like line's running total. Returns the state and the line count at `end`.
 *
 * @throws {ReplayError} At the first line that does not replay
 */
export function replayLog(
  log: ReadableLog,
  start: {
    offset: number;
    lines: number;
    total: number;
    producers: Map<string, ProducerState>;
    /** The first file replayed from scratch: its continuation line sets the total instead of being checked. */
    adopt?: boolean;
  },
  end: number,
): { total: number; lines: number; producers: Map<string, ProducerState> } {
  const reader = new PrimaryLogReader();
  const producers = start.producers;
  let total = start.total;
  let lines = start.lines;
  let buffer = new Uint8Array(Math.min(CHUNK, Math.max(4096, end - start.offset)));
  let offset = start.offset;
  while (offset < end) {
    const got = log.readInto(offset, buffer.subarray(0, Math.min(buffer.length, end - offset)));
    if (got === 0) throw new ReplayError(`Cannot replay ${log.path}: it ended at byte ${offset}, before ${end}`);
    let lineStart = 0;
    for (let i = buffer.indexOf(NEWLINE, 0); i >= 0 && i < got; i = buffer.indexOf(NEWLINE, lineStart)) {
      lines++;
      const kind = reader.read(buffer, lineStart, i);
      if (kind === LINE_ACCEPTED) {
        if (reader.total !== total + reader.likes) {
          throw bad(log, lines, buffer, lineStart, i, `its Total ${reader.total} is not ${total} + ${reader.likes}`);
        }
        total = reader.total;
        if (reader.seq >= 0) {
          const id = reader.producer;
          const state = producers.get(id);
          if (state !== undefined && reader.seq > state.lastSeq) {
            advance(state, reader.seq, reader.likes);
            state.lastSeen = reader.time;
          } else {
            // New, or counted anew after the primary had forgotten the producer (expiry, eviction).
            producers.set(id, newProducer(reader.seq, reader.time, reader.likes));
          }
        }
      } else if (kind === LINE_DUPLICATE || kind === LINE_OUT_OF_ORDER) {
        if (reader.total !== total) {
          throw bad(log, lines, buffer, lineStart, i, `its Total ${reader.total} is not the running total ${total}`);
        }
        if (kind === LINE_DUPLICATE) {
          const state = producers.get(reader.producer);
          if (state) state.lastSeen = reader.time;
        }
      } else if (kind === LINE_RESET) {
        total = 0;
        producers.clear();
      } else if (kind === LINE_CONTINUES) {
        if (start.adopt && lines === 1) total = reader.total;
        else if (reader.total !== total) {
          throw bad(
            log,
            lines,
            buffer,
            lineStart,
            i,
            `it continues from total ${reader.total}, but the log before it ends at total ${total}`,
          );
        }
      } else if (kind === LINE_BAD) {
        throw bad(log, lines, buffer, lineStart, i, reader.error);
      }
      lineStart = i + 1;
    }
    if (lineStart === 0) {
      // A line longer than the buffer: no line of ours is, but read on rather than fail.
      if (got < buffer.length) throw new ReplayError(`Cannot replay ${log.path}: line ${lines + 1} has no end`);
      const grown = new Uint8Array(buffer.length * 2);
      buffer = grown;
      continue;
    }
    offset += lineStart;
  }
  return { total, lines, producers };
}

function bad(
  log: ReadableLog,
  line: number,
  bytes: Uint8Array,
  start: number,
  end: number,
  reason: string,
): ReplayError {
  const head = escapeBytes(bytes.subarray(start, Math.min(end, start + 120)));
  return new ReplayError(
    `Cannot replay ${log.path}: line ${line} does not replay, ${reason}: ${head} ` +
      `(fix or move the log, or pass --reset to start over)`,
  );
}

/**
 * Rebuilds the state from the checkpoint and the log, cutting a torn last
 * line; with `reset`, starts from zero (the caller logs the reset line).
 * The log is the chain of its files (see log_chain.ts): replay starts at the
 * checkpoint, in whichever file of the chain it names (the current one but
 * just after a rotation), and runs to the current file's end; a rebuild
 * without a trusted checkpoint replays the chain from its oldest file kept,
 * whose continuation line gives the total it starts from.
 *
 * @throws {ReplayError} When the log does not replay or is shorter than the checkpoint
 */
export function recover(log: LikesLog, store: Store, reset: boolean): Recovered {
  const notes: string[] = [];
  const end = log.wholeEnd();
  const torn = log.size - end;
  const cutTorn = () => {
    if (torn === 0) return;
    log.truncate(end);
    notes.push(`Removed a torn last line of ${torn} bytes (it had no newline, so it was never acknowledged)`);
  };
  if (reset) {
    cutTorn();
    return {
      total: 0,
      producers: new Map(),
      position: positionAt(log, end, 0),
      replayed: 0,
      notes,
      fromCheckpoint: false,
      newLog: false,
    };
  }
  const chain = logChain(log);
  try {
    return recoverChain(log, chain.files, chain.missing, store, end, notes, cutTorn, torn);
  } finally {
    chain.close();
  }
}

function recoverChain(
  log: LikesLog,
  files: ReadableLog[],
  missing: string | undefined,
  store: Store,
  end: number,
  notes: string[],
  cutTorn: () => void,
  torn: number,
): Recovered {
  const ends = files.map((file) => file === log ? end : file.size);
  const loaded = store.load();
  let checkpoint: Checkpoint | undefined;
  let at = -1;
  let distrust: string | undefined;
  if ("untrusted" in loaded) {
    distrust = `The checkpoint ${store.path} ${loaded.untrusted}`;
  } else {
    const found = loaded.checkpoint;
    at = files.findIndex((file) => file.id() === found.logId);
    const file = files[at] ?? log;
    if (found.offset > ends[at] || (at < 0 && found.offset > end)) {
      throw new ReplayError(
        `Cannot start: the checkpoint ${store.path} accounts for ${found.offset} bytes of log (total ${found.total}), ` +
          `but ${file.path} has only ${at < 0 ? end : ends[at]}: the log was truncated, replaced or lost. ` +
          `Restore the log, or pass --reset to start over from zero`,
      );
    }
    const from = Math.max(0, found.offset - TAIL_BYTES);
    if (at < 0) {
      distrust = `The checkpoint ${store.path} was taken from another log`;
    } else if (!equalBytes(found.tail, file.read(from, found.offset - from))) {
      distrust = `The checkpoint ${store.path} does not match ${file.path} at its offset ${found.offset}`;
    } else {
      // The checksum proves the checkpoint is as the primary wrote it; the log proves its total.
      const logTotal = runningTotalAt(file, found.offset);
      if (logTotal !== found.total) {
        distrust = typeof logTotal === "number"
          ? `The checkpoint ${store.path} holds total ${found.total}, but the running total of ${file.path} ` +
            `at its offset ${found.offset} is ${logTotal}`
          : `The checkpoint ${store.path} cannot be checked against ${file.path} at its offset ${found.offset}: ${logTotal}`;
      } else {
        checkpoint = found;
      }
    }
  }
  let state = checkpoint
    ? {
      offset: checkpoint.offset,
      lines: checkpoint.lines,
      total: checkpoint.total,
      producers: new Map(checkpoint.producers.map(([id, state]) => [id, { ...state, lastLikes: -1 }])),
    }
    : { offset: 0, lines: 0, total: 0, producers: new Map<string, ProducerState>() };
  const first = checkpoint ? at : 0;
  let replayedLines = 0;
  let rebuiltLines = 0;
  for (let i = first; i < files.length; i++) {
    const start = i === first ? state : { ...state, offset: 0, lines: 0 };
    const result = replayLog(files[i], { ...start, adopt: !checkpoint && i === 0 }, ends[i]);
    replayedLines += result.lines - start.lines;
    rebuiltLines += result.lines;
    state = { offset: ends[i], lines: result.lines, total: result.total, producers: result.producers };
  }
  if (distrust && end + files.length > 1) {
    const chained = files.length > 1 ? `, ${files.length} files from ${files[0].path}` : "";
    notes.push(`${distrust}; rebuilt the state from the whole log (${rebuiltLines} lines${chained})`);
  }
  if (!checkpoint && missing !== undefined) {
    notes.push(
      `The oldest log file kept, ${files[0].path}, continues one that is gone (id ${missing.slice(0, 12)}…): ` +
        `rebuilt from its total on; producers seen only before it are not known`,
    );
  }
  cutTorn();
  return {
    total: state.total,
    producers: state.producers,
    position: positionAt(log, end, state.lines),
    replayed: replayedLines,
    notes,
    fromCheckpoint: checkpoint !== undefined,
    newLog: end === 0 && torn === 0 && checkpoint === undefined && files.length === 1,
  };
}
