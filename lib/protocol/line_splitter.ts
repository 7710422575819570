/**
 * Framing: turns the byte chunks a socket delivers into whole messages. Only
 * complete messages come out; a partial one waits for the next chunk. Kept
 * apart from parsing so that each can be tested on its own.
 *
 * A message ends at a newline. Seed-era C clients also end one with the NUL
 * of a fixed-size buffer, so on a connection that has never sent a newline a
 * NUL ends a message too. After such a NUL what follows is padding, "until
 * the reply has been sent": those clients wait for the reply before they
 * send again. NULs where a message would start are padding too, but only
 * they: the first other byte begins a message, framed as usual. The rest of the buffer
 * can come in later reads (a 4 KiB buffer read 1 KiB at a time, or segments
 * delayed on the way), even after the reply went out, and the server cannot
 * tell such a tail from a new send by its timing. So padding lasts across
 * reads until one begins with a likes name (`LikesServer`/`LikeServer`, any
 * case), as a seed-era client's next send does; the reply to the chunk is
 * always written before the next read. The limit: a tail that happens to
 * begin a read with a likes name is taken as a message.
 * A connection that has used newlines keeps strict line framing: a NUL inside
 * its line is just a byte of the line.
 */

/** A line that grew past the limit before its newline arrived. */
export interface Overlong {
  overlong: true;
  /** The first `maxLine` bytes, for the log. */
  head: Uint8Array;
  /** Bytes of the line received when it was refused: its length, or as much as came before its end. */
  length: number;
}

import { startsWithName } from "./message.ts";

const NEWLINE = 0x0a;
const NUL = 0x00;

const EMPTY = new Uint8Array(0);

export class LineSplitter {
  readonly #maxLine: number;
  #partial: Uint8Array | undefined;
  #chunk: Uint8Array = EMPTY;
  #at = 0;
  /** Index of the chunk's next NUL at or after #at (or a stale one before it), -1 when none. */
  #nul = -1;
  /** Dropping padding: set at a NUL that ends a message or starts one, cleared by a chunk that begins with a likes name. */
  #padding = false;
  /** Padding bytes dropped so far. */
  paddingBytes = 0;
  #sawNewline = false;
  /** Reads the held partial message came in. */
  #partialReads = 0;
  /** After next() returned "line" or "nul": the message is `bytes[start, end)`, without its terminator. */
  bytes: Uint8Array = EMPTY;
  start = 0;
  end = 0;
  /** After next() returned "overlong": the line that was too long. */
  overlong: Overlong | undefined;

  /**
   * @param maxLine Longest line in bytes, without its newline (a trailing CR is allowed on top).
   */
  constructor(maxLine: number) {
    if (!Number.isInteger(maxLine) || maxLine < 1) {
      throw new RangeError(`Cannot split lines: maxLine must be a positive integer, got ${maxLine}`);
    }
    this.#maxLine = maxLine;
  }

  /** Bytes held of a line whose newline has not arrived yet. */
  get pending(): number {
    return this.#partial?.length ?? 0;
  }

  /** True until the connection sends a newline: only then do quiet-period and EOF framing apply. */
  get seedEra(): boolean {
    return !this.#sawNewline;
  }

  /** True while what comes is dropped as padding, until a chunk begins with a likes name. */
  get padding(): boolean {
    return this.#padding;
  }

  /** True when the held bytes all came in one read: a seed-era client's single send, not a dribble. */
  get pendingInOneRead(): boolean {
    return this.#partialReads === 1;
  }

  /** The held bytes of an unfinished message, left in place. */
  get held(): Uint8Array | undefined {
    return this.#partial;
  }

  /** The held bytes of an unfinished message (a copy the caller owns), and forgets them. */
  takePending(): Uint8Array | undefined {
    const partial = this.#partial;
    this.#partial = undefined;
    this.#partialReads = 0;
    return partial;
  }

  /**
   * Adds a chunk; then call next() until it returns undefined. Lines are not
   * copied or given a view each (the server's hot path): each "line" is left
   * in bytes/start/end, valid until the next call and only while `chunk` is
   * not reused. After "overlong" (the line is in `overlong`) the splitter is
   * spent; the caller closes the connection.
   */
  feed(chunk: Uint8Array): void {
    this.#chunk = chunk;
    this.#at = 0;
    if (this.#padding) {
      if (!startsWithName(chunk, 0, chunk.length)) {
        this.paddingBytes += chunk.length;
        this.#at = chunk.length;
        this.#nul = -1;
        return;
      }
      this.#padding = false;
    }
    // One memchr per chunk; the newline-framed hot path pays nothing more.
    this.#nul = chunk.indexOf(NUL);
  }

  /**
   * The next complete message of the fed chunk: "line" (ended by a newline),
   * "nul" (ended by a NUL: answer it NUL-framed), "overlong", or undefined
   * when the chunk is used up.
   */
  next(): "line" | "nul" | "overlong" | undefined {
    const chunk = this.#chunk;
    const start = this.#at;
    if (start >= chunk.length) return undefined;
    if (this.#nul !== -1 && !this.#padding) return this.#nextAroundNul(chunk, start);
    if (this.#padding) {
      this.#at = chunk.length;
      return undefined;
    }
    if (this.#partial && start === 0) {
      const nl = chunk.indexOf(NEWLINE);
      if (nl !== -1) this.#sawNewline = true;
      const head = nl === -1 ? chunk : chunk.subarray(0, nl);
      const joined = new Uint8Array(this.#partial.length + head.length);
      joined.set(this.#partial);
      joined.set(head, this.#partial.length);
      this.#partial = undefined;
      if (nl === -1) {
        this.#at = chunk.length;
        return this.#keep(joined);
      }
      this.#partialReads = 0;
      this.#at = nl + 1;
      if (this.#tooLong(joined, 0, joined.length)) return this.#overlong(joined, 0, joined.length);
      return this.#line(joined, 0, joined.length);
    }
    const nl = chunk.indexOf(NEWLINE, start);
    if (nl === -1) {
      this.#at = chunk.length;
      return this.#keep(chunk.subarray(start), true);
    }
    this.#sawNewline = true;
    this.#at = nl + 1;
    if (this.#tooLong(chunk, start, nl)) return this.#overlong(chunk, start, nl);
    return this.#line(chunk, start, nl);
  }

  /** next() for a chunk that holds a NUL: where a message starts, or on a seed-era connection, it matters. */
  #nextAroundNul(chunk: Uint8Array, start: number): "line" | "nul" | "overlong" | undefined {
    let nul = this.#nul;
    if (nul !== -1 && nul < start) nul = this.#nul = chunk.indexOf(NUL, start);
    const held = this.#partial !== undefined && start === 0;
    if (nul === start && !held) {
      // NULs where a message would start (as in `LikesServer3 23\n\0\0…`) are padding, but only
      // they: the first other byte begins a message, so `\0\0LikesServer1 5\n` is answered.
      let at = start;
      while (at < chunk.length && chunk[at] === NUL) at++;
      this.paddingBytes += at - start;
      this.#at = at;
      this.#nul = chunk.indexOf(NUL, at);
      return this.next();
    }
    const nl = chunk.indexOf(NEWLINE, start);
    if (nul === -1 || this.#sawNewline || (nl !== -1 && nl < nul)) {
      // Strict line framing: what next() does for a chunk without NULs.
      this.#nul = -1;
      const result = this.next();
      this.#nul = nul === -1 || this.#chunk !== chunk ? -1 : nul >= this.#at ? nul : chunk.indexOf(NUL, this.#at);
      return result;
    }
    // A NUL ends this message; what follows is padding, whatever it holds.
    this.#startPadding(chunk, nul + 1);
    let bytes = chunk;
    let from = start;
    if (held) {
      const partial = this.#partial!;
      bytes = new Uint8Array(partial.length + nul);
      bytes.set(partial);
      bytes.set(chunk.subarray(0, nul), partial.length);
      from = 0;
      nul = bytes.length;
      this.#partial = undefined;
      this.#partialReads = 0;
    }
    if (nul - from > this.#maxLine + 1) return this.#overlong(bytes, from, nul);
    this.bytes = bytes;
    this.start = from;
    this.end = nul;
    return "nul";
  }

  #startPadding(chunk: Uint8Array, from: number): void {
    this.#padding = true;
    this.paddingBytes += chunk.length - from;
    this.#at = chunk.length;
  }

  #line(bytes: Uint8Array, start: number, end: number): "line" {
    this.bytes = bytes;
    this.start = start;
    this.end = end;
    return "line";
  }

  #overlong(bytes: Uint8Array, start: number, end: number): "overlong" {
    this.#chunk = EMPTY;
    this.#at = 0;
    this.overlong = { overlong: true, head: bytes.slice(start, start + this.#maxLine), length: end - start };
    return "overlong";
  }

  #tooLong(bytes: Uint8Array, start: number, end: number): boolean {
    const limit = end > start && bytes[end - 1] === 0x0d ? this.#maxLine + 1 : this.#maxLine;
    return end - start > limit;
  }

  #keep(rest: Uint8Array, copy = false): "overlong" | undefined {
    // +1 leaves room for a CR that may precede the newline still to come.
    if (rest.length > this.#maxLine + 1) return this.#overlong(rest, 0, rest.length);
    // A fresh chunk's rest starts a message (copy); a joined one continues the held one.
    this.#partialReads = copy ? 1 : this.#partialReads + 1;
    this.#partial = copy ? rest.slice() : rest;
    return undefined;
  }
}
