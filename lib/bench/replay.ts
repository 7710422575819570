/**
 * Start-up replay speed: a PrimaryLikesLog of many valid like lines (running
 * totals that add up, each producer's seq counting up from 1) and no
 * checkpoint to trust (a 0-byte state file, made afresh before every start),
 * so that a primary must rebuild its state from the whole log before it
 * listens. Replay speed is the time from spawn to the ready line, less the
 * same on an empty log, per line.
 */
import { primaryGrants } from "../launch/permissions.ts";
import { launchPrimary } from "../launch/primary_process.ts";
import { median, type ReplayResult, replayTargets } from "./report.ts";
import { PrimaryLogWriter } from "../formats/primary_log.ts";
import { writeAll } from "../common/io.ts";
import { primaryLogPath, primaryStatePath } from "../formats/file_names.ts";
import { toFlags } from "../common/cli.ts";
import { primarySpecs } from "../primary/options.ts";

/** Producers the generated log's likes come from, round robin. */
const PRODUCERS = 10;
/** Lines that share a time stamp, as the lines of one committed batch do. */
const BATCH_LINES = 1000;
/** The first batch's time stamp. */
const START_MS = Date.UTC(2026, 10, 28);

/**
 * Valid like lines, one batch at a time, as the commit path writes them
 * (PrimaryLogWriter): 1 to 3 likes each, running totals that add up, from
 * ten producers with ids as long as a LikesServer's (name and UUID), each
 * producer's seq counting up from 1. Every batch of BATCH_LINES lines shares
 * a time stamp, one millisecond after the one before.
 */
export class LikeLines {
  readonly #prefix = `LikesServer-${crypto.randomUUID()}-`;
  readonly #seqs = new Array<number>(PRODUCERS).fill(0);
  readonly #writer = new PrimaryLogWriter();
  /** Lines written so far. */
  lines = 0;
  /** The running total after the last line. */
  total = 0;

  /** The time stamp the next batch gets. */
  get time(): Date {
    return new Date(START_MS + Math.floor(this.lines / BATCH_LINES));
  }

  /** The next batch: `count` (at most BATCH_LINES) lines, as bytes valid until the next call. */
  batch(count = BATCH_LINES): Uint8Array {
    const writer = this.#writer;
    writer.begin(this.time);
    for (let n = 0; n < count; n++) {
      const k = this.lines % PRODUCERS;
      const likes = 1 + this.lines % 3;
      this.total += likes;
      writer.like(k, likes, "accepted", this.total, `${this.#prefix}${k}`, ++this.#seqs[k]);
      this.lines++;
    }
    return writer.view;
  }
}

/** What writeReplayLog() wrote. */
export interface ReplayLog {
  lines: number;
  bytes: number;
  total: number;
}

/** Writes `lines` valid like lines (LikeLines) to a new file at `path`. */
export async function writeReplayLog(path: string, lines: number): Promise<ReplayLog> {
  if (!Number.isInteger(lines) || lines < 1) {
    throw new RangeError(`Cannot write a replay log: lines must be a positive integer, got ${lines}`);
  }
  const source = new LikeLines();
  const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
  let bytes = 0;
  try {
    while (source.lines < lines) {
      const chunk = source.batch(Math.min(BATCH_LINES, lines - source.lines));
      await writeAll(file, chunk);
      bytes += chunk.length;
    }
  } finally {
    file.close();
  }
  return { lines, bytes, total: source.total };
}

/** A state file with nothing in it, and no SQLite side files: a checkpoint that cannot be trusted. */
async function emptyState(state: string): Promise<void> {
  for (const path of [`${state}-wal`, `${state}-shm`]) await Deno.remove(path).catch(() => {});
  await Deno.writeFile(state, new Uint8Array(0), { mode: 0o600 });
}

/**
 * Seconds from spawning a primary on `dir`'s log to its ready line, and its
 * total; the state file is emptied first unless `fromCheckpoint`. It is
 * stopped with SIGTERM, which writes the checkpoint a next start may use.
 * Nothing rotates while it is measured (a log past the size would rotate at
 * the first batch).
 *
 * @throws {Error} When it does not start or exits other than 0
 */
export async function timeStart(
  dir: string,
  deadlineMs: number,
  fromCheckpoint = false,
): Promise<{ seconds: number; total: number }> {
  const options = {
    host: "127.0.0.1",
    port: 0,
    http: "off",
    log: primaryLogPath(dir),
    state: primaryStatePath(dir),
    logMaxBytes: 0,
    logKeep: Infinity,
  };
  if (!fromCheckpoint) await emptyState(options.state);
  const started = performance.now();
  const primary = await launchPrimary({
    args: toFlags(primarySpecs, options),
    grants: primaryGrants(options),
    env: { LIKES_TOKEN: "" },
    deadlineMs,
  });
  const seconds = (performance.now() - started) / 1000;
  const status = await primary.stop();
  if (status.code !== 0) throw new Error(`The primary exited with ${status.code}: ${primary.output()}`);
  return { seconds, total: primary.total };
}

export interface ReplayOptions {
  /** Where the logs are made (and removed after). */
  workDir: string;
  /** @default {2000000} */
  lines?: number;
  /** Starts on each log, interleaved; the median counts. @default {3} */
  runs?: number;
  /** Deadline for each start-up (ms). @default {120000} */
  deadlineMs?: number;
  /** @default {() => {}} */
  progress?: (line: string) => void;
}

/**
 * Measures start-up replay speed (see the module doc).
 *
 * @throws {Error} When a primary does not start on either log
 */
export async function measureReplay(options: ReplayOptions): Promise<ReplayResult> {
  const { workDir, lines = 2_000_000, runs = 3, deadlineMs = 120_000, progress = () => {} } = options;
  if (!Number.isInteger(runs) || runs < 1) {
    throw new RangeError(`Cannot measure replay: runs must be a positive integer, got ${runs}`);
  }
  const full = await Deno.makeTempDir({ dir: workDir, prefix: "replay_" });
  const empty = await Deno.makeTempDir({ dir: workDir, prefix: "replay_empty_" });
  try {
    progress(`Replay: writing ${lines.toLocaleString("en-US")} log lines...`);
    const log = await writeReplayLog(primaryLogPath(full), lines);
    const samples: { seconds: number; baselineSeconds: number }[] = [];
    let readyTotal = 0;
    for (let run = 0; run < runs; run++) {
      const baseline = await timeStart(empty, deadlineMs);
      const measured = await timeStart(full, deadlineMs);
      readyTotal = measured.total;
      samples.push({ seconds: measured.seconds, baselineSeconds: baseline.seconds });
      progress(
        `Replay run ${run + 1}: ready in ${measured.seconds.toFixed(2)} s, empty log ${baseline.seconds.toFixed(2)} s`,
      );
    }
    const seconds = median(samples.map((s) => s.seconds));
    const baselineSeconds = median(samples.map((s) => s.baselineSeconds));
    // A start-up no slower than on an empty log is within the noise: the
    // whole start-up time then gives a rate the replay is at least as fast as.
    const linesPerSecond = lines / (seconds > baselineSeconds ? seconds - baselineSeconds : seconds);
    const result = {
      ...log,
      seconds,
      baselineSeconds,
      linesPerSecond,
      replayed: readyTotal === log.total,
      readyTotal,
      runs: samples,
    };
    return { ...result, targets: replayTargets(result) };
  } finally {
    await Deno.remove(full, { recursive: true });
    await Deno.remove(empty, { recursive: true });
  }
}
