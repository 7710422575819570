/**
 * The benchmark run: for each connections × pipeline cell, a fresh primary
 * (subprocess, ephemeral port, temp state) under the in-process load
 * generator, its CPU and memory read from /proc; then, when asked, Redis at
 * the same cell; then the idle-connections check.
 */
import { startPrimary } from "../tests/support/primary.ts";
import { checkIdleConnections } from "./bench_idle.ts";
import { readCpuSeconds, readMemory, readOpenFileLimit } from "./bench_proc.ts";
import { type BenchReport, type CellResult, percentiles } from "./bench_report.ts";
import { benchRedis, redisMissing } from "./bench_redis.ts";
import { generateLoad, type LoadResult } from "./load_generator.ts";
import type { Durability } from "./store.ts";

export interface Cell {
  connections: number;
  pipeline: number;
}

/** The matrix: one producer, many, many pipelined. */
export const DEFAULT_MATRIX: Cell[] = [
  { connections: 1, pipeline: 1 },
  { connections: 10, pipeline: 1 },
  { connections: 50, pipeline: 1 },
  { connections: 10, pipeline: 16 },
  { connections: 50, pipeline: 32 },
];

/**
 * Reads `1x1,10x16` (× also accepted) into cells; `none` is the empty matrix.
 *
 * @throws {RangeError} When a cell is not two positive integers
 */
export function parseMatrix(text: string): Cell[] {
  if (text.trim() === "none") return [];
  return text.split(",").map((item) => {
    const match = /^\s*(\d+)\s*[x×]\s*(\d+)\s*$/.exec(item);
    const cell = match && { connections: Number(match[1]), pipeline: Number(match[2]) };
    if (!cell || cell.connections < 1 || cell.pipeline < 1) {
      throw new RangeError(`Expected cells like 10x16, separated by commas, got ${JSON.stringify(item)}`);
    }
    return cell;
  });
}

export function formatMatrix(cells: Cell[]): string {
  return cells.length === 0 ? "none" : cells.map((c) => `${c.connections}x${c.pipeline}`).join(",");
}

export interface BenchOptions {
  /** @default {DEFAULT_MATRIX} */
  matrix?: Cell[];
  /** Measured time per cell (ms). @default {5000} */
  durationMs?: number;
  /** Unmeasured load before each cell's window (ms). @default {1000} */
  warmupMs?: number;
  /** @default {"normal"} */
  durability?: Durability;
  /** Run redis-benchmark beside each cell. @default {false} */
  redis?: boolean;
  /** Idle producer connections to check with; 0 skips the check. @default {0} */
  idleConnections?: number;
  /** The command line, for the report. @default {"deno task bench"} */
  command?: string;
  /** Progress lines (one per step). @default {() => {}} */
  progress?: (line: string) => void;
}

/** Descriptors left free in the idle check, for the new connection, files and the process's own use. */
const FD_HEADROOM = 100;

function machine(): BenchReport["machine"] {
  let cpu = "unknown CPU";
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(Deno.readTextFileSync("/proc/cpuinfo"))?.[1] ?? cpu;
  } catch { /* not Linux: keep the default */ }
  return {
    cores: navigator.hardwareConcurrency,
    cpu,
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    deno: Deno.version.deno,
  };
}

async function runCell(cell: Cell, options: Required<BenchOptions>): Promise<CellResult> {
  const { durationMs, warmupMs, durability } = options;
  const primary = await startPrimary({ args: ["--http", "off", "--durability", durability] });
  const pid = primary.process.pid;
  const cpu = { primary: 0, load: 0 };
  let load: LoadResult;
  let peakRssMb: number;
  try {
    load = await generateLoad(primary.port, {
      ...cell,
      durationMs,
      warmupMs,
      onWindow: (edge) => {
        const sign = edge === "start" ? -1 : 1;
        cpu.primary += sign * readCpuSeconds(pid);
        cpu.load += sign * readCpuSeconds("self");
      },
    });
    peakRssMb = readMemory(pid).peakRssMb;
  } finally {
    const status = await primary.stop();
    await Deno.remove(primary.dir, { recursive: true });
    if (status.code !== 0) console.error(`The primary exited with ${status.code}: ${primary.output()}`);
  }
  return {
    durability,
    ...cell,
    seconds: load.seconds,
    acknowledged: load.acknowledged,
    rejected: load.rejected,
    ...(load.firstRejection === undefined ? {} : { firstRejection: load.firstRejection }),
    unanswered: load.unanswered,
    rate: load.acknowledged / load.seconds,
    latencyMs: percentiles(load.histogram),
    primary: { cpuSeconds: cpu.primary, peakRssMb },
    loadCpuSeconds: cpu.load,
  };
}

/** Runs the matrix (and Redis, and the idle check, when asked) and returns the report. */
export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const {
    matrix = DEFAULT_MATRIX,
    durationMs = 5000,
    warmupMs = 1000,
    durability = "normal",
    redis = false,
    idleConnections = 0,
    command = "deno task bench",
    progress = () => {},
  } = options;
  const all = { matrix, durationMs, warmupMs, durability, redis, idleConnections, command, progress };
  const report: BenchReport = { startedAt: new Date().toISOString(), command, machine: machine(), cells: [] };
  const missing = redis ? await redisMissing() : undefined;
  if (missing) progress(`Redis comparison skipped: ${missing}`);
  const appendfsync = durability === "fsync" ? "always" : "everysec";
  for (const cell of matrix) {
    const name = `${durability} ${cell.connections}×${cell.pipeline}`;
    progress(`${name}: primary...`);
    const result = await runCell(cell, all);
    progress(
      `${name}: ${Math.round(result.rate)} likes/s, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms`,
    );
    if (redis) {
      if (missing) {
        result.redis = missing;
      } else {
        // Enough requests for about as long as our cell ran, at least a few per pipeline slot.
        const requests = Math.max(result.acknowledged, 10_000, cell.connections * cell.pipeline * 100);
        try {
          result.redis = await benchRedis({
            ...cell,
            requests,
            appendfsync,
            deadlineMs: 3 * (warmupMs + durationMs) + 30_000,
          });
          progress(`${name}: redis ${Math.round(result.redis.rate)} INCR/s (appendfsync ${appendfsync})`);
        } catch (error) {
          result.redis = `Redis failed: ${(error as Error).message}`;
          progress(`${name}: ${result.redis}`);
        }
      }
    }
    report.cells.push(result);
  }
  if (idleConnections > 0) {
    progress(`Idle check: opening ${idleConnections} producer connections...`);
    const primary = await startPrimary({
      // Headroom over the idle ones for the new connection; idle ones must not time out mid-check.
      args: [
        "--http",
        "off",
        "--durability",
        durability,
        "--max-connections",
        String(idleConnections + 100),
        "--idle-timeout",
        "10m",
      ],
    });
    try {
      // Nothing here raises the limit. Under a low `ulimit -n` the check opens
      // what fits, leaving both processes spare descriptors (running out
      // crashes Deno), and says so.
      const limit = Math.min(readOpenFileLimit("self"), readOpenFileLimit(primary.process.pid));
      const count = Math.max(1, Math.min(idleConnections, limit - FD_HEADROOM));
      const capped = `capped at ${count} by ulimit -n ${limit}`;
      if (count < idleConnections) progress(`Idle check: ${capped}`);
      report.idle = await checkIdleConnections(primary.port, primary.process.pid, count);
      if (count < idleConnections) {
        report.idle = {
          ...report.idle,
          requested: idleConnections,
          error: [capped, report.idle.error].filter(Boolean).join("; "),
        };
      }
    } catch (error) {
      report.idle = `Idle check failed: ${(error as Error).message}`;
    } finally {
      await primary.stop();
      await Deno.remove(primary.dir, { recursive: true });
    }
  }
  return report;
}
