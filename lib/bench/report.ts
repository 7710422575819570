/**
 * The benchmark's numbers: a latency histogram with percentiles, and the
 * result as a markdown table and as JSON. Pure: no I/O, no clock.
 */
import { build, type Histogram } from "hdr-histogram-js";
import type { Durability } from "../primary/backend/backend.ts";
import { LOG_SAMPLE_MS } from "./log_disk.ts";

/** Latencies are clamped here (about 35 minutes), far beyond any run. */
const MAX_US = 2 ** 31 - 1;

/**
 * Latencies in HdrHistogram (microseconds, 3 significant digits: exact below
 * 2 ms, within 0.1% above): constant memory however many messages a run
 * sends, and cheap enough to record a million samples a second.
 */
export class LatencyHistogram {
  readonly #hdr: Histogram = build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_US,
    numberOfSignificantValueDigits: 3,
  });

  /** Samples recorded. */
  get count(): number {
    return this.#hdr.totalCount;
  }

  /** Largest sample recorded (ms), at histogram precision. */
  get maxMs(): number {
    return this.#hdr.totalCount === 0 ? 0 : this.#hdr.getValueAtPercentile(100) / 1000;
  }

  /**
   * Records `times` samples of `ms` milliseconds (messages answered together
   * share one latency, so the load generator records them at once).
   */
  record(ms: number, times = 1): void {
    if (!(ms >= 0)) throw new RangeError(`Cannot record a latency: expected a non-negative number, got ${ms}`);
    if (!Number.isInteger(times) || times < 1) {
      throw new RangeError(`Cannot record a latency: times must be a positive integer, got ${times}`);
    }
    this.#hdr.recordValueWithCount(Math.min(MAX_US, Math.round(ms * 1000)), times);
  }

  /** Adds another histogram's samples to this one. */
  merge(other: LatencyHistogram): void {
    this.#hdr.add(other.#hdr);
  }

  /**
   * The latency (ms) that `fraction` of the samples do not exceed, e.g. 0.99
   * for p99: the upper edge of the bucket holding that rank. 0 when empty.
   */
  percentile(fraction: number): number {
    if (!(fraction > 0 && fraction <= 1)) {
      throw new RangeError(`Cannot compute a percentile: fraction must be in (0, 1], got ${fraction}`);
    }
    if (this.#hdr.totalCount === 0) return 0;
    return this.#hdr.getValueAtPercentile(fraction * 100) / 1000;
  }
}

/** Latency percentiles of acknowledged messages, ms. */
export interface Percentiles {
  p50: number;
  p99: number;
  p999: number;
}

export function percentiles(histogram: LatencyHistogram): Percentiles {
  return { p50: histogram.percentile(0.5), p99: histogram.percentile(0.99), p999: histogram.percentile(0.999) };
}

/** One measurement of one side at one cell, by one load process. */
export interface RunSample {
  /** Acknowledged messages per second in the window. */
  rate: number;
  latencyMs: Percentiles;
  /** Messages answered otherwise in the window (should be none). */
  rejected: number;
  firstRejection?: string;
  /** Messages never answered (a connection closed, or the replies did not come in time). */
  unanswered: number;
  /** CPU seconds the server used in the window, as it reports it itself; absent for the empty server. */
  serverCpuSeconds?: number;
  /** CPU seconds the shared store (redis-server) used in the window, for primaries on Redis. */
  storeCpuSeconds?: number;
  /** CPU seconds the load process used in the window (it shares the machine). */
  loadCpuSeconds: number;
  /**
   * Our primary's log on disk: the most bytes its log files (the live log
   * and its rotated ones) held at once, sampled every 100 ms while under load.
   */
  logDiskBytes?: number;
}

/** One side (ours, Redis or the empty server) at one cell: the median of its runs. */
export interface SideResult {
  /** Median acknowledged messages per second. */
  rate: number;
  /** Median of each percentile over the runs. */
  latencyMs: Percentiles;
  /** Summed over the runs. */
  rejected: number;
  firstRejection?: string;
  /** Summed over the runs. */
  unanswered: number;
  serverCpuSeconds?: number;
  /**
   * The server's CPU per acknowledged message (µs): the median over the runs
   * of CPU seconds ÷ messages in the window. Absent when the server does not
   * report its CPU or the window is not known.
   */
  cpuUsPerLike?: number;
  storeCpuSeconds?: number;
  loadCpuSeconds: number;
  /** The most bytes the log files held at once in any run (RunSample.logDiskBytes). */
  logDiskMaxBytes?: number;
  /** Every run, in the order they ran. */
  runs: RunSample[];
}

/** One target of the issue, checked at one cell or for the replay. */
export interface TargetMark {
  /** What is asked, e.g. `≥ 1.0× Redis`. */
  target: string;
  /** What was measured, e.g. `1.12×`. */
  measured: string;
  pass: boolean;
}

/** One durability mode at one connections × pipeline cell. */
export interface CellResult {
  durability: Durability;
  connections: number;
  pipeline: number;
  /** Length of each run's measured window (after warm-up), seconds. */
  seconds: number;
  ours: SideResult;
  /** Redis at its peer setting (everysec for normal, always for fsync); absent when not asked for, a string when it could not run. */
  redis?: SideResult | string;
  /** `appendfsync` of the Redis peer. */
  appendfsync?: "everysec" | "always";
  /** The empty Deno server (the same for both modes); a string when it could not run. */
  empty?: SideResult | string;
  /** Our median rate ÷ Redis's. */
  vsRedis?: number;
  /** Our median rate ÷ the empty server's. */
  vsEmpty?: number;
  /** One primary with `--store redis://…` (`--store redis` runs); a string when it could not run. */
  oneOnRedis?: SideResult | string;
  /** Two primaries sharing that Redis, the load's connections split across them. */
  twoOnRedis?: SideResult | string;
  /** oneOnRedis's median rate ÷ ours (the embedded store). */
  oneOnRedisVsOurs?: number;
  /** twoOnRedis's median rate ÷ ours. */
  twoOnRedisVsOurs?: number;
  /** Ours with `--log-max-bytes off` (`--rotation-baseline`); a string when it could not run. */
  unrotated?: SideResult | string;
  /** Our median rate ÷ the unrotated one's. */
  vsUnrotated?: number;
  /** With a bounded rotation: the most bytes its log files should hold (logDiskLimit()). */
  logDiskLimitBytes?: number;
  /** The issue's targets that apply to this cell. */
  targets: TargetMark[];
}

/** How much rotation may cost: rotating likes/s at least this share of `--log-max-bytes off`'s. */
export const ROTATION_TARGET = 0.9;

/**
 * The most bytes a log rotating at `logMaxBytes` and keeping `logKeep`
 * files should hold: the kept files and the live one, each up to a batch
 * past the size, and one more the checkpoint may still need.
 */
export function logDiskLimit(rotation: { logMaxBytes: number; logKeep: number }): number {
  return (rotation.logKeep + 2) * rotation.logMaxBytes;
}

/** Start-up replay speed over a generated log. */
export interface ReplayResult {
  /** Like lines in the log. */
  lines: number;
  bytes: number;
  /** The total those lines add up to. */
  total: number;
  /** Median time from spawn to the ready line on that log, seconds. */
  seconds: number;
  /** Median time on an empty log: the start-up cost that is not replay, seconds. */
  baselineSeconds: number;
  /** lines ÷ (seconds − baselineSeconds). */
  linesPerSecond: number;
  /** Whether the ready line reported the log's total: when not, start-up did not replay the log. */
  replayed: boolean;
  /** The total the primary reported ready with. */
  readyTotal: number;
  runs: { seconds: number; baselineSeconds: number }[];
  targets: TargetMark[];
}

/** One round of starts on the long history and the short one, seconds from spawn to ready. */
export interface HistoryRun {
  checkpointSeconds: number;
  shortCheckpointSeconds: number;
  rebuildSeconds: number;
  shortRebuildSeconds: number;
}

/** Start-up over a long history in rotated files (lib/bench/history.ts): from a checkpoint, and rebuilt. */
export interface HistoryResult {
  /** Files in the chain: the live log and `files − 1` rotated ones. */
  files: number;
  /** Lines in the chain, continuation lines included. */
  lines: number;
  bytes: number;
  /** The total the chain adds up to. */
  total: number;
  /** The short history it is compared with: as many files, one batch of lines each. */
  short: { lines: number; bytes: number };
  /** Median start from the checkpoint a clean stop wrote at the end of the live file, seconds. */
  checkpointSeconds: number;
  /** The same on the short history. */
  shortCheckpointSeconds: number;
  /** Median start without a trusted checkpoint (a 0-byte state file): the whole chain replayed, seconds. */
  rebuildSeconds: number;
  /** The same on the short history. */
  shortRebuildSeconds: number;
  /** (lines − short.lines) ÷ (rebuildSeconds − shortRebuildSeconds). */
  linesPerSecond: number;
  /** Every start on a checkpoint said it replayed from it, and was ready with the chain's total. */
  fromCheckpoint: boolean;
  /** The most lines a start on the long history's checkpoint replayed after it. */
  checkpointReplayedLines: number;
  /** Every rebuild replayed every line of the chain, from its oldest file, and was ready with its total. */
  rebuilt: boolean;
  /** The total the primaries were ready with (the chain's, unless one was not). */
  readyTotal: number;
  runs: HistoryRun[];
  targets: TargetMark[];
}

/** The idle-connections check: memory with many producers connected and quiet. */
export interface IdleResult {
  /** Connections asked for. */
  requested: number;
  /** Connections that were opened and had their first like acknowledged. */
  opened: number;
  /** Why fewer were opened, if so; `capped at N by the open-file limit...` when that was the cause. */
  error?: string;
  /** Primary RSS with all of them open, MiB. */
  rssMb: number;
  peakRssMb: number;
  /** A new connection's like was acknowledged while they were all open. */
  freshServed: boolean;
  /** Time for that new connection to connect and get its reply, ms. */
  freshMs: number;
}

export interface BenchReport {
  /** ISO time the run started. */
  startedAt: string;
  /** The command line, as given. */
  command: string;
  machine: { cores: number; cpu: string; os: string; deno: string };
  /** The load generator that drove every side: `c` (load_client.c) or `deno` (load_worker.ts). */
  client: "c" | "deno";
  /** Runs per side per cell (interleaved: ours, Redis, ..., empty; again). */
  runs: number;
  /** Our primaries' log rotation flags in the matrix, e.g. `--log-max-bytes=1M --log-keep=3`. */
  logRotation?: string;
  cells: CellResult[];
  replay?: ReplayResult | string;
  history?: HistoryResult | string;
  idle?: IdleResult | string;
}

/** The middle value (the mean of the two middle ones for an even count); NaN when empty. */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * The median of the runs, percentile by percentile; with `seconds`, each
 * run's window, also the CPU per message.
 */
export function summarise(runs: RunSample[], seconds?: number): SideResult {
  if (runs.length === 0) throw new RangeError("Cannot summarise: no runs");
  if (seconds !== undefined && !(seconds > 0)) {
    throw new RangeError(`Cannot summarise: seconds must be positive, got ${seconds}`);
  }
  const of = (pick: (run: RunSample) => number) => median(runs.map(pick));
  const cpu = runs.map((run) => run.serverCpuSeconds).filter((value) => value !== undefined);
  const storeCpu = runs.map((run) => run.storeCpuSeconds).filter((value) => value !== undefined);
  const logDisk = runs.map((run) => run.logDiskBytes).filter((value) => value !== undefined);
  const firstRejection = runs.find((run) => run.firstRejection !== undefined)?.firstRejection;
  return {
    rate: of((run) => run.rate),
    latencyMs: { p50: of((r) => r.latencyMs.p50), p99: of((r) => r.latencyMs.p99), p999: of((r) => r.latencyMs.p999) },
    rejected: runs.reduce((sum, run) => sum + run.rejected, 0),
    ...(firstRejection === undefined ? {} : { firstRejection }),
    unanswered: runs.reduce((sum, run) => sum + run.unanswered, 0),
    ...(cpu.length === runs.length ? { serverCpuSeconds: median(cpu) } : {}),
    ...(cpu.length === runs.length && seconds !== undefined && runs.every((run) => run.rate > 0)
      ? { cpuUsPerLike: median(runs.map((run) => run.serverCpuSeconds! / (run.rate * seconds) * 1e6)) }
      : {}),
    ...(storeCpu.length === runs.length ? { storeCpuSeconds: median(storeCpu) } : {}),
    loadCpuSeconds: of((run) => run.loadCpuSeconds),
    ...(logDisk.length === runs.length ? { logDiskMaxBytes: Math.max(...logDisk) } : {}),
    runs,
  };
}

/**
 * fsync mode's target throughput ÷ Redis (appendfsync always) at a cell:
 * 0.9× alone (1×1, where Deno's per-op cost is the limit), 1.3× pipelined,
 * 1.5× at 50×32, else 1.0×.
 */
export function redisTarget(connections: number, pipeline: number): number {
  if (connections === 1 && pipeline === 1) return 0.9;
  if (connections >= 50 && pipeline >= 32) return 1.5;
  return pipeline > 1 ? 1.3 : 1.0;
}

/** Normal mode's target throughput ÷ the empty Deno server: 85 % without pipelining, 75 % with. */
export function emptyTarget(pipeline: number): number {
  return pipeline === 1 ? 0.85 : 0.75;
}

/** Target throughput of primaries on Redis ÷ the embedded store, at 50×32. */
export const REDIS_STORE_TARGET = 0.5;

/** Replay target, lines/s. */
export const REPLAY_TARGET = 1_000_000;

/**
 * The issue's targets that apply to `cell`, each marked pass or miss: in
 * normal mode ours ÷ the empty server (emptyTarget) and p99 ≤ 1 ms at 10×1;
 * in fsync mode ours ÷ Redis appendfsync always (redisTarget); and primaries
 * on Redis ≥ 0.5× the embedded store at 50×32 (one primary, and two sharing it).
 */
export function cellTargets(cell: Omit<CellResult, "targets">): TargetMark[] {
  const marks: TargetMark[] = [];
  if (cell.durability === "fsync" && cell.vsRedis !== undefined) {
    const target = redisTarget(cell.connections, cell.pipeline);
    marks.push({
      target: `≥ ${target.toFixed(1)}× Redis`,
      measured: `${cell.vsRedis.toFixed(2)}×`,
      pass: cell.vsRedis >= target,
    });
  }
  if (cell.durability === "normal" && cell.vsEmpty !== undefined) {
    const target = emptyTarget(cell.pipeline);
    marks.push({
      target: `≥ ${Math.round(target * 100)}% of empty`,
      measured: `${Math.round(cell.vsEmpty * 100)}%`,
      pass: cell.vsEmpty >= target,
    });
  }
  if (cell.durability === "normal" && cell.connections === 10 && cell.pipeline === 1) {
    const p99 = cell.ours.latencyMs.p99;
    marks.push({ target: "p99 ≤ 1 ms", measured: `${p99.toFixed(3)} ms`, pass: p99 <= 1 });
  }
  if (cell.vsUnrotated !== undefined) {
    marks.push({
      target: `rotating ≥ ${ROTATION_TARGET}× --log-max-bytes off`,
      measured: `${cell.vsUnrotated.toFixed(2)}×`,
      pass: cell.vsUnrotated >= ROTATION_TARGET,
    });
  }
  if (cell.logDiskLimitBytes !== undefined && cell.ours.logDiskMaxBytes !== undefined) {
    marks.push({
      target: `log disk ≤ ${mebibytes(cell.logDiskLimitBytes)} MiB`,
      measured: `${mebibytes(cell.ours.logDiskMaxBytes)} MiB`,
      pass: cell.ours.logDiskMaxBytes <= cell.logDiskLimitBytes,
    });
  }
  if (cell.connections >= 50 && cell.pipeline >= 32) {
    for (
      const [what, ratio] of [["1 on Redis", cell.oneOnRedisVsOurs], ["2 on Redis", cell.twoOnRedisVsOurs]] as const
    ) {
      if (ratio === undefined) continue;
      marks.push({
        target: `${what} ≥ ${REDIS_STORE_TARGET}× embedded`,
        measured: `${ratio.toFixed(2)}×`,
        pass: ratio >= REDIS_STORE_TARGET,
      });
    }
  }
  return marks;
}

/** The replay target, marked; a start-up that did not replay the log misses it whatever its speed. */
export function replayTargets(replay: Omit<ReplayResult, "targets">): TargetMark[] {
  return [{
    target: `≥ ${REPLAY_TARGET.toLocaleString("en-US")} lines/s`,
    measured: replay.replayed ? `${rate(replay.linesPerSecond)} lines/s` : "did not replay",
    pass: replay.replayed && replay.linesPerSecond >= REPLAY_TARGET,
  }];
}

/**
 * How much slower than on the short history a start from the checkpoint may
 * be and still not grow with history (seconds): less than replaying a
 * quarter of a million lines, a small part of one file of the default history.
 */
export const HISTORY_START_SLACK_SECONDS = 0.25;

/**
 * The history's targets, marked: a start from the checkpoint no slower than
 * on the short history (within HISTORY_START_SLACK_SECONDS) and that did
 * start from it; a rebuild over the whole chain at REPLAY_TARGET lines/s.
 */
export function historyTargets(history: Omit<HistoryResult, "targets">): TargetMark[] {
  const grew = history.checkpointSeconds - history.shortCheckpointSeconds;
  return [
    {
      target: `checkpoint start ≤ short history's + ${HISTORY_START_SLACK_SECONDS} s`,
      measured: history.fromCheckpoint
        ? `${round(history.checkpointSeconds, 2)} s vs ${round(history.shortCheckpointSeconds, 2)} s`
        : "did not start from the checkpoint",
      pass: history.fromCheckpoint && grew <= HISTORY_START_SLACK_SECONDS,
    },
    {
      target: `rebuild ≥ ${REPLAY_TARGET.toLocaleString("en-US")} lines/s`,
      measured: history.rebuilt ? `${rate(history.linesPerSecond)} lines/s` : "did not replay the whole chain",
      pass: history.rebuilt && history.linesPerSecond >= REPLAY_TARGET,
    },
  ];
}

function round(value: number, digits: number): string {
  return value.toFixed(digits);
}

function rate(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

function marks(targets: TargetMark[]): string {
  return targets.length === 0
    ? "—"
    : targets.map((mark) => `${mark.pass ? "✓" : "✗ miss"} ${mark.target} (${mark.measured})`).join("; ");
}

/** A side's rate with what went wrong, if anything. */
function sideRate(side: SideResult): string {
  return rate(side.rate) + (side.rejected > 0 ? ` (${side.rejected} rejected: ${side.firstRejection})` : "") +
    (side.unanswered > 0 ? ` (${side.unanswered} unanswered)` : "");
}

/** A side's CPU µs per message, or — when it was not measured. */
function cpuPerLike(side: SideResult | string | undefined): string {
  return typeof side === "object" && side.cpuUsPerLike !== undefined ? round(side.cpuUsPerLike, 2) : "—";
}

/** Bytes in MiB with one decimal, or — when not measured. */
function mebibytes(bytes: number | undefined): string {
  return bytes === undefined ? "—" : round(bytes / (1024 * 1024), 1);
}

function latency(side: SideResult): string {
  return `${round(side.latencyMs.p50, 3)} / ${round(side.latencyMs.p99, 3)}`;
}

/** The report as markdown, ready for the docs: one table per durability mode, then the replay and idle checks. */
export function formatTable(report: BenchReport): string {
  const { machine } = report;
  const lines = [
    `Machine: ${machine.cores} cores (${machine.cpu}), ${machine.os}, Deno ${machine.deno}, loopback; ` +
    `one load process on the same machine drives every side (${
      report.client === "c"
        ? "the C load client, lib/bench/load_client.c"
        : "the Deno load generator, lib/bench/load_worker.ts"
    }). Started ${report.startedAt}.`,
    "",
    `Command: \`${report.command}\``,
    "",
    `Each cell is the median of ${report.runs} interleaved runs. C×P = connections × messages in flight per connection.`,
  ];
  if (report.cells.some((cell) => cell.ours.logDiskMaxBytes !== undefined)) {
    lines.push(
      "",
      "Log disk max: the most our primary's log files (the live log and its rotated ones) held at once in any " +
        `run of the cell, sampled every ${LOG_SAMPLE_MS} ms under load${
          report.logRotation ? `; our primaries ran with ${report.logRotation}` : ""
        }.`,
    );
  }
  for (const durability of ["normal", "fsync"] as const) {
    const cells = report.cells.filter((cell) => cell.durability === durability);
    if (cells.length === 0) continue;
    const withRedis = cells.some((cell) => cell.redis !== undefined);
    const withEmpty = cells.some((cell) => cell.empty !== undefined);
    const withStore = cells.some((cell) => cell.oneOnRedis !== undefined || cell.twoOnRedis !== undefined);
    const withLogDisk = cells.some((cell) => cell.ours.logDiskMaxBytes !== undefined);
    const withUnrotated = cells.some((cell) => cell.unrotated !== undefined);
    const peer = durability === "fsync" ? "always" : "everysec";
    const head = ["C×P", "ours likes/s", "ours p50 / p99 ms"];
    if (withRedis) head.push(`Redis (${peer}) INCRBY/s`, "Redis p50 / p99 ms", "ours ÷ Redis");
    if (withEmpty) head.push("empty Deno /s", "ours ÷ empty");
    if (withStore) {
      head.push(
        "1 primary on Redis likes/s",
        "p50 / p99 ms",
        "÷ embedded",
        "2 primaries on Redis likes/s",
        "p50 / p99 ms",
        "÷ embedded",
        "redis-server CPU s (1 / 2)",
      );
    }
    if (withUnrotated) head.push("--log-max-bytes off likes/s", "ours ÷ off");
    if (withLogDisk) head.push("log disk max MiB");
    head.push(
      "primary CPU s",
      "load CPU s",
      ["CPU µs/like ours", ...(withRedis ? ["Redis"] : []), ...(withEmpty ? ["empty"] : [])].join(" / "),
      "targets",
    );
    lines.push("", `### ${durability} durability${withRedis ? `, against Redis appendfsync ${peer}` : ""}`, "");
    lines.push(`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`);
    for (const cell of cells) {
      const row = [`${cell.connections}×${cell.pipeline}`, sideRate(cell.ours), latency(cell.ours)];
      if (withRedis) {
        const redis = cell.redis;
        if (redis === undefined || typeof redis === "string") row.push(redis ?? "—", "—", "—");
        else row.push(sideRate(redis), latency(redis), cell.vsRedis === undefined ? "—" : `${round(cell.vsRedis, 2)}×`);
      }
      if (withEmpty) {
        const empty = cell.empty;
        if (empty === undefined || typeof empty === "string") row.push(empty ?? "—", "—");
        else row.push(sideRate(empty), cell.vsEmpty === undefined ? "—" : `${Math.round(cell.vsEmpty * 100)}%`);
      }
      if (withStore) {
        const cpu: string[] = [];
        for (
          const [side, ratio] of [[cell.oneOnRedis, cell.oneOnRedisVsOurs], [
            cell.twoOnRedis,
            cell.twoOnRedisVsOurs,
          ]] as const
        ) {
          if (side === undefined || typeof side === "string") {
            row.push(side ?? "—", "—", "—");
            cpu.push("—");
          } else {
            row.push(sideRate(side), latency(side), ratio === undefined ? "—" : `${round(ratio, 2)}×`);
            cpu.push(side.storeCpuSeconds === undefined ? "—" : round(side.storeCpuSeconds, 2));
          }
        }
        row.push(cpu.join(" / "));
      }
      if (withUnrotated) {
        const unrotated = cell.unrotated;
        if (unrotated === undefined || typeof unrotated === "string") row.push(unrotated ?? "—", "—");
        else row.push(sideRate(unrotated), cell.vsUnrotated === undefined ? "—" : `${round(cell.vsUnrotated, 2)}×`);
      }
      if (withLogDisk) row.push(mebibytes(cell.ours.logDiskMaxBytes));
      row.push(
        cell.ours.serverCpuSeconds === undefined ? "—" : round(cell.ours.serverCpuSeconds, 2),
        round(cell.ours.loadCpuSeconds, 2),
        [cell.ours, ...(withRedis ? [cell.redis] : []), ...(withEmpty ? [cell.empty] : [])].map(cpuPerLike)
          .join(" / "),
        marks(cell.targets),
      );
      lines.push(`| ${row.join(" | ")} |`);
    }
  }
  const verdicts = report.cells.flatMap((cell) =>
    cell.targets.map((mark) =>
      `- ${cell.durability} ${cell.connections}×${cell.pipeline}: ${mark.pass ? "✓" : "✗ miss"} ${mark.target}: ` +
      `${mark.measured}; CPU µs/like ours ${cpuPerLike(cell.ours)}` +
      (cell.redis === undefined ? "" : `, Redis ${cpuPerLike(cell.redis)}`) +
      (cell.empty === undefined ? "" : `, empty ${cpuPerLike(cell.empty)}`)
    )
  );
  if (verdicts.length > 0) lines.push("", "Verdicts, one per target:", "", ...verdicts);
  const replay = report.replay;
  if (typeof replay === "string") {
    lines.push("", `Replay: ${replay}`);
  } else if (replay) {
    lines.push(
      "",
      `Replay at start-up: ${rate(replay.lines)} lines (${round(replay.bytes / (1024 * 1024), 0)} MiB) ` +
        `ready in ${round(replay.seconds, 2)} s, ${round(replay.baselineSeconds, 2)} s on an empty log: ` +
        (replay.replayed
          ? `${rate(replay.linesPerSecond)} lines/s`
          : `start-up did NOT replay the log (ready with total ${replay.readyTotal}, the log adds up to ${replay.total})`) +
        `. ${marks(replay.targets)}`,
    );
  }
  const history = report.history;
  if (typeof history === "string") {
    lines.push("", `History: ${history}`);
  } else if (history) {
    const mib = (bytes: number) => `${round(bytes / (1024 * 1024), 0)} MiB`;
    const [fromCheckpoint, rebuild] = history.targets;
    const mark = (target: TargetMark | undefined) => target ? ` ${marks([target])}` : "";
    lines.push(
      "",
      `Start-up over history: ${rate(history.lines)} lines (${mib(history.bytes)}) in ${history.files} files ` +
        `(the live log and ${history.files - 1} rotated); the short history beside it: ` +
        `${rate(history.short.lines)} lines (${mib(history.short.bytes)}) in as many.`,
      "",
      `- From the checkpoint at the live log's end: ready in ${round(history.checkpointSeconds, 2)} s, ` +
        `${round(history.shortCheckpointSeconds, 2)} s on the short history` +
        (history.fromCheckpoint
          ? ` (at most ${rate(history.checkpointReplayedLines)} lines replayed after the checkpoint).`
          : `; a start did NOT start from the checkpoint.`) +
        mark(fromCheckpoint),
      `- Rebuilt without a trusted checkpoint: ready in ${round(history.rebuildSeconds, 2)} s, ` +
        `${round(history.shortRebuildSeconds, 2)} s on the short history: ` +
        (history.rebuilt
          ? `${rate(history.linesPerSecond)} lines/s over the chain.`
          : `a rebuild did NOT replay the whole chain (ready with total ${history.readyTotal}, ` +
            `the chain adds up to ${history.total}).`) +
        mark(rebuild),
    );
  }
  const idle = report.idle;
  if (typeof idle === "string") {
    lines.push("", `Idle connections: ${idle}`);
  } else if (idle) {
    lines.push(
      "",
      `Idle connections: ${idle.opened} of ${idle.requested} open` + (idle.error ? ` (${idle.error})` : "") +
        `; primary RSS ${round(idle.rssMb, 0)} MB (peak ${round(idle.peakRssMb, 0)} MB); ` +
        (idle.freshServed
          ? `a new connection was served in ${round(idle.freshMs, 1)} ms`
          : "a new connection was NOT served") +
        ".",
    );
  }
  return lines.join("\n");
}

/** The report as JSON, one document, stable key order. */
export function formatJson(report: BenchReport): string {
  return JSON.stringify(report, null, 2) + "\n";
}
