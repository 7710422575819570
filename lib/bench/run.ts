/**
 * The benchmark run: for each connections × pipeline cell, a fresh primary
 * (subprocess with least privilege, ephemeral ports, temp state under the
 * work dir) under the in-process load generator, its CPU and memory read from
 * its own /metrics; then, when asked, Redis at the same cell; then the
 * idle-connections check.
 */
import { cpus } from "node:os";
import { checkIdleConnections } from "./idle.ts";
import { scrapePrimaryUse } from "./process_metrics.ts";
import { type BenchReport, type CellResult, percentiles } from "./report.ts";
import { benchRedis, redisMissing } from "./redis.ts";
import { generateLoad, type LoadResult } from "./load_generator.ts";
import { readProcess } from "../dashboard/metrics.ts";
import { primaryGrants } from "../launch/permissions.ts";
import { type LaunchedPrimary, launchPrimary } from "../launch/primary_process.ts";
import type { Durability } from "../primary/store.ts";
import { type PrimaryOptions, primarySpecs } from "../primary/options.ts";
import { toFlags } from "../common/cli.ts";

/** Where the bench keeps its temp state and its JSON unless told otherwise; its task may write only here. */
export const DEFAULT_WORK_DIR = "/tmp/likes-bench";

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
  /** The primaries' and Redis's temp state go in here; created if missing. @default {DEFAULT_WORK_DIR} */
  workDir?: string;
  /** The command line, for the report. @default {"deno task bench"} */
  command?: string;
  /** Progress lines (one per step). @default {() => {}} */
  progress?: (line: string) => void;
}

function machine(): BenchReport["machine"] {
  return {
    cores: navigator.hardwareConcurrency,
    cpu: cpus()[0]?.model.trim() || "unknown CPU",
    os: `${Deno.build.os} ${Deno.osRelease()}`,
    deno: Deno.version.deno,
  };
}

/** A primary of our own: a temp dir under the work dir, ephemeral ports, only the grants those need. */
interface BenchPrimary {
  primary: LaunchedPrimary;
  dir: string;
}

async function startBenchPrimary(workDir: string, settings: Partial<PrimaryOptions>): Promise<BenchPrimary> {
  const dir = await Deno.makeTempDir({ dir: workDir, prefix: "primary_" });
  const options = {
    host: "127.0.0.1",
    port: 0,
    http: "127.0.0.1:0",
    log: `${dir}/PrimaryLikesLog`,
    state: `${dir}/PrimaryLikes.db`,
    ...settings,
  };
  try {
    const primary = await launchPrimary({
      args: toFlags(primarySpecs, options),
      grants: primaryGrants(options),
      // A LIKES_TOKEN set for the real system would make this primary ask for an AUTH the load does not send.
      env: { LIKES_TOKEN: "" },
    });
    return { primary, dir };
  } catch (error) {
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
}

async function stopBenchPrimary({ primary, dir }: BenchPrimary): Promise<void> {
  const status = await primary.stop();
  await Deno.remove(dir, { recursive: true });
  if (status.code !== 0) console.error(`The primary exited with ${status.code}: ${primary.output()}`);
}

async function runCell(cell: Cell, options: Required<BenchOptions>): Promise<CellResult> {
  const { durationMs, warmupMs, durability, workDir } = options;
  const started = await startBenchPrimary(workDir, { durability });
  const { httpPort } = started.primary;
  // The primary's CPU time at each edge of the window is scraped from its
  // /metrics (a few ms late under load, the same at both edges); ours is read at once.
  const edges: Partial<Record<"start" | "end", { primaryCpu: Promise<number>; loadCpu: number }>> = {};
  let load: LoadResult;
  let primaryCpu: number;
  let peakRssMb: number;
  try {
    load = await generateLoad(started.primary.port, {
      ...cell,
      durationMs,
      warmupMs,
      onWindow: (edge) => {
        const primaryCpu = scrapePrimaryUse(httpPort).then((use) => use.cpuSeconds);
        primaryCpu.catch(() => {/* awaited below */});
        edges[edge] = { primaryCpu, loadCpu: readProcess().cpuSeconds };
      },
    });
    primaryCpu = await edges.end!.primaryCpu - await edges.start!.primaryCpu;
    // Since the primary started, so the whole cell's peak, drain included.
    peakRssMb = (await scrapePrimaryUse(httpPort)).peakRssMb;
  } finally {
    await stopBenchPrimary(started);
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
    primary: { cpuSeconds: primaryCpu, peakRssMb },
    loadCpuSeconds: edges.end!.loadCpu - edges.start!.loadCpu,
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
    workDir = DEFAULT_WORK_DIR,
    command = "deno task bench",
    progress = () => {},
  } = options;
  const all = { matrix, durationMs, warmupMs, durability, redis, idleConnections, workDir, command, progress };
  await Deno.mkdir(workDir, { recursive: true });
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
            workDir,
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
    // Headroom over the idle ones for the new connection; idle ones must not time out mid-check.
    const started = await startBenchPrimary(workDir, {
      durability,
      maxConnections: idleConnections + 100,
      idleTimeout: 10 * 60_000,
    });
    const { primary } = started;
    try {
      // Nothing here raises `ulimit -n`: under a low one the check opens what
      // fits, then closes some so both processes keep spare descriptors, and says so.
      report.idle = await checkIdleConnections(
        primary.port,
        idleConnections,
        () => scrapePrimaryUse(primary.httpPort),
        {
          primaryOutOfFiles: () => primary.output().includes("Too many open files"),
        },
      );
      if (report.idle.error?.startsWith("capped")) progress(`Idle check: ${report.idle.error}`);
    } catch (error) {
      report.idle = `Idle check failed: ${(error as Error).message}`;
    } finally {
      await stopBenchPrimary(started);
    }
  }
  return report;
}
