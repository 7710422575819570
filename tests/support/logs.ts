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
