/**
 * A LikesServer's own log (<log-dir>/LikesServer<N>): how its lines are
 * written and read back. LineLog (lib/common/line_log.ts) puts the time first.
 *
 *   <time> LikesServer<N> started producer=<id> pid=<pid> primary=<host:port>[ primaries=<host:port>,…]
 *   <time> LikesServer<N> <likes> 0 seq=<seq>                          acknowledged
 *   <time> LikesServer<N> <likes> unacknowledged seq=<seq> (<why>)     given up
 *   <time> LikesServer<N> <likes> answered "<reply>" seq=<seq>         plain mode: any reply
 *   <time> LikesServer<N> <likes> unknown seq=<seq> (<why>)            plain mode: sent, no reply
 *   <time> LikesServer<N> discarded <n> bytes after a reply              read past replies since the last message
 *   <time> LikesServer<N> <phase> error: <message> (attempt <n>, <next>)
 *   <time> LikesServer<N> parent gone (its pipe on stdin closed): stopping
 *   <time> LikesServer<N> <finished|stopped|failed>: sent <n> acked <n> likes <n>
 *
 * `<why>` is `rejected: "<the primary's reply, escaped>"`, `answered "<reply>", not 0
 * or 1: …` (a peer that is not a likes primary), or a fixed phrase.
 * An error message is ours or the OS's; any control character in it is
 * written as a \u escape, so that it stays on its line.
 */
import { escapeText, unescapeBytes } from "../common/escape.ts";
import { likesServerName } from "../protocol/names.ts";
import { splitTimedLine } from "./timed_line.ts";

/** Why a message was not acknowledged. */
export type Unacknowledged =
  | { kind: "rejected"; reply: string }
  /** A reply that is neither `0…` nor `1…`: the peer is not a likes primary. */
  | { kind: "foreign"; reply: string }
  | { kind: "abandoned"; why: string };

export type LikesServerLogEntry =
  | {
    kind: "started";
    server: number;
    producer: string;
    pid: number;
    primary: string;
    /** With --primaries: every primary it may fail over to, comma-separated. */
    primaries?: string;
  }
  | { kind: "acked"; server: number; likes: number; seq: number }
  | { kind: "unacknowledged"; server: number; likes: number; seq: number; reason: Unacknowledged }
  | { kind: "answered"; server: number; likes: number; seq: number; reply: string }
  | { kind: "unknown"; server: number; likes: number; seq: number; why: string }
  /** Bytes read past the ends of replies (padding, leftovers) since the last message, thrown away. */
  | { kind: "discarded"; server: number; bytes: number }
  | { kind: "send error"; server: number; phase: string; message: string; attempt: number; next: string }
  /** With --parent-pipe: stdin ended, so the parent is gone and the LikesServer stops. */
  | { kind: "parent gone"; server: number }
  | {
    kind: "ended";
    server: number;
    how: "finished" | "stopped" | "failed";
    sent: number;
    acked: number;
    likes: number;
  }
  /** A line this module does not know (written by an older or newer version); written back as it is. */
  | { kind: "other"; text: string };

// C0, DEL, C1 and the Unicode line and paragraph separators.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/** `text` with its control characters written as \u escapes. */
function oneLine(text: string): string {
  return text.replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Why a message was not acknowledged, as the log gives it: the reply escaped, or the phrase. */
export function describeUnacknowledged(reason: Unacknowledged): string {
  switch (reason.kind) {
    case "rejected":
      return `rejected: ${escapeText(reason.reply)}`;
    case "foreign":
      return `answered ${escapeText(reason.reply)}, ${FOREIGN}`;
    case "abandoned":
      return oneLine(reason.why);
  }
}

const FOREIGN = "not 0 or 1: not a likes primary (for a seed-era primary, use --protocol plain)";

/** A failed send, as the log gives it after the name (and the LikesServer reports it to the parent). */
export function describeSendError(error: { phase: string; message: string; attempt: number; next: string }): string {
  return `${error.phase} error: ${oneLine(error.message)} (attempt ${error.attempt}, ${error.next})`;
}

/** An entry as LineLog.line() takes it: without the time and the newline. */
export function formatLikesServerEntry(entry: LikesServerLogEntry): string {
  if (entry.kind === "other") return entry.text;
  const name = likesServerName(entry.server);
  switch (entry.kind) {
    case "started":
      return `${name} started producer=${entry.producer} pid=${entry.pid} primary=${entry.primary}${
        entry.primaries === undefined ? "" : ` primaries=${entry.primaries}`
      }`;
    case "acked":
      return `${name} ${entry.likes} 0 seq=${entry.seq}`;
    case "unacknowledged":
      return `${name} ${entry.likes} unacknowledged seq=${entry.seq} (${describeUnacknowledged(entry.reason)})`;
    case "answered":
      return `${name} ${entry.likes} answered ${escapeText(entry.reply)} seq=${entry.seq}`;
    case "unknown":
      return `${name} ${entry.likes} unknown seq=${entry.seq} (${oneLine(entry.why)})`;
    case "discarded":
      return `${name} discarded ${entry.bytes} bytes after a reply`;
    case "send error":
      return `${name} ${describeSendError(entry)}`;
    case "parent gone":
      return `${name} parent gone (its pipe on stdin closed): stopping`;
    case "ended":
      return `${name} ${entry.how}: sent ${entry.sent} acked ${entry.acked} likes ${entry.likes}`;
  }
}

/** One line of the log, read back. */
export interface LikesServerLogLine {
  time: Date;
  entry: LikesServerLogEntry;
}

const STARTED = /^LikesServer(\d+) started producer=(\S+) pid=(\d+) primary=(\S+)(?: primaries=(\S+))?$/;
const ACKED = /^LikesServer(\d+) (\d+) 0 seq=(\d+)$/;
const UNACKNOWLEDGED = /^LikesServer(\d+) (\d+) unacknowledged seq=(\d+) \((.*)\)$/s;
const REJECTED = /^rejected: ("(?:[^"\\]|\\.)*")$/;
const FOREIGN_REPLY = /^answered ("(?:[^"\\]|\\.)*"), not 0 or 1: /;
const ANSWERED = /^LikesServer(\d+) (\d+) answered ("(?:[^"\\]|\\.)*") seq=(\d+)$/;
const UNKNOWN = /^LikesServer(\d+) (\d+) unknown seq=(\d+) \((.*)\)$/s;
const DISCARDED = /^LikesServer(\d+) discarded (\d+) bytes after a reply$/;
const SEND_ERROR = /^LikesServer(\d+) (\w+) error: (.*) \(attempt (\d+), ([^()]*)\)$/s;
const PARENT_GONE = /^LikesServer(\d+) parent gone \(its pipe on stdin closed\): stopping$/;
const ENDED = /^LikesServer(\d+) (finished|stopped|failed): sent (\d+) acked (\d+) likes (\d+)$/;

function decodeEscaped(literal: string): string {
  return new TextDecoder().decode(unescapeBytes(literal));
}

/** Reads an entry (a line without its time) back. */
export function parseLikesServerEntry(text: string): LikesServerLogEntry {
  let m;
  if ((m = ACKED.exec(text))) return { kind: "acked", server: +m[1], likes: +m[2], seq: +m[3] };
  if ((m = UNACKNOWLEDGED.exec(text))) {
    const rejected = REJECTED.exec(m[4]);
    const foreign = FOREIGN_REPLY.exec(m[4]);
    const reason: Unacknowledged = rejected
      ? { kind: "rejected", reply: decodeEscaped(rejected[1]) }
      : foreign
      ? { kind: "foreign", reply: decodeEscaped(foreign[1]) }
      : { kind: "abandoned", why: m[4] };
    return { kind: "unacknowledged", server: +m[1], likes: +m[2], seq: +m[3], reason };
  }
  if ((m = ANSWERED.exec(text))) {
    return { kind: "answered", server: +m[1], likes: +m[2], seq: +m[4], reply: decodeEscaped(m[3]) };
  }
  if ((m = UNKNOWN.exec(text))) return { kind: "unknown", server: +m[1], likes: +m[2], seq: +m[3], why: m[4] };
  if ((m = STARTED.exec(text))) {
    const started = { kind: "started", server: +m[1], producer: m[2], pid: +m[3], primary: m[4] } as const;
    return m[5] === undefined ? started : { ...started, primaries: m[5] };
  }
  if ((m = DISCARDED.exec(text))) return { kind: "discarded", server: +m[1], bytes: +m[2] };
  if ((m = SEND_ERROR.exec(text))) {
    return { kind: "send error", server: +m[1], phase: m[2], message: m[3], attempt: +m[4], next: m[5] };
  }
  if ((m = PARENT_GONE.exec(text))) return { kind: "parent gone", server: +m[1] };
  if ((m = ENDED.exec(text))) {
    const how = m[2] as "finished" | "stopped" | "failed";
    return { kind: "ended", server: +m[1], how, sent: +m[3], acked: +m[4], likes: +m[5] };
  }
  return { kind: "other", text };
}

/** Reads one line (without its newline) back; undefined when it does not start with a time (a cut line). */
export function parseLikesServerLine(line: string): LikesServerLogLine | undefined {
  const timed = splitTimedLine(line);
  return timed && { time: timed.time, entry: parseLikesServerEntry(timed.text) };
}
