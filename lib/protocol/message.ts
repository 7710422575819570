/**
 * The line protocol, parsed straight from bytes (no decoding, no regex: this
 * runs once per message on the primary's hot path).
 *
 *   LikesServer<N> <likes>                  counted as it arrives
 *   LikesServer<N> <likes> <producer> <seq> counted once per (producer, seq)
 *   AUTH <token>                            first line, when the primary wants a token
 *
 * Seed-era clients (written against the original assignment in C) pad and
 * spell their messages loosely, so the likes forms accept padding: trailing
 * spaces, tabs and CRs, runs of spaces or tabs between fields, and the name
 * as `LikesServer` or `LikeServer` in any letter case (logged canonically,
 * since the log is written from the parsed server number). Content stays
 * strict: digits only, no leading zeros, limits enforced; only a seed-era
 * connection's like count may have leading zeros (`LikeServer9 06`, from a
 * `%02d`), as the original's `sscanf("%d")` read it. AUTH keeps one
 * trailing CR only, so that a token's own spaces are never trimmed. Which
 * `1 <reason>` replies are worth retrying is in replies.ts.
 */
import { LIKES_SERVER_PREFIX, MAX_SERVER_ID, SERVER_ID_DIGITS } from "./names.ts";

/** A like count from one LikesServer. */
export interface Like {
  kind: "like";
  /** N in `LikesServer<N>`. */
  server: number;
  likes: number;
  /** Identity of the sending process run; present with `seq` or not at all. */
  producer?: string;
  seq?: number;
}

export interface Auth {
  kind: "auth";
  token: Uint8Array;
}

export interface Invalid {
  kind: "invalid";
  /** A fixed phrase, never outside data, so it is safe in replies and logs. */
  reason: string;
}

export type Message = Like | Auth | Invalid;

/** The most likes one message may carry unless configured otherwise: the original's 42. */
export const DEFAULT_MAX_LIKES = 42;

/** Limits the parser enforces. */
export interface ParseOptions {
  /** Highest accepted like count. @default {42} */
  maxLikes?: number;
  /** Reuses the producer id string a connection sent last (see ProducerIds). @default {undefined} */
  producerIds?: ProducerIds;
  /**
   * Accepts leading zeros in the like count, as a seed-era client's `%02d`
   * writes it: for connections that have never sent a newline. @default {false}
   */
  leadingZeros?: boolean;
}

/** Longest producer id. */
export const MAX_PRODUCER_LENGTH = 64;
/** Sequence numbers stay exact integers in JavaScript and in SQLite. */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;

const SPACE = 0x20;
const TAB = 0x09;
const CR = 0x0d;
const ZERO = 0x30;
const NINE = 0x39;
/** `likeserver` in lower case; the `s` after `like` is optional. */
const NAME_HEAD = new TextEncoder().encode("like");
const NAME_TAIL = new TextEncoder().encode("server");
const AUTH = new TextEncoder().encode("AUTH ");
const PREFIX = new TextEncoder().encode(LIKES_SERVER_PREFIX);

function invalid(reason: string): Invalid {
  return { kind: "invalid", reason };
}

function startsWith(bytes: Uint8Array, start: number, end: number, prefix: Uint8Array): boolean {
  if (end - start < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[start + i] !== prefix[i]) return false;
  return true;
}

const isGap = (c: number): boolean => c === SPACE || c === TAB;

/** True when `bytes[start..]` holds `tail` in any letter case (ASCII letters only). */
function matchesFolded(bytes: Uint8Array, start: number, end: number, tail: Uint8Array): boolean {
  if (end - start < tail.length) return false;
  for (let i = 0; i < tail.length; i++) if ((bytes[start + i] | 0x20) !== tail[i]) return false;
  return true;
}

/**
 * Where the number after `LikesServer`/`LikeServer` (any case) starts, or -1.
 * The exact spelling is tried first: it is what our own LikesServers send.
 */
function nameEnd(bytes: Uint8Array, start: number, end: number): number {
  if (startsWith(bytes, start, end, PREFIX)) return start + PREFIX.length;
  if (!matchesFolded(bytes, start, end, NAME_HEAD)) return -1;
  const i = start + NAME_HEAD.length;
  if (matchesFolded(bytes, i, end, NAME_TAIL)) return i + NAME_TAIL.length;
  return (bytes[i] | 0x20) === 0x73 && matchesFolded(bytes, i + 1, end, NAME_TAIL) ? i + 1 + NAME_TAIL.length : -1;
}

/** True when `bytes[start, end)` begins with `LikesServer` or `LikeServer`, in any letter case. */
export function startsWithName(bytes: Uint8Array, start: number, end: number): boolean {
  return nameEnd(bytes, start, end) !== -1;
}

/** The first index at or after `i` that is not a space or tab. */
function skipGap(bytes: Uint8Array, i: number, end: number): number {
  while (i < end && isGap(bytes[i])) i++;
  return i;
}

// Where the number readUint() last read ends. A module variable rather than a
// returned [value, end] pair, so that parsing a message allocates no arrays.
let uintEnd = 0;

/**
 * Reads an unsigned decimal integer at `start`, stopping at a space, tab or `end`,
 * and leaves its end in `uintEnd`. Returns -1 when there is no digit, a
 * leading zero (unless `leadingZeros`), a non-digit, or more than `maxDigits`
 * digits after the leading zeros.
 */
function readUint(bytes: Uint8Array, start: number, end: number, maxDigits: number, leadingZeros = false): number {
  let first = start;
  // A zero followed by a digit: so `00` still reads as its last zero.
  while (
    leadingZeros && first + 1 < end && bytes[first] === ZERO && bytes[first + 1] >= ZERO && bytes[first + 1] <= NINE
  ) {
    first++;
  }
  let i = first;
  let value = 0;
  while (i < end && bytes[i] !== SPACE && bytes[i] !== TAB) {
    const c = bytes[i];
    if (c < ZERO || c > NINE) return -1;
    if (i - first >= maxDigits) return -1;
    value = value * 10 + (c - ZERO);
    i++;
  }
  if (i === start) return -1;
  if (bytes[first] === ZERO && i - first > 1) return -1;
  uintEnd = i;
  return value;
}

function isProducerByte(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
    c === 0x2d || c === 0x5f;
}

function producerString(bytes: Uint8Array, start: number, end: number): string {
  let producer = "";
  for (let i = start; i < end; i++) producer += String.fromCharCode(bytes[i]);
  return producer;
}

/**
 * The producer id a connection sent last, as bytes and as a string. A
 * producer sends the same id on every line, so its messages can share one
 * string instead of each building its own: that saves the allocation, and the
 * ledger's map lookups find the string's hash already computed.
 */
export class ProducerIds {
  readonly #bytes = new Uint8Array(MAX_PRODUCER_LENGTH);
  #length = -1;
  #id = "";

  /**
   * The id if `bytes[start..]` begins with the remembered one followed by a
   * space or `end`, else undefined. The remembered id was checked when it was
   * remembered, so a match needs no check of its bytes.
   */
  match(bytes: Uint8Array, start: number, end: number): string | undefined {
    const length = this.#length;
    const stop = start + length;
    if (length < 0 || stop > end || (stop < end && !isGap(bytes[stop]))) return undefined;
    for (let i = 0; i < length; i++) if (bytes[start + i] !== this.#bytes[i]) return undefined;
    return this.#id;
  }

  /** Remembers the (valid) id in `bytes[start, end)` and returns it as a string. */
  remember(bytes: Uint8Array, start: number, end: number): string {
    this.#bytes.set(bytes.subarray(start, end));
    this.#length = end - start;
    this.#id = producerString(bytes, start, end);
    return this.#id;
  }
}

/**
 * Parses one line (without its `\n`). Never throws: anything that is not a
 * valid message comes back as `{ kind: "invalid", reason }`.
 */
export function parseMessage(line: Uint8Array, options: ParseOptions = {}): Message {
  return parseMessageAt(line, 0, line.length, options);
}

/**
 * parseMessage() for the line `bytes[start, end)`, so that a reader can parse
 * lines in place in its read buffer without a view per line.
 */
export function parseMessageAt(bytes: Uint8Array, start: number, end: number, options: ParseOptions = {}): Message {
  const { maxLikes = DEFAULT_MAX_LIKES, producerIds, leadingZeros = false } = options;
  if (startsWith(bytes, start, end, AUTH)) {
    if (end > start && bytes[end - 1] === CR) end--;
    if (end - start === AUTH.length) return invalid("empty token");
    return { kind: "auth", token: bytes.subarray(start + AUTH.length, end) };
  }
  // Trailing padding: CR of CRLF clients, spaces and tabs of fixed-width C buffers.
  while (end > start && (bytes[end - 1] === CR || isGap(bytes[end - 1]))) end--;
  if (end === start) return invalid("empty line");

  const named = nameEnd(bytes, start, end);
  if (named < 0) return invalid("unknown message");
  const server = readUint(bytes, named, end, SERVER_ID_DIGITS);
  if (server < 0 || server > MAX_SERVER_ID) return invalid("bad server number");
  if (uintEnd >= end) return invalid("missing likes");
  let i = skipGap(bytes, uintEnd, end);
  const likes = readUint(bytes, i, end, 16, leadingZeros);
  if (likes < 0) return invalid(i < end && bytes[i] === 0x2d ? "negative likes" : "likes not an integer");
  if (likes > maxLikes) return invalid("likes above maximum");
  i = uintEnd;
  if (i === end) return { kind: "like", server, likes };

  // Idempotent form: two more fields.
  i = skipGap(bytes, i, end);
  const producerStart = i;
  let producer = producerIds?.match(bytes, producerStart, end);
  if (producer !== undefined) {
    i += producer.length;
  } else {
    while (i < end && !isGap(bytes[i])) {
      if (!isProducerByte(bytes[i])) return invalid("bad producer id");
      i++;
    }
    if (i === producerStart || i - producerStart > MAX_PRODUCER_LENGTH) return invalid("bad producer id");
  }
  const producerEnd = i;
  if (i === end) return invalid("missing sequence number");
  const seq = readUint(bytes, skipGap(bytes, i, end), end, 16);
  if (seq <= 0 || seq > MAX_SEQ) return invalid("bad sequence number");
  if (uintEnd !== end) return invalid("too many fields");
  producer ??= producerIds
    ? producerIds.remember(bytes, producerStart, producerEnd)
    : producerString(bytes, producerStart, producerEnd);
  return { kind: "like", server, likes, producer, seq };
}

/**
 * Formats a like as a line (without the newline). It does not check the
 * fields, so that tests can also build lines the primary must refuse.
 */
export function formatLike(like: Omit<Like, "kind">): string {
  const base = `${LIKES_SERVER_PREFIX}${like.server} ${like.likes}`;
  return like.producer === undefined ? base : `${base} ${like.producer} ${like.seq}`;
}
