/**
 * LikesServer<N>: for its duration, at random intervals, sends a random
 * number of likes to the primary, waits for the answer and logs both to
 * <log-dir>/LikesServer<N>. Errors also go to stderr, where the parent picks
 * them up. Exit code 0 on success, 1 on failure, 2 on bad flags.
 */
import { parseProgramFlags, ProgramError, runProgram, UsageError } from "./lib/common/cli.ts";
import { LineLog, LogOpenError } from "./lib/common/line_log.ts";
import { checkIntervals, likesServerDefaults, likesServerSpecs } from "./lib/producer/options.ts";
import { runLikesServer } from "./lib/producer/run.ts";
import { untilEndOfInput, untilSignal } from "./lib/common/signals.ts";
import { readEnvToken } from "./lib/protocol/token.ts";
import { checkGrantablePath } from "./lib/launch/permissions.ts";
import { likesServerName } from "./lib/protocol/names.ts";
import { formatLikesServerEntry } from "./lib/formats/likes_server_log.ts";
import { likesServerLogPath } from "./lib/formats/file_names.ts";
import { startHeartbeat } from "./lib/producer/heartbeat.ts";

const HELP = {
  usage: "deno run <permissions> likes_server.ts --id N [flags]",
  description: "LikesServer<N>: sends random like counts to the primary at random intervals.",
};

runProgram("likes_server", async () => {
  const options = parseProgramFlags(Deno.args, HELP, likesServerSpecs, likesServerDefaults);
  if (!options) return 0;
  const { id } = options;
  if (id === undefined) throw new UsageError("Missing --id");
  checkIntervals(options);
  checkGrantablePath("log-dir", options.logDir);

  // A stop signal lets the message in flight finish, then the loop ends.
  // Caught from here on, so that a signal during start-up is a clean stop.
  const stop = new AbortController();
  untilSignal().then(() => stop.abort());
  // Only the parent passes --parent-pipe: by hand, stdin may be a terminal or /dev/null.
  const parentGone = options.parentPipe ? untilEndOfInput(Deno.stdin.readable) : undefined;
  parentGone?.then(() => stop.abort());
  // From the start: the parent counts its silence from the launch.
  const stopHeartbeat = options.parentPipe ? startHeartbeat(options.heartbeat) : undefined;

  const name = likesServerName(id);
  const logPath = likesServerLogPath(options.logDir, id);
  let log: LineLog;
  try {
    // Locked: a second LikesServer<N> on the same log would tear it (and truncate it first).
    log = LineLog.open(logPath, { truncate: true, lock: true });
  } catch (error) {
    const hint = error instanceof LogOpenError && error.message.includes("in use")
      ? ` (is another ${name} running?)`
      : "";
    throw error instanceof LogOpenError ? new ProgramError(`${error.message}${hint}`, { cause: error }) : error;
  }
  let done = false;
  parentGone?.then(() => {
    if (!done) log.line(formatLikesServerEntry({ kind: "parent gone", server: id }));
  });

  const summary = await runLikesServer({ ...options, id }, {
    log,
    report: (text) => console.error(text),
    stop: stop.signal,
    token: readEnvToken(),
  });
  done = true;
  stopHeartbeat?.();
  log.close();
  return summary.code;
});
