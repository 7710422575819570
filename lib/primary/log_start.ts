/**
 * Start-up of a log whose file is empty while a rotated one lies beside it:
 * the primary stopped (or was killed) between renaming its file and starting
 * the new one, or logrotate ran while it was down. The empty file is made
 * to continue `<log>.1`, so that the chain holds and nothing is replayed
 * from a file that looks new.
 */
import { rotatedLogPath } from "../formats/file_names.ts";
import { type ReadableLog, RotatedLog } from "../formats/log_chain.ts";
import { formatPrimaryLine, parsePrimaryLine } from "../formats/primary_log.ts";
import type { LikesLog } from "./likes_log.ts";

const decoder = new TextDecoder();

/** The running total a log file ends at, and its last journal id: read backwards. */
export function endOf(file: ReadableLog): { total: number; journal: string | undefined } {
  const chunk = 1 << 20;
  let carry = "";
  let journal: string | undefined;
  for (let to = file.size; to > 0; to -= chunk) {
    const from = Math.max(0, to - chunk);
    const lines = (decoder.decode(file.read(from, to - from)) + carry).split("\n");
    carry = from > 0 ? lines.shift()! : "";
    for (let i = lines.length - 1; i >= 0; i--) {
      const entry = parsePrimaryLine(lines[i])?.entry;
      if (entry === undefined) continue;
      if (entry.kind === "journal") journal ??= entry.id;
      if (entry.kind === "like" || entry.kind === "continues") return { total: entry.total, journal };
      if (entry.kind === "reset") return { total: 0, journal };
    }
  }
  return { total: 0, journal };
}

/** Makes an empty log continue `<log>.1` when there is one; returns the note it logged, if it did. */
export function continueEmptyLog(log: LikesLog): string | undefined {
  if (log.wholeEnd() !== 0) return undefined;
  const previous = RotatedLog.open(rotatedLogPath(log.path, 1));
  if (previous === undefined) return undefined;
  try {
    if (previous.id() === "") return undefined;
    const { total, journal } = endOf(previous);
    const note = `The log ${log.path} was empty beside ${previous.path} (a rotation interrupted, or logrotate ` +
      `while the primary was down): it continues that file from total ${total}`;
    log.truncate(0);
    const carried = journal === undefined ? "" : formatPrimaryLine({ kind: "journal", id: journal }, new Date());
    log.startContinuing(previous.id(), total, carried, note);
    return note;
  } finally {
    previous.close();
  }
}
