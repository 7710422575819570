/**
 * Start-up with a long history (issue 22 item 2): a PrimaryLikesLog chain of
 * `files` files (`<log>.N` … `<log>.1` and the live log) holding `bytes` of
 * valid like lines, each file after the oldest starting with the
 * continuation line the primary's rotation writes (the previous file's id and
 * the running total). Beside it, a short history: the same number of files,
 * one batch of lines each. On each, every run:
 *
 *   - rebuild: a primary started with a 0-byte state file (no checkpoint to
 *     trust) must replay the whole chain from its oldest file; then stopped
 *     with SIGTERM, which writes a checkpoint at the end of the live file;
 *   - checkpointed start: a primary started again on that checkpoint replays
 *     only what follows it, so its spawn-to-ready time must not grow with
 *     the history behind it.
 *
 * Rebuild speed is the chain's lines less the short chain's, per second of
 * rebuild less the short chain's rebuild. Each start's own "Replayed …" log
 * line says how many lines it replayed and whether from the checkpoint.
 */
import { readAtSync, writeAll } from "../common/io.ts";
import { GRANTED_ROTATED_NAMES, primaryLogPath, rotatedLogPath } from "../formats/file_names.ts";
import { firstLineId } from "../formats/log_chain.ts";
import { formatPrimaryLine, parsePrimaryLine } from "../formats/primary_log.ts";
import { LikeLines, timeStart } from "./replay.ts";
import { type HistoryResult, type HistoryRun, historyTargets, median } from "./report.ts";

const encoder = new TextEncoder();

/** What writeHistory() wrote. */
export interface HistoryChain {
  /** Files in the chain: the live log and `files − 1` rotated ones. */
  files: number;
  /** Lines in all of them, the continuation lines included. */
  lines: number;
  bytes: number;
  /** The running total at the live log's end. */
  total: number;
}

/**
 * Writes a chain of `files` new files ending in the live log `log`: the
 * oldest, `<log>.<files − 1>`, starts at total 0; each later one starts with
 * a continuation line naming the one before by id (the sha256 of its first
 * line) at the running total, as LikesLog.rotate() makes them. Each file
 * gets whole batches of like lines (LikeLines) until it holds about
 * `bytes ÷ files`, at least one batch.
 *
 * @throws {RangeError} When `bytes` is not positive or `files` is not 1 to GRANTED_ROTATED_NAMES + 1
 */
export async function writeHistory(log: string, bytes: number, files: number): Promise<HistoryChain> {
  if (!(bytes > 0)) throw new RangeError(`Cannot write a history: bytes must be positive, got ${bytes}`);
  if (!Number.isInteger(files) || files < 1 || files > GRANTED_ROTATED_NAMES + 1) {
    throw new RangeError(
      `Cannot write a history: files must be an integer from 1 to ${GRANTED_ROTATED_NAMES + 1} ` +
        `(the rotated names a primary is granted, and the live log), got ${files}`,
    );
  }
  const perFile = Math.ceil(bytes / files);
  const source = new LikeLines();
  let previous: string | undefined;
  let lines = 0;
  let written = 0;
  for (let n = files - 1; n >= 0; n--) {
    const file = await Deno.open(n === 0 ? log : rotatedLogPath(log, n), { write: true, createNew: true, mode: 0o600 });
    try {
      let size = 0;
      const write = async (chunk: Uint8Array) => {
        if (size === 0) previous = firstLineId(chunk);
        await writeAll(file, chunk);
        size += chunk.length;
      };
      if (previous !== undefined) {
        await write(
          encoder.encode(formatPrimaryLine({ kind: "continues", id: previous, total: source.total }, source.time)),
        );
        lines++;
      }
      do {
        const before = source.lines;
        await write(source.batch());
        lines += source.lines - before;
      } while (size < perFile);
      written += size;
    } finally {
      file.close();
    }
  }
  return { files, lines, bytes: written, total: source.total };
}

/**
 * What a start-up's own log line says it replayed (lib/primary/backend/embedded/open.ts):
 * `Replayed checkpoint at line L, then N log lines in T ms`, or `Replayed N log lines in T ms`.
 */
const REPLAYED = /^Replayed (checkpoint at line \d+, then )?(\d+) log lines in \d+ ms$/;

/** The last start-up's "Replayed …" line in the live log: lines replayed, and whether from the checkpoint. */
function lastReplayed(log: string): { lines: number; fromCheckpoint: boolean } | undefined {
  using file = Deno.openSync(log, { read: true });
  const size = file.statSync().size;
  const tail = new Uint8Array(Math.min(size, 64 * 1024));
  const got = readAtSync(file, size - tail.length, tail);
  const lines = new TextDecoder().decode(tail.subarray(0, got)).split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const entry = parsePrimaryLine(lines[i])?.entry;
    const match = entry?.kind === "event" ? REPLAYED.exec(entry.text) : null;
    if (match) return { lines: Number(match[2]), fromCheckpoint: match[1] !== undefined };
  }
  return undefined;
}

/** One start on a chain: seconds from spawn to ready, the total it was ready with, and what it replayed. */
interface Start {
  seconds: number;
  total: number;
  replayedLines: number;
  fromCheckpoint: boolean;
}

/**
 * Starts a primary on `dir`'s chain (with an emptied state file when
 * `rebuild`), times it to its ready line and stops it with SIGTERM, which
 * writes the checkpoint the next start uses.
 *
 * @throws {Error} When it does not start, exits other than 0, or its log says nothing of what it replayed
 */
async function startOn(dir: string, rebuild: boolean, deadlineMs: number): Promise<Start> {
  const { seconds, total } = await timeStart(dir, deadlineMs, !rebuild);
  const log = primaryLogPath(dir);
  const replayed = lastReplayed(log);
  if (replayed === undefined) throw new Error(`The primary on ${log} logged no "Replayed" line`);
  return { seconds, total, replayedLines: replayed.lines, fromCheckpoint: replayed.fromCheckpoint };
}

export interface HistoryOptions {
  /** Where the chains are made (and removed after). */
  workDir: string;
  /** Bytes of history in the long chain. @default {HISTORY_DEFAULTS.bytes} */
  bytes?: number;
  /** Files per chain: the live log and `files − 1` rotated ones. @default {HISTORY_DEFAULTS.files} */
  files?: number;
  /** Rounds of starts on each chain; the medians count. @default {3} */
  runs?: number;
  /** Deadline for each start-up (ms). @default {600000} */
  deadlineMs?: number;
  /** @default {() => {}} */
  progress?: (line: string) => void;
}

/** The history measurement's defaults: the 2 GB, in eight files. */
export const HISTORY_DEFAULTS = { bytes: 2 * 1024 ** 3, files: 8 } as const;

/**
 * Measures start-up over a long history (see the module doc).
 *
 * @throws {Error} When a primary does not start on a chain
 */
export async function measureHistory(options: HistoryOptions): Promise<HistoryResult> {
  const {
    workDir,
    bytes = HISTORY_DEFAULTS.bytes,
    files = HISTORY_DEFAULTS.files,
    runs = 3,
    deadlineMs = 600_000,
    progress = () => {},
  } = options;
  if (!Number.isInteger(runs) || runs < 1) {
    throw new RangeError(`Cannot measure start-up over history: runs must be a positive integer, got ${runs}`);
  }
  const long = await Deno.makeTempDir({ dir: workDir, prefix: "history_" });
  const short = await Deno.makeTempDir({ dir: workDir, prefix: "history_short_" });
  try {
    const mib = (n: number) => `${(n / 1024 ** 2).toFixed(0)} MiB`;
    progress(`History: writing ${mib(bytes)} of log in ${files} files...`);
    const writeStarted = performance.now();
    const chain = await writeHistory(primaryLogPath(long), bytes, files);
    const shortChain = await writeHistory(primaryLogPath(short), 1, files);
    progress(
      `History: wrote ${chain.lines.toLocaleString("en-US")} lines (${mib(chain.bytes)}) in ` +
        `${((performance.now() - writeStarted) / 1000).toFixed(1)} s`,
    );
    const samples: HistoryRun[] = [];
    const checks = { fromCheckpoint: true, rebuilt: true, checkpointReplayedLines: 0, readyTotal: chain.total };
    for (let run = 0; run < runs; run++) {
      const shortRebuild = await startOn(short, true, deadlineMs);
      const shortCheckpoint = await startOn(short, false, deadlineMs);
      const rebuild = await startOn(long, true, deadlineMs);
      const checkpoint = await startOn(long, false, deadlineMs);
      // A rebuild replays every line of the chain (and the few each earlier start and stop added to the live log).
      checks.rebuilt &&= !rebuild.fromCheckpoint && rebuild.replayedLines >= chain.lines &&
        rebuild.total === chain.total && shortRebuild.total === shortChain.total;
      checks.fromCheckpoint &&= checkpoint.fromCheckpoint && shortCheckpoint.fromCheckpoint &&
        checkpoint.total === chain.total;
      checks.checkpointReplayedLines = Math.max(checks.checkpointReplayedLines, checkpoint.replayedLines);
      if (rebuild.total !== chain.total) checks.readyTotal = rebuild.total;
      else if (checkpoint.total !== chain.total) checks.readyTotal = checkpoint.total;
      samples.push({
        checkpointSeconds: checkpoint.seconds,
        shortCheckpointSeconds: shortCheckpoint.seconds,
        rebuildSeconds: rebuild.seconds,
        shortRebuildSeconds: shortRebuild.seconds,
      });
      progress(
        `History run ${run + 1}: from the checkpoint ${checkpoint.seconds.toFixed(2)} s ` +
          `(short history ${shortCheckpoint.seconds.toFixed(2)} s), rebuild ${rebuild.seconds.toFixed(2)} s ` +
          `(short history ${shortRebuild.seconds.toFixed(2)} s)`,
      );
    }
    const of = (pick: (run: HistoryRun) => number) => median(samples.map(pick));
    const rebuildSeconds = of((s) => s.rebuildSeconds);
    const shortRebuildSeconds = of((s) => s.shortRebuildSeconds);
    // A rebuild no slower than the short one is within the noise: the whole time then bounds the rate from below.
    const linesPerSecond = (chain.lines - shortChain.lines) /
      (rebuildSeconds > shortRebuildSeconds ? rebuildSeconds - shortRebuildSeconds : rebuildSeconds);
    const result = {
      ...chain,
      short: { lines: shortChain.lines, bytes: shortChain.bytes },
      checkpointSeconds: of((s) => s.checkpointSeconds),
      shortCheckpointSeconds: of((s) => s.shortCheckpointSeconds),
      rebuildSeconds,
      shortRebuildSeconds,
      linesPerSecond,
      ...checks,
      runs: samples,
    };
    return { ...result, targets: historyTargets(result) };
  } finally {
    await Deno.remove(long, { recursive: true });
    await Deno.remove(short, { recursive: true });
  }
}
