/**
 * ParentProcess: launches LikesServer0..N-1, one a second, waits for them,
 * and records in <log-dir>/ParentProcessStatus when each started and ended,
 * its exit status, and every error it reported. Exit code 0 when every
 * LikesServer succeeded, else 1.
 */
import { parseProgramFlags, ProgramError, runProgram } from "./lib/common/cli.ts";
import { LineLog, LogOpenError } from "./lib/common/line_log.ts";
import { checkIntervals, formatPrimaries } from "./lib/producer/options.ts";
import { hangDeadline, parentDefaults, parentSpecs } from "./lib/supervisor/options.ts";
import { untilSignal } from "./lib/common/signals.ts";
import { supervise } from "./lib/supervisor/supervisor.ts";
import { checkGrants } from "./lib/launch/grant_check.ts";
import { checkGrantablePath, parentGrants } from "./lib/launch/permissions.ts";
import { formatStatusEntry } from "./lib/formats/status_log.ts";
import { statusLogPath } from "./lib/formats/file_names.ts";

const HELP = {
  usage: "deno task parent [flags]",
  description: "ParentProcess: launches the LikesServers and records how each one ran.",
};

runProgram("parent", async () => {
  const options = parseProgramFlags(Deno.args, HELP, parentSpecs, parentDefaults);
  if (!options) return 0;
  checkIntervals(options);
  checkGrantablePath("log-dir", options.logDir);
  // Only its own: each LikesServer is a deno process of its own, granted by its command line.
  if (!checkGrants("parent", "parent.ts", parentGrants(options), Deno.args)) return 2;

  // On SIGINT/SIGTERM the children are stopped, and their ends still recorded.
  // Caught from here on, so that a signal during start-up is never the default kill.
  const stop = new AbortController();
  const stopRequested = untilSignal().then((signal) => {
    stop.abort();
    return signal;
  });

  const statusPath = statusLogPath(options.logDir);
  let status: LineLog;
  try {
    status = LineLog.open(statusPath, { echo: true });
  } catch (error) {
    throw error instanceof LogOpenError ? new ProgramError(error.message, { cause: error }) : error;
  }
  status.line(formatStatusEntry({
    kind: "parent started",
    pid: Deno.pid,
    servers: options.servers,
    stagger: options.stagger,
    duration: options.duration,
    hungAfter: hangDeadline(options),
    // With --primaries, the comma-separated list (one word, as the format reads it).
    primary: options.primaries ? formatPrimaries(options.primaries) : `${options.host}:${options.port}`,
  }));

  stopRequested.then((signal) => status.line(formatStatusEntry({ kind: "parent stopping", signal })));
  const results = await supervise(options, status, stop.signal);
  const succeeded = results.filter((r) => r.success).length;
  const failed = options.servers - succeeded;
  status.line(formatStatusEntry({
    kind: "parent finished",
    succeeded,
    launched: results.length,
    notStarted: options.servers - results.length,
  }));
  status.close();
  return failed === 0 ? 0 : 1;
});
