/**
 * PrimaryLikesLog lines, read back from bytes for the primary's start-up
 * replay: no decoding, no regex, no allocation per line (a log of millions of
 * lines must replay at over a million lines a second).
 *
 *   <time> LikesServer<N> <likes> Total <total>[ producer=<id> seq=<seq>]
 *   <time> LikesServer<N> <likes> Duplicate Total <total> producer=<id> seq=<seq>
 *   <time> LikesServer<N> <likes> Out of order Total <total> producer=<id> seq=<seq>
 *   <time> Started from zero (reset)...   the reset: total 0, every producer forgotten
 *   <time> <anything else>                 invalid data and events: no effect on the total
 *
 * <time> is ISO 8601 UTC with milliseconds, as Date.toISOString() writes it.
 */

/** What a line is, as PrimaryLogReader.read() tells it. */
export const LINE_ACCEPTED = 0;
export const LINE_DUPLICATE = 1;
export const LINE_OUT_OF_ORDER = 2;
export const LINE_RESET = 3;
export const LINE_OTHER = 4;
export const LINE_BAD = 5;
export type LineKind = 0 | 1 | 2 | 3 | 4 | 5;

/** The text of the event line that resets the total; replay honours it. */
export const RESET_EVENT = "Started from zero (reset)";

const encoder = new TextEncoder();
const LIKES_SERVER = encoder.encode("LikesServer");
const TOTAL = encoder.encode("Total ");
const DUPLICATE = encoder.encode("Duplicate ");
const OUT_OF_ORDER = encoder.encode("Out of order ");
const PRODUCER = encoder.encode(" producer=");
const SEQ = encoder.encode(" seq=");
const RESET = encoder.encode(RESET_EVENT);
const SPACE = 0x20;
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
  #producer = "";
  #producerBytes = new Uint8Array(64);
  #producerLength = -1;
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
    if (end - i < LIKES_SERVER.length || !at(bytes, i, LIKES_SERVER)) {
      if (end - i >= RESET.length && at(bytes, i, RESET)) return LINE_RESET;
      return LINE_OTHER;
    }
    i += LIKES_SERVER.length;
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
    if (bytes[i] === DUPLICATE[0] && at(bytes, i, DUPLICATE)) {
      kind = LINE_DUPLICATE;
      i += DUPLICATE.length;
    } else if (bytes[i] === OUT_OF_ORDER[0] && at(bytes, i, OUT_OF_ORDER)) {
      kind = LINE_OUT_OF_ORDER;
      i += OUT_OF_ORDER.length;
    }
    if (end - i < TOTAL.length || !at(bytes, i, TOTAL)) return this.#bad("it has no Total");
    i += TOTAL.length;
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
    while (i < end && bytes[i] !== SPACE) i++;
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
    this.#rememberProducer(bytes, idStart, idEnd);
    return kind;
  }

  #bad(reason: string): LineKind {
    this.error = reason;
    return LINE_BAD;
  }

  /** Most lines carry the same producer as the line before: reuse its string. */
  #rememberProducer(bytes: Uint8Array, start: number, end: number): void {
    const length = end - start;
    const known = this.#producerBytes;
    if (length === this.#producerLength) {
      let same = true;
      for (let k = 0; k < length; k++) {
        if (bytes[start + k] !== known[k]) {
          same = false;
          break;
        }
      }
      if (same) return;
    }
    let id = "";
    for (let k = 0; k < length; k++) id += String.fromCharCode(known[k] = bytes[start + k]);
    this.#producer = id;
    this.#producerLength = length;
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
