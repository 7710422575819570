/**
 * `deno task bench`: load a real primary (started here, ephemeral port, temp
 * state) from in-process connections, and report acknowledged likes/s,
 * latency percentiles, the primary's CPU and peak RSS; optionally beside
 * redis-benchmark at the same connections × pipeline. Needs -A: it reads the
 * primary's /proc entries.
 */
import { type FlagSpecs, helpText, parse, parseFlags, runProgram } from "./lib/cli.ts";
import { formatDuration } from "./lib/duration.ts";
import { formatJson, formatTable } from "./lib/bench_report.ts";
import { type Cell, DEFAULT_MATRIX, formatMatrix, parseMatrix, runBench } from "./lib/bench_run.ts";
import type { Durability } from "./lib/store.ts";

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
  /** @default {"/tmp/likes-bench.json"} */
  json: string;
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
  json: "/tmp/likes-bench.json",
};

const specs: FlagSpecs<BenchFlags> = {
  connections: { help: "Run one cell: connections (producers)", arg: "N", parse: parse.integer(1, 100_000) },
  pipeline: { help: "Run one cell: messages in flight per connection", arg: "N", parse: parse.integer(1, 100_000) },
  matrix: { help: "Cells to run, CxP separated by commas, or none", arg: "CELLS", parse: parseMatrix },
  duration: { help: "Measured time per cell", arg: "DURATION", parse: parse.duration },
  warmup: { help: "Unmeasured load before each cell", arg: "DURATION", parse: parse.duration },
  durability: { help: "The primary's durability mode", arg: "MODE", parse: parse.oneOf("normal", "fsync") },
  redis: { help: "Also run redis-benchmark -t incr at each cell (appendfsync everysec, or always with fsync)" },
  idleConnections: {
    help: "Then open this many idle producers and check memory (0 skips)",
    arg: "N",
    parse: parse.integer(0, 1_000_000),
  },
  json: { help: "Where to write the result as JSON", arg: "FILE", parse: parse.path },
};

runProgram("bench", async () => {
  const flags = parseFlags(Deno.args, specs, defaults);
  if (!flags) {
    console.log(helpText(
      "deno task bench [flags]",
      "Benchmarks a real primary with in-process producers, optionally beside Redis INCR.",
      specs,
      defaults,
      (key, value) =>
        key === "matrix"
          ? formatMatrix(value as Cell[])
          : key === "duration" || key === "warmup"
          ? formatDuration(value as number)
          : String(value),
    ));
    return 0;
  }
  const single = flags.connections !== undefined || flags.pipeline !== undefined;
  const report = await runBench({
    matrix: single ? [{ connections: flags.connections ?? 1, pipeline: flags.pipeline ?? 1 }] : flags.matrix,
    durationMs: flags.duration,
    warmupMs: flags.warmup,
    durability: flags.durability,
    redis: flags.redis,
    idleConnections: flags.idleConnections,
    command: ["deno task bench", ...Deno.args].join(" "),
    progress: (line) => console.error(line),
  });
  await Deno.writeTextFile(flags.json, formatJson(report));
  console.log(formatTable(report));
  console.log(`\nJSON written to ${flags.json}`);
  return 0;
});
