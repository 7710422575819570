import assert from "node:assert/strict";
import { textLines } from "../../lib/common/text_lines.ts";

function streamOf(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return ReadableStream.from(chunks.map((chunk) => encoder.encode(chunk)));
}

async function collect(chunks: string[]): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of textLines(streamOf(chunks))) lines.push(line);
  return lines;
}

Deno.test("textLines() joins lines split across chunks and keeps a last line without newline", async () => {
  assert.deepEqual(await collect(["a", "b\nc", "\n\nd"]), ["ab", "c", "", "d"]);
  assert.deepEqual(await collect(["x\n"]), ["x"]);
  assert.deepEqual(await collect([]), []);
});

Deno.test("textLines() decodes a character split between chunks", async () => {
  const bytes = new TextEncoder().encode("é\n");
  const stream = ReadableStream.from([bytes.subarray(0, 1), bytes.subarray(1)]);
  const lines: string[] = [];
  for await (const line of textLines(stream)) lines.push(line);
  assert.deepEqual(lines, ["é"]);
});
