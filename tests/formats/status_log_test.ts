import assert from "node:assert/strict";
import fc from "fast-check";
import {
  formatStatusEntry,
  parseStatusEntry,
  parseStatusLine,
  type StatusLogEntry,
} from "../../lib/formats/status_log.ts";
import { LineLog } from "../../lib/common/line_log.ts";
import { tempDir } from "../support/temp.ts";

const TIME = new Date("2025-01-01T00:00:00.000Z");

Deno.test("formatStatusEntry() writes the lines the parent has always written", () => {
  const lines = [
    { kind: "parent started", pid: 9, servers: 10, stagger: 1000, duration: 300_000, primary: "127.0.0.1:4242" },
    { kind: "child started", server: 3, pid: 12 },
    { kind: "child not started", server: 3, error: "No such file" },
    { kind: "child error", server: 3, text: "connect error: refused (attempt 1, retrying in 5ms)" },
    { kind: "child ended", server: 3, code: 0, success: true, ms: 90_000 },
    { kind: "child ended", server: 4, signal: "SIGKILL", success: false, ms: 850 },
    {
      kind: "parent started",
      pid: 9,
      servers: 1,
      stagger: 1000,
      duration: 300_000,
      hungAfter: 360_000,
      primary: "127.0.0.1:4242",
    },
    { kind: "child hung", server: 0, ms: 4500 },
    { kind: "child ended", server: 0, signal: "SIGKILL", success: false, hung: true, ms: 4600 },
    { kind: "parent stopping", signal: "SIGTERM" },
    { kind: "parent finished", succeeded: 9, launched: 10, notStarted: 0 },
    { kind: "parent finished", succeeded: 2, launched: 3, notStarted: 7 },
  ].map((entry) => formatStatusEntry(entry as StatusLogEntry));
  assert.deepEqual(lines, [
    "ParentProcess started pid=9: 10 LikesServers, one every 1s, each for 5m, primary 127.0.0.1:4242",
    "LikesServer3 started pid=12",
    'LikesServer3 could not be started: "No such file" (status 1, failure)',
    'LikesServer3 "connect error: refused (attempt 1, retrying in 5ms)"',
    "LikesServer3 ended status 0 (success) after 1m30s",
    "LikesServer4 ended signal SIGKILL (failure) after 850ms",
    "ParentProcess started pid=9: 1 LikesServers, one every 1s, each for 5m (hung after 6m), primary 127.0.0.1:4242",
    "LikesServer0 hung: still running 4.5s after its start, killing it",
    "LikesServer0 ended signal SIGKILL (failure, hung) after 4.6s",
    "ParentProcess stopping on SIGTERM",
    "ParentProcess finished: 9 of 10 LikesServers succeeded",
    "ParentProcess finished: 2 of 3 LikesServers succeeded, 7 not started",
  ]);
});

Deno.test("a child's stderr line with quotes, escapes, newlines and invalid UTF-8 survives the status file", async () => {
  // What the parent forwards is decoded text: invalid UTF-8 arrives as U+FFFD.
  const text = new TextDecoder().decode(new Uint8Array([0x22, 0x5c, 0x0a, 0x1b, 0x5b, 0xff, 0xc3, 0x28, 0x22]));
  const entries: StatusLogEntry[] = [
    { kind: "child error", server: 7, text },
    { kind: "child not started", server: 8, error: 'Bad "deno"\r\npath é' },
  ];
  const path = `${await tempDir()}/ParentProcessStatus`;
  const log = LineLog.open(path);
  try {
    for (const entry of entries) log.line(formatStatusEntry(entry), TIME);
  } finally {
    log.close();
  }
  const lines = (await Deno.readTextFile(path)).slice(0, -1).split("\n");
  assert.deepEqual(lines.map(parseStatusLine), entries.map((entry) => ({ time: TIME, entry })));
});

Deno.test("parseStatusEntry() keeps lines it does not know as they are", () => {
  assert.deepEqual(parseStatusEntry("ParentProcess dreaming"), { kind: "other", text: "ParentProcess dreaming" });
  assert.equal(parseStatusLine("LikesServer1 started pid=1"), undefined, "no time: a cut line");
});

// Durations as formatDuration() writes them exactly: ms below 1s, tenths below 1m, whole seconds above.
const duration = fc.oneof(
  fc.nat(999),
  fc.integer({ min: 10, max: 599 }).map((tenths) => tenths * 100),
  fc.integer({ min: 60, max: 100_000 }).map((seconds) => seconds * 1000),
);
const server = fc.nat(999);
const entry: fc.Arbitrary<StatusLogEntry> = fc.oneof(
  fc.record({
    kind: fc.constant("parent started" as const),
    pid: fc.nat(),
    servers: fc.integer({ min: 1, max: 1000 }),
    stagger: duration,
    duration,
    primary: fc.constantFrom("127.0.0.1:4242", "[::1]:1"),
  }),
  fc.record({
    kind: fc.constant("parent started" as const),
    pid: fc.nat(),
    servers: fc.integer({ min: 1, max: 1000 }),
    stagger: duration,
    duration,
    hungAfter: duration,
    primary: fc.constantFrom("127.0.0.1:4242", "[::1]:1"),
  }),
  fc.record({ kind: fc.constant("child hung" as const), server, ms: duration }),
  fc.record({ kind: fc.constant("child hung" as const), server, ms: duration, silent: fc.constant(true as const) }),
  fc.record({ kind: fc.constant("child started" as const), server, pid: fc.nat() }),
  fc.record({ kind: fc.constant("child not started" as const), server, error: fc.string({ unit: "grapheme" }) }),
  fc.record({ kind: fc.constant("child error" as const), server, text: fc.string({ unit: "grapheme" }) }),
  fc.record({
    kind: fc.constant("child ended" as const),
    server,
    code: fc.nat(255),
    success: fc.boolean(),
    ms: duration,
  }),
  fc.record({
    kind: fc.constant("child ended" as const),
    server,
    signal: fc.constantFrom("SIGKILL", "SIGTERM"),
    success: fc.constant(false),
    ms: duration,
  }),
  fc.record({
    kind: fc.constant("child ended" as const),
    server,
    signal: fc.constant("SIGKILL"),
    success: fc.constant(false),
    hung: fc.constant(true),
    ms: duration,
  }),
  fc.record({ kind: fc.constant("parent stopping" as const), signal: fc.constantFrom("SIGINT", "SIGTERM") }),
  fc.record({
    kind: fc.constant("parent finished" as const),
    succeeded: fc.nat(1000),
    launched: fc.nat(1000),
    notStarted: fc.nat(1000),
  }),
);

Deno.test("any status entry parses back to itself", () => {
  fc.assert(
    fc.property(entry, (e) => {
      const line = formatStatusEntry(e);
      assert.ok(!/[\n\r]/.test(line), "one line");
      assert.deepEqual(parseStatusEntry(line), JSON.parse(JSON.stringify(e)));
    }),
    { numRuns: 2000 },
  );
});

Deno.test("a parent's start line with --primaries lists them and reads back", () => {
  const entry = {
    kind: "parent started",
    pid: 9,
    servers: 2,
    stagger: 1000,
    duration: 300_000,
    primary: "127.0.0.1:4300,127.0.0.1:4301",
  } as const;
  const line = formatStatusEntry(entry);
  assert.equal(
    line,
    "ParentProcess started pid=9: 2 LikesServers, one every 1s, each for 5m, primary 127.0.0.1:4300,127.0.0.1:4301",
  );
  assert.deepEqual(parseStatusEntry(line), entry);
});
