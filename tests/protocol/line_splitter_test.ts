import assert from "node:assert/strict";
import fc from "fast-check";
import { LineSplitter, type Overlong } from "../../lib/protocol/line_splitter.ts";
import { takeLines } from "../support/lines.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const bytes = (text: string) => encoder.encode(text);

type Out = string | { overlong: string };

// Lines may be views into the chunk, so they are read before the next push.
function show(lines: (Uint8Array | Overlong)[]): Out[] {
  return lines.map((line) => "overlong" in line ? { overlong: decoder.decode(line.head) } : decoder.decode(line));
}

function feed(splitter: LineSplitter, ...chunks: string[]): Out[][] {
  return chunks.map((chunk) => show(takeLines(splitter, bytes(chunk))));
}

/**
 * What framing must give for a byte stream, whatever its chunking: the
 * complete lines up to the first one longer than maxLine (a CR before the
 * newline does not count), which comes out as Overlong with its first maxLine
 * bytes. An unfinished last line is held back unless it is already too long
 * to ever fit.
 */
function model(stream: Uint8Array, maxLine: number): (Uint8Array | { head: Uint8Array })[] {
  const out: (Uint8Array | { head: Uint8Array })[] = [];
  let start = 0;
  while (true) {
    const nl = stream.indexOf(0x0a, start);
    const line = stream.subarray(start, nl === -1 ? stream.length : nl);
    const cr = line.length > 0 && line[line.length - 1] === 0x0d;
    const limit = nl === -1 || cr ? maxLine + 1 : maxLine;
    if (line.length > limit) {
      out.push({ head: line.slice(0, maxLine) });
      return out;
    }
    if (nl === -1) return out;
    out.push(line.slice());
    start = nl + 1;
  }
}

Deno.test("LineSplitter returns the complete lines of a chunk without their newlines", () => {
  const splitter = new LineSplitter(100);
  assert.deepEqual(feed(splitter, "a\nbb\n\nccc\n"), [["a", "bb", "", "ccc"]]);
  assert.equal(splitter.pending, 0);
});

Deno.test("LineSplitter joins a line split across chunks", () => {
  const splitter = new LineSplitter(100);
  assert.deepEqual(feed(splitter, "LikesSer", "ver1 ", "5\nLikes", "Server2 3\n"), [
    [],
    [],
    ["LikesServer1 5"],
    ["LikesServer2 3"],
  ]);
  assert.equal(splitter.pending, 0);
});

Deno.test("LineSplitter holds an unfinished line and reports its size", () => {
  const splitter = new LineSplitter(100);
  assert.deepEqual(feed(splitter, "a\nbcd"), [["a"]]);
  assert.equal(splitter.pending, 3);
  assert.deepEqual(feed(splitter, "e"), [[]]);
  assert.equal(splitter.pending, 4);
  assert.deepEqual(feed(splitter, "\n"), [["bcde"]]);
  assert.equal(splitter.pending, 0);
});

Deno.test("LineSplitter keeps the held line when the caller reuses its read buffer", () => {
  const splitter = new LineSplitter(100);
  const buffer = new Uint8Array(8);
  buffer.set(bytes("abc"));
  assert.deepEqual(show(takeLines(splitter, buffer.subarray(0, 3))), []);
  buffer.set(bytes("XYZ\n"));
  assert.deepEqual(show(takeLines(splitter, buffer.subarray(3, 4))), ["abc"]);
});

Deno.test("LineSplitter leaves CR to the parser, in the middle or at the end of a line", () => {
  const splitter = new LineSplitter(100);
  assert.deepEqual(feed(splitter, "a\r\nb\rc\n\r\n\r", "\r\n"), [["a\r", "b\rc", "\r"], ["\r\r"]]);
});

Deno.test("LineSplitter accepts a line of exactly maxLine bytes, plus a CR", () => {
  const splitter = new LineSplitter(4);
  assert.deepEqual(feed(splitter, "abcd\nabcd\r\n", "ab", "cd", "\r", "\n"), [["abcd", "abcd\r"], [], [], [], [
    "abcd\r",
  ]]);
});

Deno.test("LineSplitter reports an overlong line in one chunk after the lines before it", () => {
  const splitter = new LineSplitter(4);
  assert.deepEqual(feed(splitter, "ok\nabcde\nnever\n"), [["ok", { overlong: "abcd" }]]);
  assert.deepEqual(feed(new LineSplitter(4), "abcd\r\r\n"), [[{ overlong: "abcd" }]]);
});

Deno.test("LineSplitter reports an overlong line across chunks before its newline arrives", () => {
  const splitter = new LineSplitter(4);
  // Five bytes may still be four and a CR; six cannot fit.
  assert.deepEqual(feed(splitter, "abc", "de"), [[], []]);
  assert.deepEqual(feed(splitter, "f"), [[{ overlong: "abcd" }]]);
  assert.deepEqual(feed(new LineSplitter(4), "ok\nabcdef"), [["ok", { overlong: "abcd" }]]);
  assert.deepEqual(feed(new LineSplitter(4), "abcde", "\n"), [[], [{ overlong: "abcd" }]]);
});

Deno.test("LineSplitter bounds what it holds for a line of a megabyte", () => {
  const maxLine = 1024;
  const splitter = new LineSplitter(maxLine);
  // A megabyte dribbled in 100-byte chunks: the splitter gives up as soon as the line cannot fit.
  const chunk = new Uint8Array(100).fill(0x41);
  let result: (Uint8Array | Overlong)[] = [];
  let pushes = 0;
  while (result.length === 0 && pushes < 10_000) {
    result = takeLines(splitter, chunk);
    pushes++;
    assert.ok(splitter.pending <= maxLine + 1);
  }
  assert.equal(pushes, Math.ceil((maxLine + 2) / 100));
  assert.equal(result.length, 1);
  assert.equal((result[0] as Overlong).head.length, maxLine);
});

Deno.test("LineSplitter rejects a maxLine that is not a positive integer", () => {
  for (const maxLine of [0, -1, 1.5, NaN]) {
    assert.throws(() => new LineSplitter(maxLine), RangeError);
  }
});

// Streams rich in newlines, CRs and long runs, cut at random places.
const stream = fc.array(
  fc.oneof(
    fc.constantFrom("\n", "\r", "\r\n", "\0", "\xff"),
    fc.string({ maxLength: 12 }),
    fc.nat(40).map((n) => "x".repeat(n)),
  ),
  { maxLength: 30 },
).map((parts) => Uint8Array.from(parts.join(""), (c) => c.charCodeAt(0) & 0xff));

Deno.test("LineSplitter gives the same lines however the stream is chunked", () => {
  fc.assert(
    fc.property(
      stream,
      fc.array(fc.nat(), { maxLength: 10 }),
      fc.integer({ min: 1, max: 20 }),
      (data, cuts, maxLine) => {
        const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
        const splitter = new LineSplitter(maxLine);
        const got: (Uint8Array | { head: Uint8Array })[] = [];
        let at = 0;
        for (const end of [...points, data.length]) {
          // A fresh buffer per chunk, overwritten after use, as a socket read buffer is.
          const chunk = data.slice(at, end);
          for (const line of takeLines(splitter, chunk)) {
            got.push(
              "overlong" in line ? { head: line.head.slice() } : line.slice(),
            );
          }
          chunk.fill(0x21);
          at = end;
          if (got.some((line) => "head" in line)) break;
          assert.ok(splitter.pending <= maxLine + 1);
        }
        assert.deepEqual(got, model(data, maxLine));
      },
    ),
    { numRuns: 3000 },
  );
});
