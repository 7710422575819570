/**
 * Notices a log file deleted or replaced while the primary runs: otherwise
 * likes would be acknowledged into a file no one can reach any more, and lost
 * at the next start.
 *
 * Deleted (the path is gone): the log is recreated at its path from the open
 * file, so no line is lost, and a line says so. Replaced (another file at the
 * path) or not recreatable: likes are answered `1 storage error` and /healthz
 * says why, until the path is free again (then the log is recreated).
 */
import type { CommitPath } from "./backend/backend.ts";
import type { Health } from "./health.ts";
import type { LikesLog } from "./likes_log.ts";

/** Checks the log every `every` ms, between batches, until the returned function is called. */
export function watchLogFile(log: LikesLog, committer: CommitPath, health: Health, every: number): () => void {
  const check = () => {
    let problem = log.check();
    if (problem === undefined) {
      committer.refuse(undefined);
      health.ok("log file");
      return;
    }
    if (problem === "was deleted") {
      try {
        log.recreate();
        const note = `The log ${log.path} was deleted while in use; recreated it from the open file ` +
          `(${log.size} bytes): no line lost`;
        console.error(`primary: ${note}`);
        committer.event(note);
        committer.refuse(undefined);
        health.ok("log file");
        return;
      } catch (error) {
        problem += ` and cannot be recreated (${(error as Error).message})`;
      }
    }
    const reason = `The log ${log.path} ${problem}: refusing likes until it is back`;
    health.fail("log file", reason);
    committer.refuse(reason);
  };
  const timer = setInterval(() => committer.betweenBatches(check), every);
  return () => clearInterval(timer);
}
