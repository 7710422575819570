/** Test support: the logs a run left behind, read back with the formats' own parsers. */
import { parsePrimaryLog, type PrimaryLogEntry } from "../../lib/formats/primary_log.ts";
import { type LikesServerLogEntry, parseLikesServerLine } from "../../lib/formats/likes_server_log.ts";
import { parseStatusLine, type StatusLogEntry } from "../../lib/formats/status_log.ts";

function lines(text: string): string[] {
  const all = text.split("\n");
  if (all.at(-1) === "") all.pop();
  return all;
}

function timed<T>(what: string, line: string, parsed: { entry: T } | undefined): T {
  if (!parsed) throw new Error(`Not a ${what} line (no time): ${JSON.stringify(line)}`);
  return parsed.entry;
}

/** The entries of a PrimaryLikesLog file; throws on a line that has no time. */
export function primaryEntries(path: string): PrimaryLogEntry[] {
  return parsePrimaryLog(Deno.readTextFileSync(path)).map((line) => line.entry);
}

/** The entries of a LikesServer log's text; throws on a line that has no time. */
export function likesServerEntries(text: string): LikesServerLogEntry[] {
  return lines(text).map((line) => timed("LikesServer log", line, parseLikesServerLine(line)));
}

/** The entries of a ParentProcessStatus text; throws on a line that has no time. */
export function statusEntries(text: string): StatusLogEntry[] {
  return lines(text).map((line) => timed("ParentProcessStatus", line, parseStatusLine(line)));
}

/**
 * Polls the log at `path` until one of its entries, as `read` parses them, is
 * `found`; returns them all. A line still being written reads as not there yet.
 */
export async function untilEntry<T>(
  path: string,
  read: (text: string) => T[],
  found: (entry: T) => boolean,
  deadline = 15_000,
): Promise<T[]> {
  const end = Date.now() + deadline;
  while (true) {
    const text = await Deno.readTextFile(path).catch(() => "");
    let entries: T[] = [];
    try {
      entries = read(text);
    } catch { /* a line cut short mid-write */ }
    if (entries.some(found)) return entries;
    if (Date.now() > end) throw new Error(`${path} had no such entry within ${deadline}ms: ${text}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The log files of `log` that exist, newest first: the live one, then .1, .2 … */
export function logFiles(log: string): string[] {
  const found = [log];
  for (let n = 1;; n++) {
    try {
      Deno.statSync(`${log}.${n}`);
      found.push(`${log}.${n}`);
    } catch {
      return found;
    }
  }
}
