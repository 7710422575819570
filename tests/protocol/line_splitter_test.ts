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

// Streams rich in newlines, CRs and long runs, cut at random places. No NUL:
// what follows a NUL is padding up to the end of its read, so NUL framing
// depends on the chunking by design (tested on its own below).
const stream = fc.array(
  fc.oneof(
    fc.constantFrom("\n", "\r", "\r\n", "\x01", "\xff"),
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

/** Feeds chunks (latin1), returning each chunk's messages as [kind, text]. */
function frames(splitter: LineSplitter, ...chunks: string[]): [string, string][][] {
  return chunks.map((chunk) => {
    splitter.feed(Uint8Array.from(chunk, (c) => c.charCodeAt(0)));
    const out: [string, string][] = [];
    let next;
    while ((next = splitter.next()) !== undefined) {
      if (next === "overlong") {
        out.push(["overlong", decoder.decode(splitter.overlong!.head)]);
        break;
      }
      out.push([next, String.fromCharCode(...splitter.bytes.subarray(splitter.start, splitter.end))]);
    }
    return out;
  });
}

Deno.test("LineSplitter ends a seed-era message at a NUL and skips the rest of the chunk as padding", () => {
  const padded = "LikesServer3 23\0" + "\0".repeat(500) + "junk\nLikesServer1 1\n\0\0";
  assert.deepEqual(frames(new LineSplitter(1024), padded, "LikesServer3 4\0\0"), [
    [["nul", "LikesServer3 23"]],
    [["nul", "LikesServer3 4"]],
  ]);
});

Deno.test("LineSplitter drops padding across chunks until one begins with a likes name", () => {
  const splitter = new LineSplitter(1024);
  assert.deepEqual(
    frames(splitter, "LikesServer3 23\0xx", "\x7fjunk\nLikesServer1 5\n", "\0\0", "likeServer2 7\0\0"),
    [[["nul", "LikesServer3 23"]], [], [], [["nul", "likeServer2 7"]]],
  );
  assert.equal(splitter.paddingBytes, 2 + 21 + 2 + 1);
  assert.equal(splitter.padding, true);
});

Deno.test("LineSplitter joins a held seed-era message with the chunk that brings its NUL", () => {
  const splitter = new LineSplitter(100);
  assert.deepEqual(frames(splitter, "LikesServer3", " 23\0xx\n"), [[], [["nul", "LikesServer3 23"]]]);
  assert.equal(splitter.pending, 0);
});

Deno.test("LineSplitter drops only the NULs where a message would start: the first other byte begins one", () => {
  const splitter = new LineSplitter(100);
  assert.deepEqual(frames(splitter, "LikesServer3 23\n\0\0\0garbage\n", "\0\0", "LikesServer3 5\n"), [
    [["line", "LikesServer3 23"], ["line", "garbage"]],
    [],
    [["line", "LikesServer3 5"]],
  ]);
  assert.equal(splitter.paddingBytes, 5);
  // On a new connection, seed-era or not.
  assert.deepEqual(frames(new LineSplitter(100), "\0\0\0LikesServer1 5\n"), [[["line", "LikesServer1 5"]]]);
  assert.deepEqual(frames(new LineSplitter(100), "\0\0", "\0LikesServer1 5\0\0GARBAGE"), [[], [[
    "nul",
    "LikesServer1 5",
  ]]]);
});

Deno.test("LineSplitter gives the length received of a line too long", () => {
  const splitter = new LineSplitter(4);
  frames(splitter, "abcdefghij\n");
  assert.equal(splitter.overlong?.length, 10);
  const across = new LineSplitter(4);
  frames(across, "abc", "defgh");
  assert.equal(across.overlong?.length, 8);
});

Deno.test("LineSplitter keeps strict line framing once a connection has sent a newline", () => {
  const splitter = new LineSplitter(100);
  assert.deepEqual(frames(splitter, "a\n", "b\0c\n", "d\0"), [[["line", "a"]], [["line", "b\0c"]], []]);
  assert.equal(splitter.seedEra, false);
  assert.deepEqual(splitter.takePending(), Uint8Array.from([0x64, 0]));
});

Deno.test("LineSplitter says whether held bytes came in one read", () => {
  const splitter = new LineSplitter(100);
  frames(splitter, "LikesServer1 4");
  assert.equal(splitter.seedEra, true);
  assert.equal(splitter.pendingInOneRead, true);
  frames(splitter, "2");
  assert.equal(splitter.pendingInOneRead, false);
  assert.equal(decoder.decode(splitter.takePending()), "LikesServer1 42");
  assert.equal(splitter.pending, 0);
});

Deno.test("LineSplitter reports a NUL-ended message longer than maxLine as overlong", () => {
  assert.deepEqual(frames(new LineSplitter(4), "abcdefg\0"), [[["overlong", "abcd"]]]);
});
