/** Reading a byte stream as text lines. */

/**
 * Yields the lines of a UTF-8 stream without their line breaks, as they
 * arrive, holding at most one partial line; a last line without a newline is
 * yielded too.
 */
export async function* textLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let pending = "";
  for await (const text of stream.pipeThrough(new TextDecoderStream())) {
    pending += text;
    const parts = pending.split("\n");
    pending = parts.pop()!;
    yield* parts;
  }
  if (pending !== "") yield pending;
}
