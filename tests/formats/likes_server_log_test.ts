import assert from "node:assert/strict";
import fc from "fast-check";
import {
  formatLikesServerEntry,
  type LikesServerLogEntry,
  parseLikesServerEntry,
  parseLikesServerLine,
} from "../../lib/formats/likes_server_log.ts";
import { LineLog } from "../../lib/common/line_log.ts";
import { MAX_SERVER_ID } from "../../lib/protocol/names.ts";
import { tempDir } from "../support/temp.ts";

const TIME = new Date("2025-01-01T00:00:00.000Z");

/** Writes `entries` through a real LineLog file and reads them back. */
async function roundTrip(entries: LikesServerLogEntry[]): Promise<(LikesServerLogEntry | undefined)[]> {
  const path = `${await tempDir()}/LikesServer`;
  const log = LineLog.open(path, { truncate: true });
  try {
    for (const entry of entries) log.line(formatLikesServerEntry(entry), TIME);
  } finally {
    log.close();
  }
  const text = await Deno.readTextFile(path);
  assert.ok(text.endsWith("\n"));
  const lines = text.slice(0, -1).split("\n");
  assert.equal(lines.length, entries.length, "one line per entry");
  return lines.map((line) => {
    const parsed = parseLikesServerLine(line);
    assert.deepEqual(parsed?.time, TIME);
    return parsed?.entry;
  });
}

Deno.test("formatLikesServerEntry() writes the lines the LikesServer has always written", () => {
  const lines = [
    { kind: "started", server: 4, producer: "LikesServer4-ab-12", pid: 77, primary: "127.0.0.1:4242" },
    { kind: "acked", server: 4, likes: 42, seq: 1 },
    { kind: "unacknowledged", server: 4, likes: 3, seq: 2, reason: { kind: "abandoned", why: "cannot be retried" } },
    { kind: "unacknowledged", server: 4, likes: 3, seq: 2, reason: { kind: "rejected", reply: "1 bad token\x1b" } },
    { kind: "send error", server: 0, phase: "connect", message: "Cannot connect", attempt: 1, next: "retrying in 5ms" },
    {
      kind: "send error",
      server: 4,
      phase: "reply",
      message: 'The primary answered "1 storage error"',
      attempt: 2,
      next: "retrying in 250ms",
    },
    { kind: "parent gone", server: 4 },
    { kind: "discarded", server: 4, bytes: 6 },
    { kind: "ended", server: 4, how: "finished", sent: 2, acked: 1, likes: 42 },
  ].map((entry) => formatLikesServerEntry(entry as LikesServerLogEntry));
  assert.deepEqual(lines, [
    "LikesServer4 started producer=LikesServer4-ab-12 pid=77 primary=127.0.0.1:4242",
    "LikesServer4 42 0 seq=1",
    "LikesServer4 3 unacknowledged seq=2 (cannot be retried)",
    'LikesServer4 3 unacknowledged seq=2 (rejected: "1 bad token\\u001b")',
    "LikesServer0 connect error: Cannot connect (attempt 1, retrying in 5ms)",
    'LikesServer4 reply error: The primary answered "1 storage error" (attempt 2, retrying in 250ms)',
    "LikesServer4 parent gone (its pipe on stdin closed): stopping",
    "LikesServer4 discarded 6 bytes after a reply",
    "LikesServer4 finished: sent 2 acked 1 likes 42",
  ]);
});

Deno.test("a rejected reply with quotes, newlines and non-ASCII survives the LikesServer log file", async () => {
  const reply = '1 "odd"\n\\ reply é \u{1F600} \r\x00';
  const entry: LikesServerLogEntry = {
    kind: "unacknowledged",
    server: 2,
    likes: 1,
    seq: 9,
    reason: { kind: "rejected", reply },
  };
  assert.deepEqual(await roundTrip([entry]), [entry]);
});

Deno.test("a send error whose message holds a newline stays on one line", async () => {
  const entry: LikesServerLogEntry = {
    kind: "send error",
    server: 1,
    phase: "receive",
    message: "first\nsecond\u2028third",
    attempt: 2,
    next: "giving up",
  };
  const [parsed] = await roundTrip([entry]);
  assert.deepEqual(parsed, { ...entry, message: "first\\u000asecond\\u2028third" });
});

Deno.test("parseLikesServerEntry() keeps lines it does not know as they are", () => {
  assert.deepEqual(parseLikesServerEntry("LikesServer1 something new"), {
    kind: "other",
    text: "LikesServer1 something new",
  });
  assert.equal(parseLikesServerLine("LikesServer1 5 0 seq=1"), undefined, "no time: a cut line");
});

// Text as an OS error message or a phrase could be: no control characters.
// deno-lint-ignore no-control-regex
const text = fc.string({ unit: "grapheme", maxLength: 40 }).filter((s) => !/[\x00-\x1f\x7f-\x9f\u2028\u2029]/.test(s));
const server = fc.nat(MAX_SERVER_ID);
const count = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const entry: fc.Arbitrary<LikesServerLogEntry> = fc.oneof(
  fc.record({
    kind: fc.constant("started" as const),
    server,
    producer: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
    pid: fc.nat(),
    primary: fc.constantFrom("127.0.0.1:4242", "[::1]:1", "example.org:80"),
  }),
  fc.record({ kind: fc.constant("acked" as const), server, likes: count, seq: count }),
  fc.record({
    kind: fc.constant("unacknowledged" as const),
    server,
    likes: count,
    seq: count,
    reason: fc.oneof(
      fc.record({ kind: fc.constant("rejected" as const), reply: fc.string({ unit: "grapheme", maxLength: 40 }) }),
      fc.record({ kind: fc.constant("abandoned" as const), why: text }),
    ),
  }),
  fc.record({
    kind: fc.constant("send error" as const),
    server,
    phase: fc.constantFrom("connect", "send", "receive", "reply"),
    message: text,
    attempt: fc.integer({ min: 1, max: 1000 }),
    next: fc.constantFrom("stopping", "giving up", "retrying in 250ms"),
  }),
  fc.record({ kind: fc.constant("parent gone" as const), server }),
  fc.record({ kind: fc.constant("discarded" as const), server, bytes: count }),
  fc.record({
    kind: fc.constant("answered" as const),
    server,
    likes: count,
    seq: count,
    reply: fc.string({ unit: "grapheme", maxLength: 40 }),
  }),
  fc.record({
    kind: fc.constant("ended" as const),
    server,
    how: fc.constantFrom("finished" as const, "stopped" as const, "failed" as const),
    sent: count,
    acked: count,
    likes: count,
  }),
);

/** fast-check builds records without a prototype; the parser, plain objects. */
const plain = <T>(value: T): T => JSON.parse(JSON.stringify(value));

Deno.test("any LikesServer log entry parses back to itself", () => {
  fc.assert(
    fc.property(entry, (e) => {
      const line = formatLikesServerEntry(e);
      assert.ok(!line.includes("\n"), "one line");
      assert.deepEqual(parseLikesServerEntry(line), plain(e));
    }),
    { numRuns: 2000 },
  );
});

Deno.test("entries written to a LikesServer log file parse back from the file", async () => {
  const entries = fc.sample(entry, { numRuns: 200, seed: 42 }).map(plain);
  assert.deepEqual(await roundTrip(entries), entries);
});

Deno.test("a LikesServer's start line with --primaries lists them and reads back", async () => {
  const entry: LikesServerLogEntry = {
    kind: "started",
    server: 1,
    producer: "LikesServer1-cd-34",
    pid: 78,
    primary: "127.0.0.1:4301",
    primaries: "127.0.0.1:4300,127.0.0.1:4301,[::1]:4302",
  };
  assert.equal(
    formatLikesServerEntry(entry),
    "LikesServer1 started producer=LikesServer1-cd-34 pid=78 primary=127.0.0.1:4301 primaries=127.0.0.1:4300,127.0.0.1:4301,[::1]:4302",
  );
  assert.deepEqual(await roundTrip([entry]), [entry]);
});
