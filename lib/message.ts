/**
 * The line protocol, parsed straight from bytes (no decoding, no regex: this
 * runs once per message on the primary's hot path).
 *
 *   LikesServer<N> <likes>                  counted as it arrives
 *   LikesServer<N> <likes> <producer> <seq> counted once per (producer, seq)
 *   AUTH <token>                            first line, when the primary wants a token
 *
 * Fields are separated by one space; a trailing CR is tolerated so that
 * telnet-style CRLF clients work.
 */

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

/** Limits the parser enforces. */
export interface ParseOptions {
  /** Highest accepted like count. @default {42} */
  maxLikes?: number;
}

/** Highest N in `LikesServer<N>`: keeps per-server state bounded against hostile input. */
export const MAX_SERVER_ID = 9999;
/** Longest producer id. */
export const MAX_PRODUCER_LENGTH = 64;
/** Sequence numbers stay exact integers in JavaScript and in SQLite. */
export const MAX_SEQ = Number.MAX_SAFE_INTEGER;

const SPACE = 0x20;
const CR = 0x0d;
const ZERO = 0x30;
const NINE = 0x39;
const PREFIX = new TextEncoder().encode("LikesServer");
const AUTH = new TextEncoder().encode("AUTH ");

function invalid(reason: string): Invalid {
  return { kind: "invalid", reason };
}

function startsWith(line: Uint8Array, prefix: Uint8Array): boolean {
  if (line.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (line[i] !== prefix[i]) return false;
  return true;
}

/**
 * Reads an unsigned decimal integer at `start`, stopping at a space or the end.
 * Returns [value, end] or undefined when there is no digit, a leading zero, a
 * non-digit, or more than `maxDigits` digits.
 */
function readUint(line: Uint8Array, start: number, maxDigits: number): [number, number] | undefined {
  let i = start;
  let value = 0;
  while (i < line.length && line[i] !== SPACE) {
    const c = line[i];
    if (c < ZERO || c > NINE) return undefined;
    if (i - start >= maxDigits) return undefined;
    value = value * 10 + (c - ZERO);
    i++;
  }
  if (i === start) return undefined;
  if (line[start] === ZERO && i - start > 1) return undefined;
  return [value, i];
}

function isProducerByte(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
    c === 0x2d || c === 0x5f;
}

/**
 * Parses one line (without its `\n`). Never throws: anything that is not a
 * valid message comes back as `{ kind: "invalid", reason }`.
 */
export function parseMessage(line: Uint8Array, options: ParseOptions = {}): Message {
  const { maxLikes = 42 } = options;
  let end = line.length;
  if (end > 0 && line[end - 1] === CR) end--;
  if (end !== line.length) line = line.subarray(0, end);
  if (line.length === 0) return invalid("empty line");

  if (startsWith(line, AUTH)) {
    const token = line.subarray(AUTH.length);
    if (token.length === 0) return invalid("empty token");
    return { kind: "auth", token };
  }
  if (!startsWith(line, PREFIX)) return invalid("unknown message");

  const server = readUint(line, PREFIX.length, 4);
  if (!server || server[1] >= line.length) {
    return invalid(server ? "missing likes" : "bad server number");
  }
  let i = server[1] + 1;
  const likes = readUint(line, i, 16);
  if (!likes) return invalid(i < line.length && line[i] === 0x2d ? "negative likes" : "likes not an integer");
  if (likes[0] > maxLikes) return invalid("likes above maximum");
  i = likes[1];
  if (i === line.length) return { kind: "like", server: server[0], likes: likes[0] };

  // Idempotent form: two more fields.
  i++;
  const producerStart = i;
  while (i < line.length && line[i] !== SPACE) {
    if (!isProducerByte(line[i])) return invalid("bad producer id");
    i++;
  }
  const producerLength = i - producerStart;
  if (producerLength === 0 || producerLength > MAX_PRODUCER_LENGTH) return invalid("bad producer id");
  if (i === line.length) return invalid("missing sequence number");
  const seq = readUint(line, i + 1, 16);
  if (!seq || seq[0] === 0 || seq[0] > MAX_SEQ) return invalid("bad sequence number");
  if (seq[1] !== line.length) return invalid("too many fields");
  let producer = "";
  for (let j = producerStart; j < producerStart + producerLength; j++) {
    producer += String.fromCharCode(line[j]);
  }
  return { kind: "like", server: server[0], likes: likes[0], producer, seq: seq[0] };
}

/** Formats a like as a line the primary accepts (without the newline). */
export function formatLike(like: Omit<Like, "kind">): string {
  const base = `LikesServer${like.server} ${like.likes}`;
  return like.producer === undefined ? base : `${base} ${like.producer} ${like.seq}`;
}
