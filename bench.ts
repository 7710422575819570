/**
 * `deno task bench`: load a real primary (started here, ephemeral ports, temp
 * state) from in-process connections, and report acknowledged likes/s,
 * latency percentiles, the primary's CPU and peak RSS (from its /metrics);
 * optionally beside redis-benchmark at the same connections × pipeline. Runs
 * with least privilege: see benchGrants() in lib/launch/permissions.ts.
 */
import { type FlagSpecs, parse, parseProgramFlags, runProgram } from "./lib/common/cli.ts";
import { formatJson, formatTable } from "./lib/bench/report.ts";
import { type Cell, DEFAULT_MATRIX, DEFAULT_WORK_DIR, formatMatrix, parseMatrix, runBench } from "./lib/bench/run.ts";
import type { Durability } from "./lib/primary/store.ts";

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
  /** @default {"normal"} */
  durability: Durability;
  /** @default {false} */
  redis: boolean;
  /** @default {10000} */
  idleConnections: number;
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
  durability: "normal",
  redis: false,
  idleConnections: 10_000,
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
  duration: { help: "Measured time per cell", arg: "DURATION", parse: parse.duration },
  warmup: { help: "Unmeasured load before each cell", arg: "DURATION", parse: parse.duration },
  durability: { help: "The primary's durability mode", arg: "MODE", parse: parse.oneOf("normal", "fsync") },
  redis: { help: "Also run redis-benchmark -t incr at each cell (appendfsync everysec, or always with fsync)" },
  idleConnections: {
    help: "Then open this many idle producers and check memory (0 skips)",
    arg: "N",
    parse: parse.integer(0, 1_000_000),
  },
  workDir: {
    help: "Directory for the temp state and the JSON, created if missing (the task may write only here)",
    arg: "DIR",
    parse: parse.path,
  },
  json: { help: "Where to write the result as JSON (default: <work-dir>/result.json)", arg: "FILE", parse: parse.path },
};

const HELP = {
  usage: "deno task bench [flags]",
  description: "Benchmarks a real primary with in-process producers, optionally beside Redis INCR.",
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
    redis: flags.redis,
    idleConnections: flags.idleConnections,
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
