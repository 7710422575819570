/**
 * `deno task bench`: load a real primary (started here, ephemeral ports, temp
 * state) from a separate load process, in both durability modes, beside the
 * empty Deno server (the runtime's ceiling) and, with --redis, Redis at its
 * peer appendfsync, all driven by the same client; then time start-up replay
 * over a generated log, and start-up over 2 GB of history in rotated files
 * (from a checkpoint, and rebuilt over the chain). With --store redis, each cell also runs one primary
 * on a private redis-server and two primaries sharing it. Reports likes/s, p50/p99, the ratios and the issue's
 * targets as pass/miss marks. Runs with least privilege: see benchGrants() in
 * lib/launch/permissions.ts. How to run and read it: docs/performance.md.
 */
import { type FlagSpecs, parse, parseProgramFlags, runProgram } from "./lib/common/cli.ts";
import { primaryDefaults, primarySpecs } from "./lib/primary/options.ts";
import { formatJson, formatTable } from "./lib/bench/report.ts";
import { HISTORY_DEFAULTS } from "./lib/bench/history.ts";
import { formatByteSize, parseByteSize } from "./lib/common/byte_size.ts";
import type { LoadClient } from "./lib/bench/load_client.ts";
import type { SyncOn } from "./lib/primary/backend/embedded/defaults.ts";
import {
  type Cell,
  DEFAULT_MATRIX,
  DEFAULT_WORK_DIR,
  type DurabilityChoice,
  formatMatrix,
  parseMatrix,
  runBench,
  type StoreChoice,
} from "./lib/bench/run.ts";

interface BenchFlags {
  /** Run one cell with this many connections. @default {undefined} */
  connections: number | undefined;
  /** Messages in flight per connection, for that one cell. @default {undefined} */
  pipeline: number | undefined;
  /** @default {DEFAULT_MATRIX} */
  matrix: Cell[];
  /** @default {5000} */
  duration: number;
  /** @default {1000} */
  warmup: number;
  /** @default {"both"} */
  durability: DurabilityChoice;
  /** @default {3} */
  runs: number;
  /** @default {false} */
  redis: boolean;
  /** @default {"embedded"} */
  store: StoreChoice;
  /** @default {"c"} */
  client: LoadClient;
  /** @default {false} */
  noEmpty: boolean;
  /** @default {2000000} */
  replayLines: number;
  /** @default {false} */
  noReplay: boolean;
  /** Bytes of history in rotated files for the start-up over history; 0 skips it. @default {HISTORY_DEFAULTS.bytes} */
  historyBytes: number;
  /** @default {10000} */
  idleConnections: number;
  /** Our primary's --log-max-bytes. @default {1073741824} */
  logMaxBytes: number;
  /** Our primary's --log-keep. @default {Infinity} */
  logKeep: number;
  /** Also run our primary with --log-max-bytes off, interleaved. @default {false} */
  rotationBaseline: boolean;
  /** Our primary's --sync-on (fsync mode). @default {"loop"} */
  syncOn: SyncOn;
  /** Temp state and the JSON go here; the bench task may write nowhere else. @default {DEFAULT_WORK_DIR} */
  workDir: string;
  /** @default {undefined} `<work-dir>/result.json` */
  json: string | undefined;
}

const defaults: BenchFlags = {
  connections: undefined,
  pipeline: undefined,
  matrix: DEFAULT_MATRIX,
  duration: 5000,
  warmup: 1000,
  durability: "both",
  runs: 3,
  redis: false,
  store: "embedded",
  client: "c",
  noEmpty: false,
  replayLines: 2_000_000,
  noReplay: false,
  historyBytes: HISTORY_DEFAULTS.bytes,
  idleConnections: 10_000,
  logMaxBytes: primaryDefaults.logMaxBytes,
  logKeep: primaryDefaults.logKeep,
  rotationBaseline: false,
  syncOn: primaryDefaults.syncOn,
  workDir: DEFAULT_WORK_DIR,
  json: undefined,
};

const specs: FlagSpecs<BenchFlags> = {
  connections: { help: "Run one cell: connections (producers)", arg: "N", parse: parse.integer(1, 100_000) },
  pipeline: { help: "Run one cell: messages in flight per connection", arg: "N", parse: parse.integer(1, 100_000) },
  matrix: {
    help: "Cells to run, CxP separated by commas, or none",
    arg: "CELLS",
    parse: parseMatrix,
    format: formatMatrix,
  },
  duration: { help: "Measured time per run", arg: "DURATION", parse: parse.duration },
  warmup: { help: "Unmeasured load before each run", arg: "DURATION", parse: parse.duration },
  durability: {
    help: "The primary's durability mode(s): normal, fsync or both",
    arg: "MODE",
    parse: parse.oneOf("normal", "fsync", "both"),
  },
  runs: {
    help: "Interleaved runs per side per cell; each cell is their median",
    arg: "N",
    parse: parse.integer(1, 100),
  },
  redis: {
    help:
      "Also load Redis (INCRBY over RESP, same client) at each cell: appendfsync everysec beside normal, always beside fsync",
  },
  store: {
    help: "redis: at each cell also run one primary on a private redis-server, and two sharing it, beside the " +
      "embedded store (AOF on; everysec for normal durability, always for fsync)",
    arg: "STORE",
    parse: parse.oneOf("embedded", "redis"),
  },
  client: {
    help: "The load generator for every side: c (lib/bench/load_client.c, built with cc into the work dir) or " +
      "deno (lib/bench/load_worker.ts)",
    arg: "CLIENT",
    parse: parse.oneOf("c", "deno"),
  },
  noEmpty: { help: "Skip the empty Deno line server (the runtime's ceiling) at each cell" },
  replayLines: {
    help: "Like lines in the log for the start-up replay measurement",
    arg: "N",
    parse: parse.integer(1, 1_000_000_000),
  },
  noReplay: { help: "Skip the start-up measurements: replay, and start-up over history" },
  historyBytes: {
    help: `Log history (k, M, G) in ${HISTORY_DEFAULTS.files} files (the live log and rotated ones) for the ` +
      "start-up over history: " +
      "from a checkpoint, and rebuilt over the chain (0 or off skips it)",
    arg: "SIZE",
    parse: (text) => text === "0" ? 0 : parseByteSize(text),
    format: formatByteSize,
  },
  idleConnections: {
    help: "Then open this many idle producers and check memory (0 skips)",
    arg: "N",
    parse: parse.integer(0, 1_000_000),
  },
  logMaxBytes: { ...primarySpecs.logMaxBytes, help: `Our primary's log rotation: ${primarySpecs.logMaxBytes.help}` },
  logKeep: { ...primarySpecs.logKeep, help: `Our primary's log rotation: ${primarySpecs.logKeep.help}` },
  rotationBaseline: {
    help: "Also run our primary with --log-max-bytes off at each cell, interleaved with the rotating one, and " +
      "mark rotation's cost (≥ 0.9× of off) and, with a number for --log-keep, the log's disk use",
  },
  syncOn: { ...primarySpecs.syncOn, help: `Our primary's --sync-on: ${primarySpecs.syncOn.help}` },
  workDir: {
    help: "Directory for the temp state and the JSON, created if missing (the task may write only here)",
    arg: "DIR",
    parse: parse.path,
  },
  json: { help: "Where to write the result as JSON (default: <work-dir>/result.json)", arg: "FILE", parse: parse.path },
};

const HELP = {
  usage: "deno task bench [flags]",
  description:
    "Benchmarks a real primary beside the empty Deno server and, with --redis, Redis, all driven by one load\n" +
    "process, in both durability modes; then start-up replay, and start-up over a long history in rotated\n" +
    "log files. See docs/performance.md.",
};

runProgram("bench", async () => {
  const flags = parseProgramFlags(Deno.args, HELP, specs, defaults);
  if (!flags) return 0;
  const single = flags.connections !== undefined || flags.pipeline !== undefined;
  const report = await runBench({
    matrix: single ? [{ connections: flags.connections ?? 1, pipeline: flags.pipeline ?? 1 }] : flags.matrix,
    durationMs: flags.duration,
    warmupMs: flags.warmup,
    durability: flags.durability,
    runs: flags.runs,
    redis: flags.redis,
    store: flags.store,
    client: flags.client,
    empty: !flags.noEmpty,
    replayLines: flags.noReplay ? 0 : flags.replayLines,
    historyBytes: flags.noReplay ? 0 : flags.historyBytes,
    idleConnections: flags.idleConnections,
    rotation: { logMaxBytes: flags.logMaxBytes, logKeep: flags.logKeep },
    rotationBaseline: flags.rotationBaseline,
    syncOn: flags.syncOn,
    workDir: flags.workDir,
    command: ["deno task bench", ...Deno.args].join(" "),
    progress: (line) => console.error(line),
  });
  const json = flags.json ?? `${flags.workDir}/result.json`;
  await Deno.writeTextFile(json, formatJson(report));
  console.log(formatTable(report));
  console.log(`\nJSON written to ${json}`);
  return 0;
});
