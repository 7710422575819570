/**
 * Demo: starts a primary and a parent with the mission's defaults, shows where
 * the logs and the dashboard are and the live total, stops the primary when
 * the parent is done, and prints a per-LikesServer audit. Parent flags pass
 * through: `deno task demo --duration 20s`.
 */
import { type FlagSpecs, helpText, parse, parseFlags, runProgram, UsageError } from "./lib/common/cli.ts";
import { httpAddress } from "./lib/primary/options.ts";
import { type DemoOptions, runDemo } from "./lib/tools/demo.ts";
import { checkIntervals, showDefault } from "./lib/producer/options.ts";
import { parentDefaults, parentSpecs } from "./lib/supervisor/options.ts";
import { untilSignal } from "./lib/common/signals.ts";

const defaults = { ...parentDefaults, http: "127.0.0.1:4243", redis: false, primaryCount: 2 } satisfies DemoOptions;
const specs: FlagSpecs<DemoOptions> = {
  ...parentSpecs,
  http: { help: "Dashboard address of the primary", arg: "HOST:PORT", parse: httpAddress },
  redis: { help: "Several primaries sharing one total in a local redis-server (from PATH), with failover" },
  primaryCount: { help: "With --redis: how many primaries", arg: "N", parse: parse.integer(1, 16) },
};

runProgram("demo", async () => {
  const options = parseFlags(Deno.args, specs, defaults);
  if (!options) {
    console.log(
      helpText(
        "deno task demo [flags]",
        "Runs a primary and a parent, then audits the run.",
        specs,
        defaults,
        showDefault,
      ),
    );
    return 0;
  }
  checkIntervals(options);
  if (options.primaries && options.redis) {
    throw new UsageError("--primaries is for primaries of your own; --redis starts its own: give one of them");
  }
  // Ctrl-C reaches every process of the terminal; the demo waits for them to finish cleanly.
  const stop = new AbortController();
  untilSignal().then(() => stop.abort());
  return await runDemo(options, stop.signal);
});
