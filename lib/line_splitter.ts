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

export class LineSplitter {
  readonly #maxLine: number;
  #partial: Uint8Array | undefined;

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
   * Adds a chunk and returns the complete lines in it, without their newlines.
   * The lines may be views into `chunk`: use them before the chunk is reused.
   * After an Overlong the splitter is spent; the caller closes the connection.
   */
  push(chunk: Uint8Array): (Uint8Array | Overlong)[] {
    const lines: (Uint8Array | Overlong)[] = [];
    let start = 0;
    if (this.#partial) {
      const nl = chunk.indexOf(NEWLINE);
      const head = nl === -1 ? chunk : chunk.subarray(0, nl);
      const joined = new Uint8Array(this.#partial.length + head.length);
      joined.set(this.#partial);
      joined.set(head, this.#partial.length);
      this.#partial = undefined;
      if (nl === -1) return this.#keep(joined, lines);
      if (this.#tooLong(joined)) return [{ overlong: true, head: joined.slice(0, this.#maxLine) }];
      lines.push(joined);
      start = nl + 1;
    }
    while (start < chunk.length) {
      const nl = chunk.indexOf(NEWLINE, start);
      if (nl === -1) return this.#keep(chunk.subarray(start), lines, true);
      const line = chunk.subarray(start, nl);
      if (this.#tooLong(line)) {
        lines.push({ overlong: true, head: line.slice(0, this.#maxLine) });
        return lines;
      }
      lines.push(line);
      start = nl + 1;
    }
    return lines;
  }

  #tooLong(line: Uint8Array): boolean {
    const limit = line.length > 0 && line[line.length - 1] === 0x0d ? this.#maxLine + 1 : this.#maxLine;
    return line.length > limit;
  }

  #keep(rest: Uint8Array, lines: (Uint8Array | Overlong)[], copy = false): (Uint8Array | Overlong)[] {
    // +1 leaves room for a CR that may precede the newline still to come.
    if (rest.length > this.#maxLine + 1) {
      lines.push({ overlong: true, head: rest.slice(0, this.#maxLine) });
      return lines;
    }
    this.#partial = copy ? rest.slice() : rest;
    return lines;
  }
}
