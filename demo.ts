/**
 * Demo: starts a primary and a parent with the mission's defaults, shows where
 * the logs and the dashboard are and the live total, stops the primary when
 * the parent is done, and prints a per-LikesServer audit. Parent flags pass
 * through: `deno task demo --duration 20s`.
 */
import { type FlagSpecs, parse, parseProgramFlags, runProgram, UsageError } from "./lib/common/cli.ts";
import { httpAddress, primaryDefaults } from "./lib/primary/options.ts";
import { checkRedisServer, type DemoOptions, runDemo } from "./lib/tools/demo.ts";
import { checkIntervals } from "./lib/producer/options.ts";
import { parentDefaults, parentSpecs } from "./lib/supervisor/options.ts";
import { untilSignal } from "./lib/common/signals.ts";
import { checkGrants } from "./lib/launch/grant_check.ts";
import { demoGrants } from "./lib/launch/permissions.ts";

const defaults = {
  ...parentDefaults,
  http: primaryDefaults.http,
  refreshEvery: 1000,
  statusEvery: 5000,
  redis: false,
  primaryCount: 2,
} satisfies DemoOptions;
const specs: FlagSpecs<DemoOptions> = {
  ...parentSpecs,
  http: { help: "Dashboard address of the primary", arg: "HOST:PORT", parse: httpAddress },
  refreshEvery: {
    help: "How often the status line updates on a terminal",
    arg: "DURATION",
    parse: parse.positiveDuration,
  },
  statusEvery: {
    help: "How often a status line is printed on a pipe",
    arg: "DURATION",
    parse: parse.positiveDuration,
  },
  redis: { help: "Several primaries sharing one total in a local redis-server (from PATH), with failover" },
  primaryCount: { help: "With --redis: how many primaries", arg: "N", parse: parse.integer(1, 16) },
};

const HELP = {
  usage: "deno task demo [flags]",
  description: "Runs a primary and a parent, then audits the run.",
};

runProgram("demo", async () => {
  const options = parseProgramFlags(Deno.args, HELP, specs, defaults);
  if (!options) return 0;
  checkIntervals(options);
  if (options.primaries && options.redis) {
    throw new UsageError("--primaries is for primaries of your own; --redis starts its own: give one of them");
  }
  // redis-server is asked for only with --redis (the demo:redis task grants it).
  if (options.redis) await checkRedisServer();
  if (!checkGrants("demo", "demo.ts", demoGrants(options), Deno.args)) return 2;
  // Ctrl-C reaches every process of the terminal; the demo waits for them to finish cleanly.
  const stop = new AbortController();
  untilSignal().then(() => stop.abort());
  return await runDemo(options, stop.signal);
});
