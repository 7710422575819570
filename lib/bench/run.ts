/**
 * The benchmark run. For each connections × pipeline cell, `runs` rounds,
 * each measuring in turn: ours in each durability mode and, when asked, its
 * Redis peer (appendfsync everysec for normal, always for fsync), then the
 * empty Deno server. Every measurement gets a fresh server (subprocess with
 * least privilege, ephemeral port, temp state under the work dir) and a fresh
 * load process speaking its protocol, the same client for every side. Each
 * cell reports the median of its runs. Then the start-up replay, the
 * start-up over a long history and the idle-connections check.
 */
import { cpus } from "node:os";
import { checkIdleConnections } from "./idle.ts";
import { scrapePrimaryUse } from "./process_metrics.ts";
import {
  type BenchReport,
  type CellResult,
  cellTargets,
  logDiskLimit,
  type RunSample,
  type SideResult,
  summarise,
} from "./report.ts";
import { type Appendfsync, startRedis } from "./redis.ts";
import { redisServerMissing } from "../launch/redis_server.ts";
import type { LoadProtocol } from "./load_generator.ts";
import { runLoadProcess, startEmptyServer } from "./load_process.ts";
import { buildLoadClient, type LoadClient } from "./load_client.ts";
import { measureReplay } from "./replay.ts";
import { measureHistory } from "./history.ts";
import { LOG_SAMPLE_MS, logDiskBytes, sampleMax } from "./log_disk.ts";
import { primaryGrants } from "../launch/permissions.ts";
import { type LaunchedPrimary, launchPrimary } from "../launch/primary_process.ts";
import type { Durability } from "../primary/backend/backend.ts";
import type { SyncOn } from "../primary/backend/embedded/defaults.ts";
import { primaryDefaults, type PrimaryOptions, primarySpecs } from "../primary/options.ts";
import { toFlags } from "../common/cli.ts";
import { primaryLogPath, primaryStatePath } from "../formats/file_names.ts";

/** Where the bench keeps its temp state and its JSON unless told otherwise; its task may write only here. */
export const DEFAULT_WORK_DIR = "/tmp/likes-bench";

/** Where the bench's primaries keep the total: the embedded store alone, or Redis beside it. */
export type StoreChoice = "embedded" | "redis";

/** The durability modes to run: one, or both. */
export type DurabilityChoice = Durability | "both";

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
  /** Measured time per run (ms). @default {5000} */
  durationMs?: number;
  /** Unmeasured load before each run's window (ms). @default {1000} */
  warmupMs?: number;
  /** @default {"both"} */
  durability?: DurabilityChoice;
  /** Runs per side per cell, interleaved; each cell is their median. @default {3} */
  runs?: number;
  /** Measure Redis (its peer appendfsync) at each cell too. @default {false} */
  redis?: boolean;
  /**
   * `redis`: at each cell also run one primary on a private Redis, and two
   * primaries sharing it, beside the embedded store. @default {"embedded"}
   */
  store?: StoreChoice;
  /**
   * The load generator for every side: `c` (load_client.c, built with the
   * system's compiler) or `deno` (load_worker.ts). @default {"c"}
   */
  client?: LoadClient;
  /** Measure the empty Deno server at each cell too. @default {true} */
  empty?: boolean;
  /** Lines of the log for the start-up replay; 0 skips it. @default {0} */
  replayLines?: number;
  /**
   * Bytes of history in rotated files for the start-up over history (from a
   * checkpoint, and rebuilt over the chain); 0 skips it. @default {0}
   */
  historyBytes?: number;
  /**
   * Our primary's log rotation (--log-max-bytes, --log-keep), to measure
   * its cost. @default {{ logMaxBytes: primaryDefaults.logMaxBytes, logKeep: primaryDefaults.logKeep }}
   */
  rotation?: Pick<PrimaryOptions, "logMaxBytes" | "logKeep">;
  /**
   * Also run our primary with `--log-max-bytes off` at each cell, interleaved
   * with the rotating one, to measure what rotation costs. @default {false}
   */
  rotationBaseline?: boolean;
  /** Our primary's --sync-on, in fsync mode. @default {primaryDefaults.syncOn} */
  syncOn?: SyncOn;
  /** Idle producer connections to check with; 0 skips the check. @default {0} */
  idleConnections?: number;
  /** The servers' temp state go in here; created if missing. @default {DEFAULT_WORK_DIR} */
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
    log: primaryLogPath(dir),
    // Unused on Redis (its grants leave it out), but never the default path.
    state: primaryStatePath(dir),
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

/** A server under test, started fresh for one run. */
interface Target {
  /** The load's connections are spread over these in turn. */
  ports: number[];
  protocol: LoadProtocol;
  /** Its CPU seconds so far, as it reports them; undefined when it does not. */
  cpuSeconds(): Promise<number> | undefined;
  /** The shared store's (redis-server's) CPU seconds so far, for primaries on Redis. */
  storeCpuSeconds?(): Promise<number>;
  /** Bytes in our primary's log files now (the live log and its rotated ones), sampled under load. */
  logBytes?(): number;
  stop(): Promise<void>;
}

async function ourTarget(
  workDir: string,
  durability: Durability,
  settings?: Partial<PrimaryOptions>,
): Promise<Target> {
  const started = await startBenchPrimary(workDir, { durability, ...settings });
  const { port, httpPort } = started.primary;
  return {
    ports: [port],
    protocol: "likes",
    cpuSeconds: () => scrapePrimaryUse(httpPort).then((use) => use.cpuSeconds),
    logBytes: () => logDiskBytes(primaryLogPath(started.dir)),
    stop: () => stopBenchPrimary(started),
  };
}

/**
 * `count` primaries (ids p0, p1, …) sharing one fresh redis-server: AOF on,
 * everysec for normal durability, always for fsync (what the primary requires).
 */
async function redisStoreTarget(workDir: string, durability: Durability, count: number): Promise<Target> {
  const redis = await startRedis({ workDir, appendfsync: durability === "fsync" ? "always" : "everysec" });
  const primaries: BenchPrimary[] = [];
  try {
    for (let i = 0; i < count; i++) {
      primaries.push(
        await startBenchPrimary(workDir, {
          durability,
          store: `redis://127.0.0.1:${redis.port}`,
          primaryId: `p${i}`,
        }),
      );
    }
  } catch (error) {
    for (const started of primaries) await stopBenchPrimary(started);
    await redis.stop();
    throw error;
  }
  return {
    ports: primaries.map(({ primary }) => primary.port),
    protocol: "likes",
    cpuSeconds: async () => {
      const uses = await Promise.all(primaries.map(({ primary }) => scrapePrimaryUse(primary.httpPort)));
      return uses.reduce((sum, use) => sum + use.cpuSeconds, 0);
    },
    storeCpuSeconds: () => redis.use().then((use) => use.cpuSeconds),
    async stop() {
      for (const started of primaries) await stopBenchPrimary(started);
      await redis.stop();
    },
  };
}

async function redisTarget(workDir: string, appendfsync: Appendfsync): Promise<Target> {
  const redis = await startRedis({ workDir, appendfsync });
  return {
    ports: [redis.port],
    protocol: "resp",
    cpuSeconds: () => redis.use().then((use) => use.cpuSeconds),
    stop: () => redis.stop(),
  };
}

async function emptyTarget(): Promise<Target> {
  const empty = await startEmptyServer();
  // The empty server sends the same likes lines' replies: the likes protocol's client counts its `0`s.
  return { ports: [empty.port], protocol: "likes", cpuSeconds: () => empty.cpuSeconds(), stop: () => empty.stop() };
}

/** Every bench option, defaults applied, and the built C load client. */
type MeasureOptions = Required<BenchOptions> & { clientPath: string | undefined };

/** One run: a fresh target under a fresh load process, its CPU sampled at the window's edges. */
async function measure(
  start: () => Promise<Target>,
  cell: Cell,
  options: MeasureOptions,
): Promise<RunSample> {
  const target = await start();
  const logs = target.logBytes && sampleMax(target.logBytes, LOG_SAMPLE_MS);
  const edges: Partial<Record<"start" | "end", Promise<number> | undefined>> = {};
  const storeEdges: Partial<Record<"start" | "end", Promise<number>>> = {};
  try {
    const load = await runLoadProcess(target.ports, {
      client: options.clientPath,
      protocol: target.protocol,
      ...cell,
      durationMs: options.durationMs,
      warmupMs: options.warmupMs,
      onWindow: (edge) => {
        const cpu = target.cpuSeconds();
        cpu?.catch(() => {/* awaited below */});
        edges[edge] = cpu;
        const store = target.storeCpuSeconds?.();
        store?.catch(() => {/* awaited below */});
        if (store) storeEdges[edge] = store;
      },
    });
    const [start, end] = [await edges.start, await edges.end];
    const [storeStart, storeEnd] = [await storeEdges.start, await storeEdges.end];
    const logDiskBytes = await logs?.stop();
    return {
      rate: load.rate,
      latencyMs: load.latencyMs,
      rejected: load.rejected,
      ...(load.firstRejection === undefined ? {} : { firstRejection: load.firstRejection }),
      unanswered: load.unanswered,
      ...(start === undefined || end === undefined ? {} : { serverCpuSeconds: end - start }),
      ...(storeStart === undefined || storeEnd === undefined ? {} : { storeCpuSeconds: storeEnd - storeStart }),
      loadCpuSeconds: load.loadCpuSeconds,
      ...(logDiskBytes === undefined ? {} : { logDiskBytes }),
    };
  } finally {
    await logs?.stop();
    await target.stop();
  }
}

/** Runs the matrix (and Redis, the empty server, the replay and the idle check, as asked) and returns the report. */
export async function runBench(options: BenchOptions = {}): Promise<BenchReport> {
  const {
    matrix = DEFAULT_MATRIX,
    durationMs = 5000,
    warmupMs = 1000,
    durability = "both",
    runs = 3,
    redis = false,
    store = "embedded",
    client = "c",
    empty = true,
    replayLines = 0,
    historyBytes = 0,
    rotation = { logMaxBytes: primaryDefaults.logMaxBytes, logKeep: primaryDefaults.logKeep },
    rotationBaseline = false,
    syncOn = primaryDefaults.syncOn,
    idleConnections = 0,
    workDir = DEFAULT_WORK_DIR,
    command = "deno task bench",
    progress = () => {},
  } = options;
  if (!Number.isInteger(runs) || runs < 1) {
    throw new RangeError(`Cannot bench: runs must be a positive integer, got ${runs}`);
  }
  await Deno.mkdir(workDir, { recursive: true });
  const clientPath = client === "c" && matrix.length > 0 ? await buildLoadClient(workDir) : undefined;
  const all: MeasureOptions = {
    clientPath,
    client,
    matrix,
    durationMs,
    warmupMs,
    durability,
    runs,
    redis,
    store,
    empty,
    replayLines,
    historyBytes,
    rotation,
    rotationBaseline,
    syncOn,
    idleConnections,
    workDir,
    command,
    progress,
  };
  const report: BenchReport = {
    startedAt: new Date().toISOString(),
    command,
    machine: machine(),
    client,
    runs,
    logRotation: toFlags(primarySpecs, rotation).join(" "),
    cells: [],
  };
  const missing = redis || store === "redis" ? await redisServerMissing() : undefined;
  if (missing) progress(`Redis comparison skipped: ${missing}`);
  const modes: Durability[] = durability === "both" ? ["normal", "fsync"] : [durability];
  const cells: CellResult[] = [];
  for (const cell of matrix) cells.push(...summariseCell(cell, modes, await runCell(cell, modes, missing, all), all));
  // One table per mode: all of normal's cells, then fsync's.
  report.cells = modes.flatMap((mode) => cells.filter((cell) => cell.durability === mode));
  if (replayLines > 0) {
    try {
      report.replay = await measureReplay({ workDir, lines: replayLines, runs, progress });
    } catch (error) {
      report.replay = failure("Replay", error);
      progress(report.replay);
    }
  }
  if (historyBytes > 0) {
    try {
      report.history = await measureHistory({ workDir, bytes: historyBytes, runs, progress });
    } catch (error) {
      report.history = failure("Start-up over history", error);
      progress(report.history);
    }
  }
  if (idleConnections > 0) report.idle = await idleCheck(workDir, modes[0], idleConnections, progress);
  return report;
}

const peer = (mode: Durability): Appendfsync => mode === "fsync" ? "always" : "everysec";
const failure = (side: string, error: unknown) => `${side} failed: ${(error as Error).message}`;
const storeKey = (mode: Durability, count: number) => `${mode} ${count}`;

/** One cell's samples per side, or why a side could not be measured. */
interface CellRuns {
  ours: Map<Durability, RunSample[]>;
  redis: Map<Durability, RunSample[] | string>;
  empty: RunSample[] | string;
  /** Primaries on Redis: 1 and 2 sharing it, per mode (storeKey). */
  onRedis: Map<string, RunSample[] | string>;
  /** Ours with --log-max-bytes off, per mode (with rotationBaseline). */
  unrotated: Map<Durability, RunSample[] | string>;
}

/** Measures every side of one cell, `runs` times, interleaved so that drift hits every side alike. */
async function runCell(
  cell: Cell,
  modes: Durability[],
  missing: string | undefined,
  all: MeasureOptions,
): Promise<CellRuns> {
  const { runs, redis, store, empty, workDir, progress } = all;
  const name = `${cell.connections}×${cell.pipeline}`;
  const result: CellRuns = {
    ours: new Map(modes.map((mode) => [mode, []])),
    redis: new Map(modes.map((mode) => [mode, missing ?? []])),
    empty: [],
    onRedis: new Map(),
    unrotated: new Map(all.rotationBaseline ? modes.map((mode) => [mode, []]) : []),
  };
  if (store === "redis") {
    for (const mode of modes) for (const count of [1, 2]) result.onRedis.set(storeKey(mode, count), missing ?? []);
  }
  const say = (side: string, sample: RunSample) =>
    progress(
      `${name} run ${result.ours.get(modes[0])!.length}/${runs} ${side}: ${Math.round(sample.rate)}/s, ` +
        `p50 ${sample.latencyMs.p50} ms, p99 ${sample.latencyMs.p99} ms`,
    );
  /**
   * Measures a side once: the sample joins `samples`, or a failure, said as
   * `who` failed, is handed to `failed` and ends that side for the cell.
   */
  const attempt = async (
    side: string,
    who: string,
    start: () => Promise<Target>,
    samples: RunSample[],
    failed: (why: string) => void,
  ) => {
    try {
      const sample = await measure(start, cell, all);
      samples.push(sample);
      say(side, sample);
    } catch (error) {
      const why = failure(who, error);
      failed(why);
      progress(`${name}: ${why}`);
    }
  };
  for (let run = 0; run < runs; run++) {
    for (const mode of modes) {
      const sample = await measure(() => ourTarget(workDir, mode, { ...all.rotation, syncOn: all.syncOn }), cell, all);
      result.ours.get(mode)!.push(sample);
      say(`ours ${mode}`, sample);
      const unrotated = result.unrotated.get(mode);
      if (Array.isArray(unrotated)) {
        const side = `ours ${mode} --log-max-bytes off`;
        const start = () => ourTarget(workDir, mode, { ...all.rotation, syncOn: all.syncOn, logMaxBytes: 0 });
        await attempt(side, side, start, unrotated, (why) => result.unrotated.set(mode, why));
      }
      for (const count of store === "redis" ? [1, 2] : []) {
        const sofar = result.onRedis.get(storeKey(mode, count));
        if (!Array.isArray(sofar)) continue;
        const side = `${count} primar${count === 1 ? "y" : "ies"} on Redis ${mode}`;
        const start = () => redisStoreTarget(workDir, mode, count);
        await attempt(side, side, start, sofar, (why) => result.onRedis.set(storeKey(mode, count), why));
      }
      const sofar = result.redis.get(mode);
      if (redis && Array.isArray(sofar)) {
        const start = () => redisTarget(workDir, peer(mode));
        await attempt(`redis ${peer(mode)}`, "Redis", start, sofar, (why) => result.redis.set(mode, why));
      }
    }
    if (empty && Array.isArray(result.empty)) {
      await attempt("empty", "The empty server", emptyTarget, result.empty, (why) => result.empty = why);
    }
  }
  return result;
}

/** One result per mode for a cell: each side's medians, the ratios, and the targets' verdicts. */
function summariseCell(cell: Cell, modes: Durability[], runs: CellRuns, all: MeasureOptions): CellResult[] {
  const { redis, empty, durationMs } = all;
  const seconds = durationMs / 1000;
  const emptySide: SideResult | string | undefined = !empty
    ? undefined
    : typeof runs.empty === "string"
    ? runs.empty
    : summarise(runs.empty, seconds);
  return modes.map((mode) => {
    const oursSide = summarise(runs.ours.get(mode)!, seconds);
    const redisRunsOf = runs.redis.get(mode)!;
    const redisSide = !redis
      ? undefined
      : typeof redisRunsOf === "string"
      ? redisRunsOf
      : summarise(redisRunsOf, seconds);
    const storeSide = (count: number) => {
      const samples = runs.onRedis.get(storeKey(mode, count));
      return samples === undefined ? undefined : typeof samples === "string" ? samples : summarise(samples, seconds);
    };
    const [oneOnRedis, twoOnRedis] = [storeSide(1), storeSide(2)];
    const unrotatedRuns = runs.unrotated.get(mode);
    const unrotated = unrotatedRuns === undefined
      ? undefined
      : typeof unrotatedRuns === "string"
      ? unrotatedRuns
      : summarise(unrotatedRuns, seconds);
    const ratio = (side: SideResult | string | undefined) =>
      typeof side === "object" && oursSide.rate > 0 ? side.rate / oursSide.rate : undefined;
    const result: Omit<CellResult, "targets"> = {
      durability: mode,
      ...cell,
      seconds: durationMs / 1000,
      ours: oursSide,
      ...(redisSide === undefined ? {} : { redis: redisSide, appendfsync: peer(mode) }),
      ...(emptySide === undefined ? {} : { empty: emptySide }),
      ...(unrotated === undefined ? {} : { unrotated }),
      ...(typeof unrotated === "object" && unrotated.rate > 0 ? { vsUnrotated: oursSide.rate / unrotated.rate } : {}),
      ...(all.rotation.logMaxBytes > 0 && Number.isFinite(all.rotation.logKeep)
        ? { logDiskLimitBytes: logDiskLimit(all.rotation) }
        : {}),
      ...(oneOnRedis === undefined ? {} : { oneOnRedis }),
      ...(twoOnRedis === undefined ? {} : { twoOnRedis }),
      ...(ratio(oneOnRedis) === undefined ? {} : { oneOnRedisVsOurs: ratio(oneOnRedis) }),
      ...(ratio(twoOnRedis) === undefined ? {} : { twoOnRedisVsOurs: ratio(twoOnRedis) }),
      ...(typeof redisSide === "object" && redisSide.rate > 0 ? { vsRedis: oursSide.rate / redisSide.rate } : {}),
      ...(typeof emptySide === "object" && emptySide.rate > 0 ? { vsEmpty: oursSide.rate / emptySide.rate } : {}),
    };
    return { ...result, targets: cellTargets(result) };
  });
}

/** Opens `count` idle producer connections to a fresh primary and checks a new one is still served. */
async function idleCheck(
  workDir: string,
  durability: Durability,
  count: number,
  progress: (line: string) => void,
): Promise<BenchReport["idle"]> {
  progress(`Idle check: opening ${count} producer connections...`);
  // Headroom over the idle ones for the new connection; idle ones must not time out mid-check.
  const started = await startBenchPrimary(workDir, {
    durability,
    maxConnections: count + 100,
    idleTimeout: 10 * 60_000,
    // Every idle producer is a new producer id from this one address: the check is of memory, not of that rate.
    newProducerRate: 0,
  });
  const { primary } = started;
  try {
    // Nothing here raises `ulimit -n`: under a low one the check opens what
    // fits, then closes some so both processes keep spare descriptors, and says so.
    const idle = await checkIdleConnections(
      primary.port,
      count,
      () => scrapePrimaryUse(primary.httpPort),
      {
        primaryOutOfFiles: () => primary.output().includes("Too many open files"),
      },
    );
    if (idle.error?.startsWith("capped")) progress(`Idle check: ${idle.error}`);
    return idle;
  } catch (error) {
    return `Idle check failed: ${(error as Error).message}`;
  } finally {
    await stopBenchPrimary(started);
  }
}
