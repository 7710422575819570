/**
 * Framing: turns the byte chunks a socket delivers into whole lines. Only
 * complete lines come out; a partial line waits for the next chunk. Kept apart
 * from parsing so that each can be tested on its own.
 */

/** A line that grew past the limit before its newline arrived. */
export interface Overlong {
  overlong: true;
  /** The first `maxLine` bytes, for the log. */
  head: Uint8Array;
}

const NEWLINE = 0x0a;

const EMPTY = new Uint8Array(0);

export class LineSplitter {
  readonly #maxLine: number;
  #partial: Uint8Array | undefined;
  #chunk: Uint8Array = EMPTY;
  #at = 0;
  /** After next() returned "line": the line is `bytes[start, end)`, without its newline. */
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
  }

  /** The next complete line of the fed chunk: "line", "overlong", or undefined when the chunk is used up. */
  next(): "line" | "overlong" | undefined {
    const chunk = this.#chunk;
    const start = this.#at;
    if (start >= chunk.length) return undefined;
    if (this.#partial && start === 0) {
      const nl = chunk.indexOf(NEWLINE);
      const head = nl === -1 ? chunk : chunk.subarray(0, nl);
      const joined = new Uint8Array(this.#partial.length + head.length);
      joined.set(this.#partial);
      joined.set(head, this.#partial.length);
      this.#partial = undefined;
      if (nl === -1) {
        this.#at = chunk.length;
        return this.#keep(joined);
      }
      this.#at = nl + 1;
      if (this.#tooLong(joined, 0, joined.length)) return this.#overlong(joined, 0);
      return this.#line(joined, 0, joined.length);
    }
    const nl = chunk.indexOf(NEWLINE, start);
    if (nl === -1) {
      this.#at = chunk.length;
      return this.#keep(chunk.subarray(start), true);
    }
    this.#at = nl + 1;
    if (this.#tooLong(chunk, start, nl)) return this.#overlong(chunk, start);
    return this.#line(chunk, start, nl);
  }

  #line(bytes: Uint8Array, start: number, end: number): "line" {
    this.bytes = bytes;
    this.start = start;
    this.end = end;
    return "line";
  }

  #overlong(bytes: Uint8Array, start: number): "overlong" {
    this.#chunk = EMPTY;
    this.#at = 0;
    this.overlong = { overlong: true, head: bytes.slice(start, start + this.#maxLine) };
    return "overlong";
  }

  #tooLong(bytes: Uint8Array, start: number, end: number): boolean {
    const limit = end > start && bytes[end - 1] === 0x0d ? this.#maxLine + 1 : this.#maxLine;
    return end - start > limit;
  }

  #keep(rest: Uint8Array, copy = false): "overlong" | undefined {
    // +1 leaves room for a CR that may precede the newline still to come.
    if (rest.length > this.#maxLine + 1) return this.#overlong(rest, 0);
    this.#partial = copy ? rest.slice() : rest;
    return undefined;
  }
}
