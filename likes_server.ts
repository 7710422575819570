/**
 * LikesServer<N>: for its duration, at random intervals, sends a random
 * number of likes to the primary, waits for the answer and logs both to
 * <log-dir>/LikesServer<N>. Errors also go to stderr, where the parent picks
 * them up. Exit code 0 on success, 1 on failure, 2 on bad flags.
 */
import { helpText, parseFlags, runProgram, UsageError } from "./lib/common/cli.ts";
import { LineLog } from "./lib/common/line_log.ts";
import { checkIntervals, likesServerDefaults, likesServerSpecs, showDefault } from "./lib/producer/options.ts";
import { runLikesServer } from "./lib/producer/run.ts";
import { untilEndOfInput, untilSignal } from "./lib/common/signals.ts";
import { readEnvToken } from "./lib/protocol/token.ts";
import { checkGrantablePath } from "./lib/launch/permissions.ts";

runProgram("likes_server", async () => {
  const options = parseFlags(Deno.args, likesServerSpecs, likesServerDefaults);
  if (!options) {
    console.log(helpText(
      "deno run <permissions> likes_server.ts --id N [flags]",
      "LikesServer<N>: sends random like counts to the primary at random intervals.",
      likesServerSpecs,
      likesServerDefaults,
      showDefault,
    ));
    return 0;
  }
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

  const name = `LikesServer${id}`;
  const logPath = `${options.logDir}/${name}`;
  let log: LineLog;
  try {
    // Locked: a second LikesServer<N> on the same log would tear it (and truncate it first).
    log = LineLog.open(logPath, { truncate: true, lock: true });
  } catch (error) {
    const hint = error instanceof Error && error.message.includes("in use") ? ` (is another ${name} running?)` : "";
    console.error(`error: cannot open log ${logPath}: ${(error as Error).message}${hint}`);
    return 1;
  }
  let done = false;
  parentGone?.then(() => {
    if (!done) log.line(`${name} parent gone (its pipe on stdin closed): stopping`);
  });

  const summary = await runLikesServer({ ...options, id }, {
    log,
    report: (text) => console.error(text),
    stop: stop.signal,
    token: readEnvToken(),
  });
  done = true;
  log.close();
  return summary.code;
});
