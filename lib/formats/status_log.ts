/**
 * The parent's log (<log-dir>/ParentProcessStatus): how its lines are written
 * and read back. LineLog (lib/common/line_log.ts) puts the time first.
 *
 *   <time> ParentProcess started pid=<pid>: <n> LikesServers, one every <d>, each for <d> (hung after <d>), primary <host:port>
 *   <time> LikesServer<N> started pid=<pid>
 *   <time> LikesServer<N> could not be started: "<escaped error>" (status 1, failure)
 *   <time> LikesServer<N> "<a line the child wrote on stderr, escaped>"
 *   <time> LikesServer<N> hung: still running <d> after its start, killing it
 *   <time> LikesServer<N> hung: no sign of life for <d>, killing it
 *   <time> LikesServer<N> ended <status <code>|signal <SIG>> (<success|failure[, hung]>) after <d>
 *   <time> ParentProcess stopping on <signal>
 *   <time> ParentProcess finished: <n> of <n> LikesServers succeeded[, <n> not started]
 *
 * Durations read as formatDuration() writes them (850ms, 2.5s, 5m, 1m30s).
 */
import { escapeText, unescapeBytes } from "../common/escape.ts";
import { formatDuration, parseDuration } from "../common/duration.ts";
import { likesServerName } from "../protocol/names.ts";
import { splitTimedLine } from "./timed_line.ts";

/**
 * A line a LikesServer launched by the parent writes on its stderr as a sign
 * of life (lib/producer/heartbeat.ts). The parent reads every other stderr
 * line as an error and records it here; this one it never records.
 */
export const HEARTBEAT_LINE = "heartbeat";

export type StatusLogEntry =
  | {
    kind: "parent started";
    pid: number;
    servers: number;
    /** ms */
    stagger: number;
    /** ms */
    duration: number;
    /** ms after its start at which a LikesServer counts as hung; absent in older logs. */
    hungAfter?: number;
    primary: string;
  }
  | { kind: "child started"; server: number; pid: number }
  | { kind: "child not started"; server: number; error: string }
  /** A line the child wrote on stderr: an error it met. */
  | { kind: "child error"; server: number; text: string }
  /**
   * Still running `ms` after its start (see hangDeadline), or with `silent`,
   * no heartbeat nor other line for `ms` (see silenceLimit): the parent kills it.
   */
  | { kind: "child hung"; server: number; ms: number; silent?: true }
  /** `code` when it exited, `signal` when a signal ended it; `hung` when the parent killed it as hung. */
  | {
    kind: "child ended";
    server: number;
    code?: number;
    signal?: string;
    success: boolean;
    hung?: boolean;
    ms: number;
  }
  | { kind: "parent stopping"; signal: string }
  | { kind: "parent finished"; succeeded: number; launched: number; notStarted: number }
  /** A line this module does not know (written by an older or newer version); written back as it is. */
  | { kind: "other"; text: string };

/** An entry as LineLog.line() takes it: without the time and the newline. */
export function formatStatusEntry(entry: StatusLogEntry): string {
  switch (entry.kind) {
    case "parent started":
      return `ParentProcess started pid=${entry.pid}: ${entry.servers} LikesServers, one every ${
        formatDuration(entry.stagger)
      }, each for ${formatDuration(entry.duration)}${
        entry.hungAfter !== undefined ? ` (hung after ${formatDuration(entry.hungAfter)})` : ""
      }, primary ${entry.primary}`;
    case "child started":
      return `${likesServerName(entry.server)} started pid=${entry.pid}`;
    case "child not started":
      return `${likesServerName(entry.server)} could not be started: ${escapeText(entry.error)} (status 1, failure)`;
    case "child error":
      return `${likesServerName(entry.server)} ${escapeText(entry.text)}`;
    case "child hung":
      return entry.silent
        ? `${likesServerName(entry.server)} hung: no sign of life for ${formatDuration(entry.ms)}, killing it`
        : `${likesServerName(entry.server)} hung: still running ${
          formatDuration(entry.ms)
        } after its start, killing it`;
    case "child ended": {
      const how = entry.signal !== undefined ? `signal ${entry.signal}` : `status ${entry.code}`;
      const result = `${entry.success ? "success" : "failure"}${entry.hung ? ", hung" : ""}`;
      return `${likesServerName(entry.server)} ended ${how} (${result}) after ${formatDuration(entry.ms)}`;
    }
    case "parent stopping":
      return `ParentProcess stopping on ${entry.signal}`;
    case "parent finished":
      return `ParentProcess finished: ${entry.succeeded} of ${entry.launched} LikesServers succeeded` +
        (entry.notStarted > 0 ? `, ${entry.notStarted} not started` : "");
    case "other":
      return entry.text;
  }
}

/** One line of the log, read back. */
export interface StatusLogLine {
  time: Date;
  entry: StatusLogEntry;
}

const LITERAL = '("(?:[^"\\\\]|\\\\.)*")';
const PARENT_STARTED =
  /^ParentProcess started pid=(\d+): (\d+) LikesServers, one every (\S+), each for (\S+)(?: \(hung after (\S+)\))?, primary (\S+)$/;
const CHILD_STARTED = /^LikesServer(\d+) started pid=(\d+)$/;
const CHILD_NOT_STARTED = new RegExp(`^LikesServer(\\d+) could not be started: ${LITERAL} \\(status 1, failure\\)$`);
const CHILD_ERROR = new RegExp(`^LikesServer(\\d+) ${LITERAL}$`);
const CHILD_HUNG = /^LikesServer(\d+) hung: still running (\S+) after its start, killing it$/;
const CHILD_SILENT = /^LikesServer(\d+) hung: no sign of life for (\S+), killing it$/;
const CHILD_ENDED = /^LikesServer(\d+) ended (?:status (\d+)|signal (\S+)) \((success|failure)(, hung)?\) after (\S+)$/;
const PARENT_STOPPING = /^ParentProcess stopping on (\S+)$/;
const PARENT_FINISHED = /^ParentProcess finished: (\d+) of (\d+) LikesServers succeeded(?:, (\d+) not started)?$/;
const MINUTES_SECONDS = /^(\d+)m(\d+)s$/;

/** A duration as formatDuration() writes it, in ms. */
function readDuration(text: string): number {
  const m = MINUTES_SECONDS.exec(text);
  return m ? (Number(m[1]) * 60 + Number(m[2])) * 1000 : parseDuration(text);
}

const decoder = new TextDecoder();
const unescapeText = (literal: string) => decoder.decode(unescapeBytes(literal));

/** Reads an entry (a line without its time) back. */
export function parseStatusEntry(text: string): StatusLogEntry {
  let m;
  if ((m = CHILD_ERROR.exec(text))) return { kind: "child error", server: +m[1], text: unescapeText(m[2]) };
  if ((m = CHILD_STARTED.exec(text))) return { kind: "child started", server: +m[1], pid: +m[2] };
  if ((m = CHILD_ENDED.exec(text))) {
    const [, server, code, signal, success, hung, after] = m;
    const how = code !== undefined ? { code: +code } : { signal };
    return {
      kind: "child ended",
      server: +server,
      ...how,
      success: success === "success",
      ...(hung ? { hung: true } : {}),
      ms: readDuration(after),
    };
  }
  if ((m = CHILD_HUNG.exec(text))) return { kind: "child hung", server: +m[1], ms: readDuration(m[2]) };
  if ((m = CHILD_SILENT.exec(text))) {
    return { kind: "child hung", server: +m[1], ms: readDuration(m[2]), silent: true };
  }
  if ((m = CHILD_NOT_STARTED.exec(text))) {
    return { kind: "child not started", server: +m[1], error: unescapeText(m[2]) };
  }
  if ((m = PARENT_STARTED.exec(text))) {
    return {
      kind: "parent started",
      pid: +m[1],
      servers: +m[2],
      stagger: readDuration(m[3]),
      duration: readDuration(m[4]),
      ...(m[5] !== undefined ? { hungAfter: readDuration(m[5]) } : {}),
      primary: m[6],
    };
  }
  if ((m = PARENT_STOPPING.exec(text))) return { kind: "parent stopping", signal: m[1] };
  if ((m = PARENT_FINISHED.exec(text))) {
    return { kind: "parent finished", succeeded: +m[1], launched: +m[2], notStarted: m[3] === undefined ? 0 : +m[3] };
  }
  return { kind: "other", text };
}

/** Reads one line (without its newline) back; undefined when it does not start with a time (a cut line). */
export function parseStatusLine(line: string): StatusLogLine | undefined {
  const timed = splitTimedLine(line);
  return timed && { time: timed.time, entry: parseStatusEntry(timed.text) };
}
