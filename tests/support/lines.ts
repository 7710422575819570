/** Test support: the lines LineSplitter gives for one chunk, collected from feed() and next(). */
import type { LineSplitter, Overlong } from "../../lib/protocol/line_splitter.ts";

/**
 * Feeds `chunk` and returns its complete lines, without their newlines, as the
 * primary's read loop walks them; an Overlong ends the list (and the stream).
 * The lines are views into `chunk`: use them before the chunk is reused.
 */
export function takeLines(splitter: LineSplitter, chunk: Uint8Array): (Uint8Array | Overlong)[] {
  const lines: (Uint8Array | Overlong)[] = [];
  splitter.feed(chunk);
  let next;
  while ((next = splitter.next()) !== undefined) {
    if (next === "overlong") {
      lines.push(splitter.overlong!);
      break;
    }
    lines.push(splitter.bytes.subarray(splitter.start, splitter.end));
  }
  return lines;
}
