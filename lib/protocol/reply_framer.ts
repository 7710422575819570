/**
 * Framing of the replies a LikesServer reads: where the primary's answer to
 * one message ends. Kept apart from the socket and its timers (client.ts) so
 * that it can be tested on its own.
 *
 * A reply ends at its first newline or NUL. Seed-era primaries answer with a C
 * string inside a fixed buffer (`0\0a\0%s %`), so what follows the end in the
 * same read is leftover memory, not the next reply: it is discarded, as is
 * everything that arrives until the next message is sent. NULs where a reply
 * would start are the tail of an earlier reply's padding, and are discarded
 * too. A reply without a terminator is ended from outside: by a quiet period,
 * the peer's close, or the deadline (see end()).
 */

const NEWLINE = 0x0a;
const NUL = 0x00;
const CR = 0x0d;

/** A peer that sends this much without ending its reply has said all it can: the reply is cut there. */
export const MAX_REPLY = 4096;

const decoder = new TextDecoder();

export class ReplyFramer {
  readonly #maxReply: number;
  #held: Uint8Array = new Uint8Array(0);
  #reply: string | undefined;
  /** Bytes read and thrown away: after the reply's end, and NUL padding before its start. */
  discarded = 0;

  /** @param maxReply Longest reply in bytes; longer ones are cut there. */
  constructor(maxReply: number = MAX_REPLY) {
    if (!Number.isInteger(maxReply) || maxReply < 1) {
      throw new RangeError(`Cannot frame replies: maxReply must be a positive integer, got ${maxReply}`);
    }
    this.#maxReply = maxReply;
  }

  /** True once a byte of the reply has arrived (padding does not count). */
  get started(): boolean {
    return this.#held.length > 0 || this.#reply !== undefined;
  }

  /** The reply, once it has ended (CR of a CRLF and the terminator removed); else undefined. */
  get reply(): string | undefined {
    return this.#reply;
  }

  /** Takes in one read. Once the reply has ended, every byte fed is discarded. */
  feed(chunk: Uint8Array): void {
    if (this.#reply !== undefined) {
      this.discarded += chunk.length;
      return;
    }
    let start = 0;
    if (this.#held.length === 0) {
      while (start < chunk.length && chunk[start] === NUL) start++;
      this.discarded += start;
    }
    let end = start;
    while (end < chunk.length && chunk[end] !== NEWLINE && chunk[end] !== NUL) end++;
    const joined = new Uint8Array(this.#held.length + end - start);
    joined.set(this.#held);
    joined.set(chunk.subarray(start, end), this.#held.length);
    if (end < chunk.length) {
      this.#finish(joined);
      this.discarded += chunk.length - end - 1;
      return;
    }
    if (joined.length >= this.#maxReply) {
      this.#finish(joined.subarray(0, this.#maxReply));
      this.discarded += joined.length - this.#maxReply;
      return;
    }
    this.#held = joined;
  }

  /**
   * Ends a reply that has begun without a terminator: the peer went quiet,
   * closed, or the deadline came. Returns the reply, or undefined when
   * nothing of one has arrived.
   */
  end(): string | undefined {
    if (this.#reply === undefined && this.#held.length > 0) this.#finish(this.#held);
    return this.#reply;
  }

  #finish(bytes: Uint8Array): void {
    const text = decoder.decode(bytes.length > 0 && bytes[bytes.length - 1] === CR ? bytes.subarray(0, -1) : bytes);
    this.#reply = text;
    this.#held = new Uint8Array(0);
  }
}
