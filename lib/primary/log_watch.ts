/**
 * Notices the log's file deleted, moved, truncated or replaced while the
 * primary runs: otherwise likes would be acknowledged into a file no one can
 * reach any more, and lost at the next start. Checked before any batch is
 * written into a file that is not as the primary left it (one lstat per
 * batch), every `every` ms, and at once on SIGHUP (logrotate's postrotate).
 *
 * - Moved (renamed, still linked: logrotate's default): the log goes on in a
 *   new file at the path, or in the empty one of our owner waiting there
 *   (logrotate's `create`), whose first line continues the moved one. No
 *   like is refused.
 * - Truncated under us (logrotate's `copytruncate`): the file starts again
 *   with a continuation line, and one line says how many bytes it lost (they
 *   are in logrotate's copy, but for what was written while it copied).
 * - Deleted (no link left): recreated at its path from the open file, so no
 *   line is lost, and a line says so.
 * - Replaced by another file that is not empty or not ours, or not
 *   recoverable: likes are answered `1 storage error` and /healthz says why,
 *   until the path is free again. That is not rotation.
 */
import type { CommitPath } from "./backend/backend.ts";
import type { Health } from "./health.ts";
import type { LikesLog } from "./likes_log.ts";
import { onSignal } from "../common/signals.ts";

/** Checks the log before writes into a changed file, every `every` ms and on SIGHUP, until the returned function is called. */
export function watchLogFile(log: LikesLog, committer: CommitPath, health: Health, every: number): () => void {
  const say = (note: string) => {
    console.error(`primary: ${note}`);
  };
  const check = () => {
    try {
      const lost = log.truncatedBy();
      if (lost > 0) {
        const total = committer.loggedTotal();
        const note = `The log ${log.path} was truncated under the primary (logrotate's copytruncate?): it lost ` +
          `${lost} bytes, which are in the copy made before it (but for any written while it was made); ` +
          `it continues from total ${total}`;
        log.continueTruncated(total, note);
        say(note);
      }
    } catch (error) {
      return refuse(`was truncated and cannot go on (${(error as Error).message})`);
    }
    let problem = log.check();
    if (problem === undefined) return ok();
    if (problem === "was moved") {
      const total = committer.loggedTotal();
      const note = `The log ${log.path} was moved away (as logrotate renames it); the moved file is complete, ` +
        `and the log continues here from total ${total}`;
      try {
        log.continueAtPath(total, note);
        say(note);
        return ok();
      } catch (error) {
        problem += ` and cannot go on at its path (${(error as Error).message})`;
      }
    }
    if (problem === "was deleted") {
      try {
        log.recreate();
        const note = `The log ${log.path} was deleted while in use; recreated it from the open file ` +
          `(${log.size} bytes): no line lost`;
        say(note);
        committer.event(note);
        return ok();
      } catch (error) {
        problem += ` and cannot be recreated (${(error as Error).message})`;
      }
    }
    refuse(problem);
  };
  const ok = () => {
    committer.refuse(undefined);
    health.ok("log file");
  };
  const refuse = (problem: string) => {
    const reason = `The log ${log.path} ${problem}: refusing likes until it is back`;
    health.fail("log file", reason);
    committer.refuse(reason);
  };
  committer.watchLog(check);
  const timer = setInterval(() => committer.betweenBatches(check), every);
  const stopHangup = onSignal("SIGHUP", () => committer.betweenBatches(check));
  return () => {
    clearInterval(timer);
    stopHangup();
  };
}
