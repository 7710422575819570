/**
 * The load generator as its own process, so that it never shares an event
 * loop with the server it measures, and costs every side of the comparison
 * the same CPU. The bench launches it (see load_process.ts) with a grant for
 * the one address it loads. It prints `window start` and `window end` as the
 * measured window opens and closes (for the bench to sample the server's CPU
 * then), and last `result <JSON>` (a LoadSummary).
 */
import { type FlagSpecs, helpText, parse, parseFlags, runProgram } from "../common/cli.ts";
import { readProcess } from "../dashboard/metrics.ts";
import { generateLoad, type LoadProtocol } from "./load_generator.ts";
import { percentiles } from "./report.ts";
import type { LoadSummary } from "./load_process.ts";

interface WorkerFlags {
  /** @default {[]} */
  port: number[];
  /** @default {"likes"} */
  protocol: LoadProtocol;
  /** @default {1} */
  connections: number;
  /** @default {1} */
  pipeline: number;
  /** @default {5000} */
  duration: number;
  /** @default {1000} */
  warmup: number;
}

const defaults: WorkerFlags = {
  port: [],
  protocol: "likes",
  connections: 1,
  pipeline: 1,
  duration: 5000,
  warmup: 1000,
};

const specs: FlagSpecs<WorkerFlags> = {
  port: {
    help: "Port(s) on 127.0.0.1 to load, comma-separated: connections are spread over them in turn",
    arg: "PORT[,PORT…]",
    parse: (text) => text.split(",").map((item) => parse.integer(1, 65535)(item.trim())),
    format: (ports) => ports.join(","),
  },
  protocol: { help: "likes (LikesServer lines) or resp (Redis INCRBY)", arg: "P", parse: parse.oneOf("likes", "resp") },
  connections: { help: "Connections", arg: "N", parse: parse.integer(1, 100_000) },
  pipeline: { help: "Messages in flight per connection", arg: "N", parse: parse.integer(1, 100_000) },
  duration: { help: "Measured window", arg: "DURATION", parse: parse.duration },
  warmup: { help: "Unmeasured load before the window", arg: "DURATION", parse: parse.duration },
};

runProgram("load_worker", async () => {
  const flags = parseFlags(Deno.args, specs, defaults);
  if (!flags) {
    console.log(helpText("load_worker.ts --port PORT [flags]", "The bench's load generator process.", specs, defaults));
    return 0;
  }
  if (flags.port.length === 0) throw new RangeError("Cannot generate load: --port is required");
  const cpu: Record<string, number> = {};
  const load = await generateLoad(flags.port, {
    protocol: flags.protocol,
    connections: flags.connections,
    pipeline: flags.pipeline,
    durationMs: flags.duration,
    warmupMs: flags.warmup,
    onWindow: (edge) => {
      cpu[edge] = readProcess().cpuSeconds;
      console.log(`window ${edge}`);
    },
  });
  const summary: LoadSummary = {
    seconds: load.seconds,
    acknowledged: load.acknowledged,
    rejected: load.rejected,
    ...(load.firstRejection === undefined ? {} : { firstRejection: load.firstRejection }),
    unanswered: load.unanswered,
    rate: load.acknowledged / load.seconds,
    latencyMs: percentiles(load.histogram),
    loadCpuSeconds: cpu.end - cpu.start,
  };
  console.log(`result ${JSON.stringify(summary)}`);
  return 0;
});
