/**
 * The benchmark's numbers: a latency histogram with percentiles, and the
 * result as a markdown table and as JSON. Pure: no I/O, no clock.
 */
import { build, type Histogram } from "hdr-histogram-js";
import type { Durability } from "../primary/store.ts";

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

/** Resource use of a process over one cell, as it reports it itself. */
export interface ProcessUse {
  /** User + system CPU seconds in the measured window, all threads. */
  cpuSeconds: number;
  /**
   * Peak resident set size, MiB: the primary's getrusage maximum since it
   * started (fresh for each cell); Redis's used_memory_rss sampled every 100 ms.
   */
  peakRssMb: number;
}

/** redis-benchmark at the same connections × pipeline, for comparison. */
export interface RedisResult {
  /** The exact command run. */
  command: string;
  /** `appendfsync` setting of the redis-server it ran against. */
  appendfsync: "everysec" | "always";
  requests: number;
  /** Requests per second, as redis-benchmark reports it. */
  rate: number;
  latencyMs: { p50: number; p99: number };
  server: ProcessUse;
}

/** One connections × pipeline cell of the matrix. */
export interface CellResult {
  durability: Durability;
  connections: number;
  pipeline: number;
  /** Length of the measured window (after warm-up), seconds. */
  seconds: number;
  /** Messages answered `0` in the window. */
  acknowledged: number;
  /** Messages answered anything else in the window (should be none). */
  rejected: number;
  /** First reply that was not `0`, for diagnosis. */
  firstRejection?: string;
  /** Messages never answered (a connection closed, or the replies did not come in time). */
  unanswered: number;
  /** Acknowledged likes per second. */
  rate: number;
  latencyMs: Percentiles;
  primary: ProcessUse;
  /** CPU seconds the load generator itself used (it shares the machine). */
  loadCpuSeconds: number;
  /** Absent when not asked for; a string when it could not run. */
  redis?: RedisResult | string;
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
  cells: CellResult[];
  idle?: IdleResult | string;
}

function round(value: number, digits: number): string {
  return value.toFixed(digits);
}

function rate(value: number): string {
  return Math.round(value).toLocaleString("en-US");
}

/** The report as markdown, ready for the README. */
export function formatTable(report: BenchReport): string {
  const { machine } = report;
  const lines = [
    `Machine: ${machine.cores} cores (${machine.cpu}), ${machine.os}, Deno ${machine.deno}, loopback; ` +
    `load generator on the same machine. Started ${report.startedAt}.`,
    "",
    `Command: \`${report.command}\``,
    "",
  ];
  if (report.cells.length > 0) {
    const withRedis = report.cells.some((cell) => cell.redis !== undefined);
    const head = [
      "durability",
      "C×P",
      "acked likes/s",
      "p50 ms",
      "p99 ms",
      "p999 ms",
      "primary CPU s",
      "primary peak RSS MB",
      "load gen CPU s",
    ];
    if (withRedis) head.push("Redis INCR/s", "Redis p50 / p99 ms", "ours ÷ Redis");
    lines.push(`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`);
    for (const cell of report.cells) {
      const row = [
        cell.durability,
        `${cell.connections}×${cell.pipeline}`,
        rate(cell.rate) + (cell.rejected > 0 ? ` (${cell.rejected} rejected)` : "") +
        (cell.unanswered > 0 ? ` (${cell.unanswered} unanswered)` : ""),
        round(cell.latencyMs.p50, 3),
        round(cell.latencyMs.p99, 3),
        round(cell.latencyMs.p999, 3),
        round(cell.primary.cpuSeconds, 2),
        round(cell.primary.peakRssMb, 0),
        round(cell.loadCpuSeconds, 2),
      ];
      if (withRedis) {
        const redis = cell.redis;
        if (redis === undefined || typeof redis === "string") {
          row.push(redis ?? "—", "—", "—");
        } else {
          row.push(
            `${rate(redis.rate)} (${redis.appendfsync})`,
            `${round(redis.latencyMs.p50, 3)} / ${round(redis.latencyMs.p99, 3)}`,
            redis.rate > 0 ? round(cell.rate / redis.rate, 2) : "—",
          );
        }
      }
      lines.push(`| ${row.join(" | ")} |`);
    }
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
