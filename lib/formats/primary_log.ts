/**
 * The primary's log (/tmp/PrimaryLikesLog): how its lines are written and read back.
 *
 *   <time> LikesServer<N> <likes> Total <total>[ producer=<id> seq=<seq>]
 *   <time> LikesServer<N> <likes> Duplicate Total <total> producer=<id> seq=<seq>
 *   <time> LikesServer<N> <likes> Out of order Total <total> producer=<id> seq=<seq>
 *   <time> Invalid data[ "<escaped bytes>"[...]][ of <length> bytes] (<reason>) from <address>
 *   <time> Invalid data from <ip>: <count> more (<bytes> bytes) not logged   (past --invalid-log-rate)
 *   <time> Started a new log with total 0 and state <state file>   (no log and no checkpoint before)
 *   <time> Recovered total <total> from <state file>
 *   <time> Started from zero (reset) with state <state file>
 *   <time> Stopped by <signal> with total <total>
 *   <time> Redis journal <id>   (on Redis: the log holds that batch of this primary's journal, and all before)
 *   <time> Continues log <id> at total <total>   (first line of a rotated-to file: the file before it, by id)
 *   <time> <other event>   (a log repair, a refused client, ...)
 *
 * The time is ISO 8601 UTC, one per committed batch. Data from clients is
 * only ever logged escaped (lib/common/escape.ts), so a line is always one
 * line of printable ASCII whatever a client sends.
 *
 * Two writers produce the same bytes: `formatPrimaryLine()` (strings, for
 * events and tests) and `PrimaryLogWriter` (bytes into one reused buffer, for
 * the commit path, where a batch holds thousands of lines). Two readers take
 * them back: `parsePrimaryLine()` (entries, for the audit and tests) and
 * `PrimaryLogReader` (fields from bytes, for the start-up replay, which must
 * read millions of lines a second). Round-trip tests hold all four together.
 */
import { escapeBytes, escapeText, unescapeBytes } from "../common/escape.ts";
import { LIKES_SERVER_PREFIX, likesServerName } from "../protocol/names.ts";
import { splitTimedLine, timedLine } from "./timed_line.ts";
import { writeDecimal } from "../common/io.ts";

const encoder = new TextEncoder();

/** A like the primary counted, or recognised as a repeat and did not count. */
export interface LikeLine {
  kind: "like";
  server: number;
  likes: number;
  /** A repeat of an already counted (producer, seq): not counted again. */
  duplicate: boolean;
  /** A seq below the producer's highest that was never counted: refused, not counted. */
  outOfOrder?: true;
  /** The running total after this line. */
  total: number;
  /** Present with `seq` or not at all; always present on a duplicate. */
  producer?: string;
  seq?: number;
}

/** A line that was not a valid message. */
export interface InvalidLine {
  kind: "invalid";
  /** The line's bytes, or their start, or undefined when none are logged (a refused token). */
  data?: Uint8Array;
  /**
   * The whole data's length, present only where the line does not hold it
   * all: `data` is its start (`"..."... of <length> bytes`) or absent
   * (`of <length> bytes`: withheld, as before authentication).
   */
  length?: number;
  /** A fixed phrase from the parser or the server. */
  reason: string;
  /** The client's address. */
  from: string;
}

/** Invalid messages from one address that went past --invalid-log-rate in the last second: counted, not logged. */
export interface UnloggedLine {
  kind: "unlogged";
  /** The IP address, without a port: one summary covers all its connections. */
  from: string;
  count: number;
  /** Their data's bytes. */
  bytes: number;
}

/** The primary started from its state file with this total. */
export interface RecoveredLine {
  kind: "recovered";
  total: number;
  state: string;
}

/** The primary found no log and no checkpoint, and started both anew. */
export interface NewLogLine {
  kind: "new";
  state: string;
}

/** The primary started from zero (--reset). */
export interface ResetLine {
  kind: "reset";
  state: string;
}

/** The primary stopped on a signal. */
export interface StoppedLine {
  kind: "stopped";
  signal: string;
  total: number;
}

/**
 * On the Redis store: the batch with this journal id (a Redis stream id,
 * `<ms>-<n>`) and every one before it are in this log. Written after the
 * batch's lines, in the same write.
 */
export interface JournalLine {
  kind: "journal";
  id: string;
}

/**
 * The first line of a log file that continues another (a rotation, a file
 * moved or truncated by logrotate): the previous file's id (LikesLog.id(),
 * the sha256 of its first line) and the running total this file starts from.
 */
export interface ContinuesLine {
  kind: "continues";
  /** sha256 (hex) of the previous file's first line. */
  id: string;
  total: number;
}

/** Any other sentence the primary logs. */
export interface EventLine {
  kind: "event";
  text: string;
}

export type PrimaryLogEntry =
  | LikeLine
  | InvalidLine
  | UnloggedLine
  | RecoveredLine
  | ResetLine
  | NewLogLine
  | StoppedLine
  | JournalLine
  | ContinuesLine
  | EventLine;

/** An entry as written to the log, without the time and the newline. */
export function formatPrimaryEntry(entry: PrimaryLogEntry): string {
  switch (entry.kind) {
    case "like": {
      const base = `${likesServerName(entry.server)} ${entry.likes} ${
        entry.duplicate ? "Duplicate " : entry.outOfOrder ? "Out of order " : ""
      }Total ${entry.total}`;
      return entry.duplicate || entry.outOfOrder || entry.producer !== undefined
        ? `${base} producer=${entry.producer} seq=${entry.seq}`
        : base;
    }
    case "invalid":
      return `Invalid data ${entry.data === undefined ? "" : escapeBytes(entry.data)}${
        invalidLength(entry.data !== undefined, entry.length)
      }(${entry.reason}) from ${entry.from}`;
    case "unlogged":
      return `Invalid data from ${entry.from}: ${entry.count} more (${entry.bytes} bytes) not logged`;
    case "recovered":
      return `Recovered total ${entry.total} from ${entry.state}`;
    case "reset":
      return `${RESET_EVENT} with state ${entry.state}`;
    case "new":
      return `Started a new log with total 0 and state ${entry.state}`;
    case "stopped":
      return `Stopped by ${entry.signal} with total ${entry.total}`;
    case "journal":
      return `${JOURNAL_WORDS}${entry.id}`;
    case "continues":
      return `${CONTINUES_WORDS}${entry.id} at total ${entry.total}`;
    case "event":
      return entry.text;
  }
}

/**
 * What follows an Invalid data line's data: `... of <length> bytes ` after a
 * cut one, `of <length> bytes ` without one, else a space (or nothing when
 * there is neither).
 */
function invalidLength(withData: boolean, length: number | undefined): string {
  if (length === undefined) return withData ? " " : "";
  return `${withData ? "... " : ""}of ${length} bytes `;
}

/** An entry as a whole log line, newline included. */
export function formatPrimaryLine(entry: PrimaryLogEntry, time: Date): string {
  return `${timedLine(formatPrimaryEntry(entry), time)}\n`;
}

/** One line of the log, read back. */
export interface PrimaryLogLine {
  time: Date;
  entry: PrimaryLogEntry;
}

const LIKE = /^LikesServer(0|[1-9]\d*) (\d+) (Duplicate |Out of order )?Total (\d+)(?: producer=(\S+) seq=(\d+))?$/;
const INVALID = /^Invalid data (?:("(?:[^"\\]|\\.)*")(?: |\.\.\. (?=of )))?(?:of (\d+) bytes )?\((.*)\) from (\S+)$/s;
const UNLOGGED = /^Invalid data from (\S+): (\d+) more \((\d+) bytes\) not logged$/;
const RECOVERED = /^Recovered total (\d+) from (.*)$/s;
const RESET = /^Started from zero \(reset\) with state (.*)$/s;
const NEW_LOG = /^Started a new log with total 0 and state (.*)$/s;
const STOPPED = /^Stopped by (\S+) with total (\d+)$/;
const JOURNAL = /^Redis journal (\d+-\d+)$/;
const JOURNAL_WORDS = "Redis journal ";
const CONTINUES = /^Continues log ([0-9a-f]{64}) at total (\d+)$/;
const CONTINUES_WORDS = "Continues log ";

/** Reads an entry (a line without its time) back; sentences it does not know come back as events. */
export function parsePrimaryEntry(text: string): PrimaryLogEntry {
  let m = LIKE.exec(text);
  if (m) {
    const [, server, likes, duplicate, total, producer, seq] = m;
    const like: LikeLine = {
      kind: "like",
      server: Number(server),
      likes: Number(likes),
      duplicate: duplicate === "Duplicate ",
      total: Number(total),
    };
    if (duplicate === "Out of order ") like.outOfOrder = true;
    if (producer !== undefined) {
      like.producer = producer;
      like.seq = Number(seq);
    }
    return like;
  }
  if ((m = INVALID.exec(text))) {
    const [, literal, length, reason, from] = m;
    const invalid: InvalidLine = { kind: "invalid", reason, from };
    if (literal !== undefined) invalid.data = unescapeBytes(literal);
    if (length !== undefined) invalid.length = Number(length);
    return invalid;
  }
  if ((m = UNLOGGED.exec(text))) return { kind: "unlogged", from: m[1], count: Number(m[2]), bytes: Number(m[3]) };
  if ((m = RECOVERED.exec(text))) return { kind: "recovered", total: Number(m[1]), state: m[2] };
  if ((m = RESET.exec(text))) return { kind: "reset", state: m[1] };
  if ((m = NEW_LOG.exec(text))) return { kind: "new", state: m[1] };
  if ((m = STOPPED.exec(text))) return { kind: "stopped", signal: m[1], total: Number(m[2]) };
  if ((m = JOURNAL.exec(text))) return { kind: "journal", id: m[1] };
  if ((m = CONTINUES.exec(text))) return { kind: "continues", id: m[1], total: Number(m[2]) };
  return { kind: "event", text };
}

/** Reads one line (without its newline) back; undefined when it does not start with a time (a cut line). */
export function parsePrimaryLine(line: string): PrimaryLogLine | undefined {
  const timed = splitTimedLine(line);
  return timed && { time: timed.time, entry: parsePrimaryEntry(timed.text) };
}

/**
 * Every line of a whole log's text, read back.
 *
 * @throws {SyntaxError} When a line does not start with a time
 */
export function parsePrimaryLog(text: string): PrimaryLogLine[] {
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  return lines.map((line, i) => {
    const parsed = parsePrimaryLine(line);
    if (!parsed) throw new SyntaxError(`Not a PrimaryLikesLog line (no time) at line ${i + 1}: ${escapeText(line)}`);
    return parsed;
  });
}

const SPACE = 0x20;
const NEWLINE = 0x0a;
const TOTAL = encoder.encode(" Total ");
const DUPLICATE_TOTAL = encoder.encode(" Duplicate Total ");
const OUT_OF_ORDER_TOTAL = encoder.encode(" Out of order Total ");
const PRODUCER = encoder.encode(" producer=");
const SEQ = encoder.encode(" seq=");
const INVALID_DATA = encoder.encode("Invalid data ");

/** `LikesServer<N> ` by N, as bytes. */
const SERVER_NAMES: Uint8Array[] = [];
function serverName(n: number): Uint8Array {
  return SERVER_NAMES[n] ??= encoder.encode(`${likesServerName(n)} `);
}

/**
 * ` producer=<id> seq=` by producer id, as bytes: encoding is an op call, too
 * slow to do per line, and one copy per line beats three.
 */
const PRODUCER_TAILS = new Map<string, Uint8Array>();
const PRODUCER_TAILS_MAX = 10_000;
function producerTail(id: string): Uint8Array {
  let bytes = PRODUCER_TAILS.get(id);
  if (bytes === undefined) {
    if (PRODUCER_TAILS.size >= PRODUCER_TAILS_MAX) PRODUCER_TAILS.clear();
    bytes = encoder.encode(` producer=${id} seq=`);
    PRODUCER_TAILS.set(id, bytes);
  }
  return bytes;
}

/** Copies `b` into `out` at `at` (room made by the caller); returns the position after it. */
function put(out: Uint8Array, at: number, b: Uint8Array): number {
  // A loop beats set()'s call overhead for the few bytes of a field.
  const n = b.length;
  if (n > 24) {
    out.set(b, at);
    return at + n;
  }
  for (let i = 0; i < n; i++) out[at++] = b[i];
  return at;
}

/** Room for a like line's numbers: three of at most 16 digits. */
const NUMBERS_ROOM = 3 * 16;

/**
 * A batch's log lines, written as bytes straight into one reused buffer: no
 * string per line and no encode per batch. Text is copied char by char when
 * it is ASCII (it nearly always is: ids and escaped data are ASCII by
 * construction) and encoded as UTF-8 otherwise, so the bytes are exactly
 * those `formatPrimaryLine()` gives.
 */
export class PrimaryLogWriter {
  #bytes = new Uint8Array(64 * 1024);
  #stamp = new Uint8Array(0);
  #stampTime = NaN;
  /** `<time> LikesServer<N> ` by N, for this batch's time: one copy instead of two per line. */
  #heads: Uint8Array[] = [];
  /** The producer of the last line and its tail: a connection's lines share one id string. */
  #lastProducer: string | undefined;
  #lastTail: Uint8Array = new Uint8Array(0);
  length = 0;

  /** The lines written since `begin()`, valid until the next write. */
  get view(): Uint8Array {
    return this.#bytes.subarray(0, this.length);
  }

  /** Empties the buffer; every line written until the next begin() gets this time. */
  begin(time: Date): void {
    this.length = 0;
    const ms = time.getTime();
    // Batches come many to a millisecond at low concurrency: the stamp, and the heads built on it, carry over.
    if (ms === this.#stampTime) return;
    this.#stampTime = ms;
    const text = `${time.toISOString()} `;
    const stamp = new Uint8Array(text.length);
    // ASCII by construction: copied without the op call an encode() costs.
    for (let i = 0; i < text.length; i++) stamp[i] = text.charCodeAt(i);
    this.#stamp = stamp;
    this.#heads = [];
  }

  #head(server: number): Uint8Array {
    let head = this.#heads[server];
    if (head === undefined) {
      const name = serverName(server);
      head = new Uint8Array(this.#stamp.length + name.length);
      head.set(this.#stamp);
      head.set(name, this.#stamp.length);
      this.#heads[server] = head;
    }
    return head;
  }

  /** Writes a like line; `producer` and `seq` are written unless it was accepted without them. */
  like(
    server: number,
    likes: number,
    outcome: "accepted" | "duplicate" | "out of order",
    total: number,
    producer?: string,
    seq?: number,
  ): void {
    const withProducer = outcome !== "accepted" || producer !== undefined;
    if (!isCount(likes) || !isCount(total) || (withProducer && !isCount(seq))) {
      return this.#oddLike(server, likes, outcome, total, producer, seq);
    }
    let tail: Uint8Array | undefined;
    if (withProducer) {
      if (producer !== this.#lastProducer || producer === undefined) {
        this.#lastTail = producerTail(String(producer));
        this.#lastProducer = producer;
      }
      tail = this.#lastTail;
    }
    const head = this.#head(server);
    const word = outcome === "accepted" ? TOTAL : outcome === "duplicate" ? DUPLICATE_TOTAL : OUT_OF_ORDER_TOTAL;
    this.#room(head.length + word.length + (tail?.length ?? 0) + NUMBERS_ROOM + 1);
    const out = this.#bytes;
    let at = put(out, this.length, head);
    at = likes < 10 ? (out[at] = 0x30 + likes, at + 1) : writeDecimal(out, at, likes);
    at = put(out, at, word);
    at = writeDecimal(out, at, total);
    if (tail !== undefined) {
      at = put(out, at, tail);
      at = writeDecimal(out, at, seq!);
    }
    out[at++] = NEWLINE;
    this.length = at;
  }

  /** like() for numbers that are not counts, written as `${value}` writes them (tests build such lines). */
  #oddLike(
    server: number,
    likes: number,
    outcome: "accepted" | "duplicate" | "out of order",
    total: number,
    producer?: string,
    seq?: number,
  ): void {
    this.#raw(this.#stamp);
    this.#raw(serverName(server));
    this.#value(likes);
    this.#raw(outcome === "accepted" ? TOTAL : outcome === "duplicate" ? DUPLICATE_TOTAL : OUT_OF_ORDER_TOTAL);
    this.#value(total);
    if (outcome !== "accepted" || producer !== undefined) {
      this.#raw(PRODUCER);
      this.#text(String(producer));
      this.#raw(SEQ);
      this.#value(seq);
    }
    this.#byte(NEWLINE);
  }

  /**
   * Writes an Invalid data line; `escaped` is the data (or its start) as
   * escapeBytes() gave it, or undefined for none; `length` the whole data's,
   * when the line does not hold it all (see InvalidLine).
   */
  invalid(escaped: string | undefined, reason: string, from: string, length?: number): void {
    this.#raw(this.#stamp);
    this.#raw(INVALID_DATA);
    if (escaped !== undefined) this.#text(escaped);
    if (length !== undefined || escaped !== undefined) this.#text(invalidLength(escaped !== undefined, length));
    this.#text(`(${reason}) from ${from}\n`);
  }

  /** Writes the line saying the log holds journal batch `id` (see JournalLine). */
  journal(id: string): void {
    this.#raw(this.#stamp);
    this.#text(`${JOURNAL_WORDS}${id}\n`);
  }

  #room(n: number): void {
    if (this.length + n <= this.#bytes.length) return;
    const grown = new Uint8Array(Math.max(this.#bytes.length * 2, this.length + n));
    grown.set(this.#bytes.subarray(0, this.length));
    this.#bytes = grown;
  }

  #byte(c: number): void {
    this.#room(1);
    this.#bytes[this.length++] = c;
  }

  #raw(b: Uint8Array): void {
    this.#room(b.length);
    this.length = put(this.#bytes, this.length, b);
  }

  #text(s: string): void {
    this.#room(s.length);
    const out = this.#bytes;
    let at = this.length;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return this.#raw(encoder.encode(s));
      out[at++] = c;
    }
    this.length = at;
  }

  /** Writes a value as `${value}` would. */
  #value(value: number | undefined): void {
    if (!isCount(value)) return this.#text(`${value}`);
    this.#room(16);
    this.length = writeDecimal(this.#bytes, this.length, value);
  }
}

/** A non-negative safe integer: written digit by digit, without a string. */
function isCount(value: number | undefined): value is number {
  return value !== undefined && Number.isSafeInteger(value) && value >= 0;
}

// ---- Reading back from bytes, for the start-up replay: no decoding, no regex, no allocation per line.

/** What a line is, as PrimaryLogReader.read() tells it. */
export const LINE_ACCEPTED = 0;
export const LINE_DUPLICATE = 1;
export const LINE_OUT_OF_ORDER = 2;
export const LINE_RESET = 3;
export const LINE_OTHER = 4;
export const LINE_BAD = 5;
/** A continuation line: `total` is the total the file starts from, `continues` the previous file's id. */
export const LINE_CONTINUES = 6;
export type LineKind = 0 | 1 | 2 | 3 | 4 | 5 | 6;

/** The text of the event line that resets the total; replay honours it. */
export const RESET_EVENT = "Started from zero (reset)";

const NAME_BYTES = encoder.encode(LIKES_SERVER_PREFIX);
const TOTAL_WORD = encoder.encode("Total ");
const DUPLICATE_WORD = encoder.encode("Duplicate ");
const OUT_OF_ORDER_WORD = encoder.encode("Out of order ");
const RESET_BYTES = encoder.encode(RESET_EVENT);
const CONTINUES_BYTES = encoder.encode(CONTINUES_WORDS);
const AT_TOTAL = encoder.encode(" at total ");
/** sha256 in hex. */
const ID_LENGTH = 64;
const ZERO = 0x30;
/** `YYYY-MM-DDTHH:MM:SS.mmmZ` */
const STAMP = 24;

function at(bytes: Uint8Array, i: number, word: Uint8Array): boolean {
  for (let k = 0; k < word.length; k++) if (bytes[i + k] !== word[k]) return false;
  return true;
}

/** The decimal number of `count` digits at `at`, or -1 when one is not a digit. */
function digits(bytes: Uint8Array, at: number, count: number): number {
  let n = 0;
  for (let i = at; i < at + count; i++) {
    const d = bytes[i] - ZERO;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/** The index after the run of digits at `from` in bytes[from, end), or -1 when there is none. */
function digitRun(bytes: Uint8Array, from: number, end: number): number {
  let i = from;
  while (i < end && bytes[i] >= ZERO && bytes[i] <= ZERO + 9) i++;
  return i > from ? i : -1;
}

/**
 * Whether `bytes[i, end)` is shaped as a like line after its name:
 * `<word ending in digits> <digits> [Duplicate |Out of order ]Total <digits>`.
 * No event the primary writes is; a like line with a byte of its name
 * changed (`LikesServeR0`) is, and must stop the replay, not pass as an event.
 */
function likeShaped(bytes: Uint8Array, i: number, end: number): boolean {
  let space = i;
  while (space < end && bytes[space] !== SPACE) space++;
  if (space === i || space === end || !(bytes[space - 1] >= ZERO && bytes[space - 1] <= ZERO + 9)) return false;
  const afterLikes = digitRun(bytes, space + 1, end);
  if (afterLikes < 0 || bytes[afterLikes] !== SPACE) return false;
  let word = afterLikes + 1;
  if (at(bytes, word, DUPLICATE_WORD)) word += DUPLICATE_WORD.length;
  else if (at(bytes, word, OUT_OF_ORDER_WORD)) word += OUT_OF_ORDER_WORD.length;
  return end - word > TOTAL_WORD.length && at(bytes, word, TOTAL_WORD) &&
    digitRun(bytes, word + TOTAL_WORD.length, end) > 0;
}

/** Producer ids the replay's reader keeps built as strings: a power of two. */
const ID_SLOTS = 4096;

/**
 * Reads lines of the primary's log one at a time, leaving the fields of the
 * last one read in its properties. One reader is reused for a whole replay.
 */
export class PrimaryLogReader {
  server = 0;
  likes = 0;
  total = 0;
  /** -1 for a line without a producer. */
  seq = -1;
  /** The line's time, ms since the epoch. */
  time = 0;
  /** Why the last line is LINE_BAD. */
  error = "";
  /** The previous file's id, after a LINE_CONTINUES. */
  continues = "";
  #producer = "";
  /** Producer ids by a hash of their bytes (see #rememberProducer). */
  readonly #idBytes: (Uint8Array | undefined)[] = new Array(ID_SLOTS).fill(undefined);
  readonly #ids: string[] = new Array(ID_SLOTS).fill("");
  readonly #stamp = new Uint8Array(STAMP);
  #stampValid = false;

  /** The producer id of the last like line read; "" when it had none. */
  get producer(): string {
    return this.seq < 0 ? "" : this.#producer;
  }

  /** Reads the line `bytes[start, end)` (without its newline). */
  read(bytes: Uint8Array, start: number, end: number): LineKind {
    if (!this.#readTime(bytes, start, end)) return this.#bad("it does not start with a time");
    let i = start + STAMP + 1;
    if (end - i < NAME_BYTES.length || !at(bytes, i, NAME_BYTES)) {
      if (end - i >= RESET_BYTES.length && at(bytes, i, RESET_BYTES)) return LINE_RESET;
      if (end - i >= CONTINUES_BYTES.length && at(bytes, i, CONTINUES_BYTES)) return this.#continues(bytes, i, end);
      // Events are rare: only they pay for telling one from a like line whose name was damaged in place.
      if (likeShaped(bytes, i, end)) return this.#bad("it reads as a like line whose server name is damaged");
      return LINE_OTHER;
    }
    i += NAME_BYTES.length;
    // Every number is read the same way: digits, no leading zero, at most 16.
    let n = 0, digits = 0;
    for (; i < end && bytes[i] !== SPACE; i++, digits++) {
      const d = bytes[i] - ZERO;
      if (d < 0 || d > 9 || digits > 15) return this.#bad("its server number is not a number");
      n = n * 10 + d;
    }
    if (digits === 0 || i === end) return this.#bad("it is a cut-off like line");
    this.server = n;
    i++;
    n = 0, digits = 0;
    for (; i < end && bytes[i] !== SPACE; i++, digits++) {
      const d = bytes[i] - ZERO;
      if (d < 0 || d > 9 || digits > 15) return this.#bad("its like count is not a number");
      n = n * 10 + d;
    }
    if (digits === 0 || i === end) return this.#bad("it is a cut-off like line");
    this.likes = n;
    i++;
    let kind: LineKind = LINE_ACCEPTED;
    if (bytes[i] === DUPLICATE_WORD[0] && at(bytes, i, DUPLICATE_WORD)) {
      kind = LINE_DUPLICATE;
      i += DUPLICATE_WORD.length;
    } else if (bytes[i] === OUT_OF_ORDER_WORD[0] && at(bytes, i, OUT_OF_ORDER_WORD)) {
      kind = LINE_OUT_OF_ORDER;
      i += OUT_OF_ORDER_WORD.length;
    }
    if (end - i < TOTAL_WORD.length || !at(bytes, i, TOTAL_WORD)) return this.#bad("it has no Total");
    i += TOTAL_WORD.length;
    n = 0, digits = 0;
    for (; i < end && bytes[i] !== SPACE; i++, digits++) {
      const d = bytes[i] - ZERO;
      if (d < 0 || d > 9 || digits > 15) return this.#bad("its Total is not a number");
      n = n * 10 + d;
    }
    if (digits === 0) return this.#bad("its Total is not a number");
    this.total = n;
    this.seq = -1;
    if (i === end) {
      return kind === LINE_ACCEPTED ? kind : this.#bad("a duplicate or out-of-order line has no producer");
    }
    if (end - i < PRODUCER.length || !at(bytes, i, PRODUCER)) return this.#bad("it has text after its Total");
    i += PRODUCER.length;
    const idStart = i;
    // The id's hash is taken in the same pass that finds its end (see #rememberProducer).
    let hash = 0x811c9dc5;
    for (let c; i < end && (c = bytes[i]) !== SPACE; i++) hash = Math.imul(hash ^ c, 0x01000193);
    const idEnd = i;
    if (idEnd === idStart || idEnd - idStart > 64) return this.#bad("its producer id is empty or too long");
    if (end - i < SEQ.length || !at(bytes, i, SEQ)) return this.#bad("it has a producer but no seq");
    i += SEQ.length;
    n = 0, digits = 0;
    for (; i < end; i++, digits++) {
      const d = bytes[i] - ZERO;
      if (d < 0 || d > 9 || digits > 15) return this.#bad("its seq is not a number");
      n = n * 10 + d;
    }
    if (digits === 0 || !Number.isSafeInteger(n)) return this.#bad("its seq is not a number");
    this.seq = n;
    this.#rememberProducer(bytes, idStart, idEnd, hash);
    return kind;
  }

  /** `Continues log <id> at total <total>` from `i`: rare, so it may build a string. */
  #continues(bytes: Uint8Array, i: number, end: number): LineKind {
    i += CONTINUES_BYTES.length;
    let id = "";
    for (let k = 0; k < ID_LENGTH; k++) {
      const c = bytes[i + k];
      if (!((c >= ZERO && c <= ZERO + 9) || (c >= 0x61 && c <= 0x66))) return this.#bad("its log id is not a sha256");
      id += String.fromCharCode(c);
    }
    i += ID_LENGTH;
    if (end - i <= AT_TOTAL.length || !at(bytes, i, AT_TOTAL)) return this.#bad("it has no total");
    i += AT_TOTAL.length;
    const last = digitRun(bytes, i, end);
    if (last !== end || end - i > 16) return this.#bad("its total is not a number");
    this.total = digits(bytes, i, end - i);
    this.continues = id;
    return LINE_CONTINUES;
  }

  #bad(reason: string): LineKind {
    this.error = reason;
    return LINE_BAD;
  }

  /**
   * The id string for the producer bytes `bytes[start, end)`: the same
   * string object every time the same id comes back. Building a string per
   * line, and hashing it anew in the replay's map, cost more than the rest of
   * the line; an FNV-1a hash of the bytes finds the string already built.
   */
  #rememberProducer(bytes: Uint8Array, start: number, end: number, hash: number): void {
    const length = end - start;
    const slot = (hash >>> 0) & (ID_SLOTS - 1);
    const known = this.#idBytes[slot];
    if (known !== undefined && known.length === length) {
      let same = true;
      for (let k = 0; k < length; k++) {
        if (bytes[start + k] !== known[k]) {
          same = false;
          break;
        }
      }
      if (same) {
        this.#producer = this.#ids[slot];
        return;
      }
    }
    let id = "";
    for (let k = start; k < end; k++) id += String.fromCharCode(bytes[k]);
    // A collision simply replaces the slot: the cache only saves work.
    this.#idBytes[slot] = bytes.slice(start, end);
    this.#ids[slot] = id;
    this.#producer = id;
  }

  /** Every line of a batch has the same time: parse it only when it changes. */
  #readTime(bytes: Uint8Array, start: number, end: number): boolean {
    if (end - start < STAMP + 2 || bytes[start + STAMP] !== SPACE) return false;
    const stamp = this.#stamp;
    if (this.#stampValid) {
      let same = true;
      for (let k = STAMP - 1; k >= 0; k--) {
        if (bytes[start + k] !== stamp[k]) {
          same = false;
          break;
        }
      }
      if (same) return true;
    }
    this.#stampValid = false;
    const separators = bytes[start + 4] === 0x2d && bytes[start + 7] === 0x2d && bytes[start + 10] === 0x54 &&
      bytes[start + 13] === 0x3a && bytes[start + 16] === 0x3a && bytes[start + 19] === 0x2e &&
      bytes[start + 23] === 0x5a;
    if (!separators) return false;
    const year = digits(bytes, start, 4);
    const month = digits(bytes, start + 5, 2);
    const day = digits(bytes, start + 8, 2);
    const hour = digits(bytes, start + 11, 2);
    const minute = digits(bytes, start + 14, 2);
    const second = digits(bytes, start + 17, 2);
    const ms = digits(bytes, start + 20, 3);
    if ((year | month | day | hour | minute | second | ms) < 0) return false;
    this.time = Date.UTC(year, month - 1, day, hour, minute, second, ms);
    stamp.set(bytes.subarray(start, start + STAMP));
    this.#stampValid = true;
    return true;
  }
}
