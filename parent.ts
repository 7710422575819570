/**
 * ParentProcess: launches LikesServer0..N-1, one a second, waits for them,
 * and records in <log-dir>/ParentProcessStatus when each started and ended,
 * its exit status, and every error it reported. Exit code 0 when every
 * LikesServer succeeded, else 1.
 */
import { helpText, parseFlags, runProgram } from "./lib/common/cli.ts";
import { LineLog } from "./lib/common/line_log.ts";
import { checkIntervals, showDefault } from "./lib/producer/options.ts";
import { hangDeadline, parentDefaults, parentSpecs } from "./lib/supervisor/options.ts";
import { untilSignal } from "./lib/common/signals.ts";
import { supervise } from "./lib/supervisor/supervisor.ts";
import { formatDuration } from "./lib/common/duration.ts";
import { checkGrantablePath } from "./lib/launch/permissions.ts";

runProgram("parent", async () => {
  const options = parseFlags(Deno.args, parentSpecs, parentDefaults);
  if (!options) {
    console.log(helpText(
      "deno task parent [flags]",
      "ParentProcess: launches the LikesServers and records how each one ran.",
      parentSpecs,
      parentDefaults,
      showDefault,
    ));
    return 0;
  }
  checkIntervals(options);
  checkGrantablePath("log-dir", options.logDir);

  // On SIGINT/SIGTERM the children are stopped, and their ends still recorded.
  // Caught from here on, so that a signal during start-up is never the default kill.
  const stop = new AbortController();
  const stopRequested = untilSignal().then((signal) => {
    stop.abort();
    return signal;
  });

  const statusPath = `${options.logDir}/ParentProcessStatus`;
  let status: LineLog;
  try {
    status = LineLog.open(statusPath, { echo: true });
  } catch (error) {
    console.error(`parent: Cannot open ${statusPath}: ${(error as Error).message}`);
    return 1;
  }
  status.line(
    `ParentProcess started pid=${Deno.pid}: ${options.servers} LikesServers, one every ${
      formatDuration(options.stagger)
    }, each for ${formatDuration(options.duration)} (hung after ${
      formatDuration(hangDeadline(options))
    }), primary ${options.host}:${options.port}`,
  );

  stopRequested.then((signal) => status.line(`ParentProcess stopping on ${signal}`));
  const results = await supervise(options, status, stop.signal);
  const succeeded = results.filter((r) => r.code === 0 && !r.hung).length;
  const failed = options.servers - succeeded;
  status.line(
    `ParentProcess finished: ${succeeded} of ${results.length} LikesServers succeeded` +
      (results.length < options.servers ? `, ${options.servers - results.length} not started` : ""),
  );
  status.close();
  return failed === 0 ? 0 : 1;
});
