import assert from "node:assert/strict";
import {
  LINE_ACCEPTED,
  LINE_BAD,
  LINE_CONTINUES,
  LINE_DUPLICATE,
  LINE_OTHER,
  LINE_OUT_OF_ORDER,
  LINE_RESET,
  PrimaryLogReader,
} from "../../lib/formats/primary_log.ts";
import fc from "fast-check";
import {
  formatPrimaryLine,
  type LikeLine,
  parsePrimaryLine,
  parsePrimaryLog,
  type PrimaryLogEntry,
  PrimaryLogWriter,
} from "../../lib/formats/primary_log.ts";
import { escapeBytes } from "../../lib/common/escape.ts";
import { MAX_PRODUCER_LENGTH, MAX_SEQ } from "../../lib/protocol/message.ts";
import { MAX_SERVER_ID } from "../../lib/protocol/names.ts";
import { LikesLog } from "../../lib/primary/likes_log.ts";
import { tempDir } from "../support/temp.ts";

const TIME = new Date("2025-01-01T00:00:00.000Z");
const decoder = new TextDecoder();

function outcomeOf(e: LikeLine): "accepted" | "duplicate" | "out of order" {
  return e.duplicate ? "duplicate" : e.outOfOrder ? "out of order" : "accepted";
}

/** Writes `entries` with the fast writer, as the committer does, and returns the bytes as text. */
function writeFast(entries: PrimaryLogEntry[], time: Date): string {
  const writer = new PrimaryLogWriter();
  writer.begin(time);
  for (const e of entries) {
    if (e.kind === "like") writer.like(e.server, e.likes, outcomeOf(e), e.total, e.producer, e.seq);
    else if (e.kind === "invalid") writer.invalid(e.data && escapeBytes(e.data), e.reason, e.from, e.length);
    else if (e.kind === "journal") writer.journal(e.id);
    else throw new Error(`The fast writer writes likes, invalid data and journal ids only, not ${e.kind}`);
  }
  return decoder.decode(writer.view);
}

Deno.test("parsePrimaryLine() reads plain, idempotent and duplicate like lines", () => {
  assert.deepEqual(parsePrimaryLine("2025-01-01T00:00:00.000Z LikesServer3 23 Total 23"), {
    time: TIME,
    entry: { kind: "like", server: 3, likes: 23, duplicate: false, total: 23 },
  });
  assert.deepEqual(parsePrimaryLine("2025-01-01T00:00:00.000Z LikesServer12 5 Total 28 producer=p-1_a seq=9")?.entry, {
    kind: "like",
    server: 12,
    likes: 5,
    duplicate: false,
    total: 28,
    producer: "p-1_a",
    seq: 9,
  });
  assert.deepEqual(
    parsePrimaryLine("2025-01-01T00:00:00.000Z LikesServer1 5 Duplicate Total 28 producer=p seq=9")?.entry,
    { kind: "like", server: 1, likes: 5, duplicate: true, total: 28, producer: "p", seq: 9 },
  );
});

Deno.test("parsePrimaryLine() tells invalid data, start, stop, journal ids and other events apart", () => {
  const entry = (text: string) => parsePrimaryLine(`2025-01-01T00:00:00.000Z ${text}`)?.entry;
  assert.deepEqual(entry('Invalid data "LikesServer1 5 Total 5" (x) from a'), {
    kind: "invalid",
    data: new TextEncoder().encode("LikesServer1 5 Total 5"),
    reason: "x",
    from: "a",
  });
  assert.deepEqual(entry("Invalid data (bad token) from 127.0.0.1:1"), {
    kind: "invalid",
    reason: "bad token",
    from: "127.0.0.1:1",
  });
  assert.deepEqual(entry("Recovered total 5 from /tmp/x y"), { kind: "recovered", total: 5, state: "/tmp/x y" });
  assert.deepEqual(entry("Started from zero (reset) with state /tmp/s"), { kind: "reset", state: "/tmp/s" });
  assert.deepEqual(entry("Started a new log with total 0 and state /tmp/s"), { kind: "new", state: "/tmp/s" });
  assert.deepEqual(entry("Stopped by SIGINT with total 7"), { kind: "stopped", signal: "SIGINT", total: 7 });
  assert.deepEqual(entry("Redis journal 1700000000000-3"), { kind: "journal", id: "1700000000000-3" });
  assert.deepEqual(entry("Redis journal x"), { kind: "event", text: "Redis journal x" }, "not a stream id");
  assert.deepEqual(entry("Removed 3 bytes of log lines"), { kind: "event", text: "Removed 3 bytes of log lines" });
  assert.equal(parsePrimaryLine(""), undefined);
  assert.equal(parsePrimaryLine("LikesServer1 5 Total 5"), undefined, "a line cut before its time");
});

Deno.test("an Invalid data line holding only the start of its data gives the whole length", () => {
  const at = "2025-01-01T00:00:00.000Z";
  const cut = {
    kind: "invalid",
    data: new Uint8Array([0xff, 0xff]),
    length: 1020,
    reason: "incomplete",
    from: "10.0.0.1:4",
  };
  assert.equal(
    formatPrimaryLine(cut as PrimaryLogEntry, TIME),
    `${at} Invalid data "\\u00ff\\u00ff"... of 1020 bytes (incomplete) from 10.0.0.1:4\n`,
  );
  const withheld = { kind: "invalid", length: 16, reason: "incomplete", from: "10.0.0.1:5" };
  assert.equal(
    formatPrimaryLine(withheld as PrimaryLogEntry, TIME),
    `${at} Invalid data of 16 bytes (incomplete) from 10.0.0.1:5\n`,
  );
  for (const entry of [cut, withheld]) {
    assert.deepEqual(parsePrimaryLine(formatPrimaryLine(entry as PrimaryLogEntry, TIME).trimEnd())?.entry, entry);
  }
});

Deno.test("the summary of invalid data not logged reads back as its address, count and bytes", () => {
  const line = "2025-01-01T00:00:00.000Z Invalid data from 10.0.0.7: 3172 more (3235440 bytes) not logged";
  const entry = { kind: "unlogged", from: "10.0.0.7", count: 3172, bytes: 3235440 };
  assert.deepEqual(parsePrimaryLine(line)?.entry, entry);
  assert.equal(formatPrimaryLine(entry as PrimaryLogEntry, TIME), `${line}\n`);
});

Deno.test("parsePrimaryLog() names a line that has no time", () => {
  assert.throws(
    () => parsePrimaryLog("2025-01-01T00:00:00.000Z Stopped by SIGINT with total 7\nLikesServer1 7 Tot\n"),
    { name: "SyntaxError", message: /line 2: "LikesServer1 7 Tot"/ },
  );
});

Deno.test("an Invalid data line holding bytes that need escaping parses back to the same bytes", () => {
  // Quote, backslash, newline, CR, ESC, NUL, invalid UTF-8 (0xff, a lone 0xc3), and a valid é.
  const data = new Uint8Array([0x22, 0x5c, 0x0a, 0x0d, 0x1b, 0x00, 0xff, 0xc3, 0x28, 0xc3, 0xa9, 0x20, 0x29]);
  const entry: PrimaryLogEntry = { kind: "invalid", data, reason: "unknown message", from: "127.0.0.1:9" };
  const line = formatPrimaryLine(entry, TIME);
  assert.equal(
    line,
    '2025-01-01T00:00:00.000Z Invalid data "\\"\\\\\\n\\r\\u001b\\u0000\\u00ff\\u00c3(\\u00c3\\u00a9 )" ' +
      "(unknown message) from 127.0.0.1:9\n",
  );
  assert.equal(writeFast([entry], TIME), line);
  assert.deepEqual(parsePrimaryLog(line), [{ time: TIME, entry }]);
});

const time = fc.date({ min: new Date("2000-01-01"), max: new Date("2999-12-31"), noInvalidDate: true });
const producer = fc.stringMatching(new RegExp(`^[A-Za-z0-9_-]{1,${MAX_PRODUCER_LENGTH}}$`));
const total = fc.nat({ max: Number.MAX_SAFE_INTEGER });
const path = fc.string({ unit: "grapheme", maxLength: 30 }).filter((s) => !/[\n\r]/.test(s));
const like = fc.oneof(
  fc.record({ server: fc.nat(MAX_SERVER_ID), likes: fc.nat(1_000_000), total }).map((l): LikeLine => ({
    kind: "like" as const,
    duplicate: false,
    ...l,
  })),
  fc.record({
    server: fc.nat(MAX_SERVER_ID),
    likes: fc.nat(1_000_000),
    outcome: fc.constantFrom("accepted", "duplicate", "out of order"),
    total,
    producer,
    seq: fc.integer({ min: 1, max: MAX_SEQ }),
  }).map(({ outcome, ...l }): LikeLine => ({
    kind: "like" as const,
    ...l,
    duplicate: outcome === "duplicate",
    ...(outcome === "out of order" ? { outOfOrder: true as const } : {}),
  })),
);
const address = fc.tuple(fc.nat(255), fc.nat(65535)).map(([octet, port]) => `127.0.0.${octet}:${port}`);
const invalid = fc.record({
  kind: fc.constant("invalid" as const),
  data: fc.option(fc.uint8Array({ maxLength: 100 }), { nil: undefined }),
  // The whole data's length, where the line holds only its start, or none of it.
  more: fc.option(fc.nat(1 << 20), { nil: undefined }),
  reason: fc.constantFrom("unknown message", "line too long", "bad token", "likes above maximum", "incomplete"),
  from: address,
}).map(({ data, more, ...rest }) => ({
  ...rest,
  ...(data === undefined ? {} : { data }),
  ...(more === undefined ? {} : { length: (data?.length ?? 0) + more + (data === undefined ? 0 : 1) }),
}));
const unlogged = fc.record({
  kind: fc.constant("unlogged" as const),
  from: fc.oneof(fc.nat(255).map((octet) => `10.0.0.${octet}`), fc.constant("::1")),
  count: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  bytes: fc.nat({ max: Number.MAX_SAFE_INTEGER }),
});
const journal = fc.tuple(fc.nat(), fc.nat()).map(([ms, n]) => ({ kind: "journal" as const, id: `${ms}-${n}` }));
const logId = fc.stringMatching(/^[0-9a-f]{64}$/);
const continues = fc.record({ kind: fc.constant("continues" as const), id: logId, total });
const event = fc.oneof(
  fc.record({ kind: fc.constant("recovered" as const), total, state: path }),
  fc.record({ kind: fc.constant("reset" as const), state: path }),
  fc.record({ kind: fc.constant("new" as const), state: path }),
  fc.record({ kind: fc.constant("stopped" as const), signal: fc.constantFrom("SIGINT", "SIGTERM"), total }),
  journal,
  continues,
  fc.nat().map((n) => ({
    kind: "event" as const,
    text: `Removed ${n} bytes of log lines that were never committed nor acknowledged`,
  })),
);

Deno.test("any log line written by formatPrimaryLine() parses back to its entry and time", () => {
  fc.assert(
    fc.property(fc.oneof(like, invalid, unlogged, event), time, (entry: PrimaryLogEntry, at) => {
      const line = formatPrimaryLine(entry, at);
      assert.ok(line.endsWith("\n") && line.indexOf("\n") === line.length - 1, "one line");
      // fast-check builds records without a prototype; the parser, plain objects.
      assert.deepEqual(parsePrimaryLine(line.slice(0, -1)), { time: at, entry: { ...entry } });
    }),
    { numRuns: 2000 },
  );
});

Deno.test("the committer's fast writer writes exactly the bytes of formatPrimaryLine()", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(like, invalid, journal), { maxLength: 30 }),
      time,
      (entries: PrimaryLogEntry[], at) => {
        assert.equal(writeFast(entries, at), entries.map((e) => formatPrimaryLine(e, at)).join(""));
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("lines appended to a LikesLog file parse back from the file", async () => {
  const dir = await tempDir();
  const entries: PrimaryLogEntry[] = [
    { kind: "recovered", total: 0, state: `${dir}/state.db` },
    { kind: "like", server: 1, likes: 5, duplicate: false, total: 5, producer: "p", seq: 1 },
    { kind: "like", server: 1, likes: 5, duplicate: true, total: 5, producer: "p", seq: 1 },
    { kind: "invalid", data: new Uint8Array([0xe9, 0x0a]), reason: "unknown message", from: "127.0.0.1:2" },
    { kind: "stopped", signal: "SIGTERM", total: 5 },
  ];
  const log = LikesLog.open(`${dir}/log`);
  try {
    log.append(formatPrimaryLine(entries[0], TIME));
    log.append(new TextEncoder().encode(writeFast(entries.slice(1, 4), TIME)));
    log.append(formatPrimaryLine(entries[4], TIME));
  } finally {
    log.close();
  }
  const parsed = parsePrimaryLog(await Deno.readTextFile(`${dir}/log`));
  assert.deepEqual(parsed.map((l) => l.entry), entries);
});

// ---- The replay reader

const bytesOf = (text: string) => new TextEncoder().encode(text);

function read(reader: PrimaryLogReader, line: string): number {
  const bytes = bytesOf(`xx${line}\n`);
  return reader.read(bytes, 2, bytes.length - 1);
}

Deno.test("PrimaryLogReader reads plain, idempotent, duplicate and out-of-order like lines with their time", () => {
  const reader = new PrimaryLogReader();
  assert.equal(read(reader, "2026-01-02T03:04:05.678Z LikesServer3 23 Total 23"), LINE_ACCEPTED);
  assert.deepEqual([reader.server, reader.likes, reader.total, reader.seq, reader.producer], [3, 23, 23, -1, ""]);
  assert.equal(reader.time, Date.parse("2026-01-02T03:04:05.678Z"));
  assert.equal(read(reader, "2026-01-02T03:04:05.679Z LikesServer1 5 Total 28 producer=p-1_x seq=9"), LINE_ACCEPTED);
  assert.deepEqual([reader.seq, reader.producer, reader.time % 1000], [9, "p-1_x", 679]);
  assert.equal(
    read(reader, "2026-01-02T03:04:05.679Z LikesServer1 5 Duplicate Total 28 producer=q seq=9"),
    LINE_DUPLICATE,
  );
  assert.equal(reader.producer, "q");
  assert.equal(
    read(reader, "2026-01-02T03:04:05.679Z LikesServer1 5 Out of order Total 28 producer=q seq=2"),
    LINE_OUT_OF_ORDER,
  );
  assert.equal(reader.seq, 2);
});

Deno.test("PrimaryLogReader tells the reset line and other events apart, and refuses broken like lines", () => {
  const reader = new PrimaryLogReader();
  assert.equal(read(reader, "2026-01-02T03:04:05.678Z Started from zero (reset) with state /x"), LINE_RESET);
  assert.equal(read(reader, "2026-01-02T03:04:05.678Z Recovered total 3 from /x"), LINE_OTHER);
  assert.equal(read(reader, '2026-01-02T03:04:05.678Z Invalid data "LikesServer1" (bad) from 1.2.3.4:5'), LINE_OTHER);
  assert.equal(read(reader, "2026-01-02T03:04:05.678Z Replayed 12 log lines in 3 ms"), LINE_OTHER);
  assert.equal(read(reader, "2026-01-02T03:04:05.678Z Stopped by SIGTERM with total 5"), LINE_OTHER);
  for (
    const bad of [
      "not a time at all, but long enough to look",
      "2026-01-02T03:04:05.678Z LikesServer1 5 Tot",
      "2026-01-02T03:04:05.678Z LikesServer1 x Total 5",
      "2026-01-02T03:04:05.678Z LikesServer1 5 Total 5 producer=p",
      "2026-01-02T03:04:05.678Z LikesServer1 5 Duplicate Total 5",
      "2026-01-02T03:04:05.678Z LikesServer1 5 Total 5 trailing",
      // A like line with one byte of its name changed reads as one, never as an event.
      "2026-01-02T03:04:05.678Z LikesServeR1 5 Total 5",
      "2026-01-02T03:04:05.678Z likesServer1 5 Duplicate Total 5 producer=p seq=1",
      "2026-01-02T03:04:05.678Z LikesSe\x00ver12 5 Out of order Total 5 producer=p seq=1",
    ]
  ) {
    assert.equal(read(reader, bad), LINE_BAD, bad);
    assert.ok(reader.error.length > 0);
  }
});

Deno.test("PrimaryLogReader reads back every like line that formatPrimaryLine() writes", () => {
  const reader = new PrimaryLogReader();
  fc.assert(
    fc.property(like, time, (entry, at) => {
      const bytes = bytesOf(formatPrimaryLine(entry, at));
      const kind = reader.read(bytes, 0, bytes.length - 1);
      assert.equal(kind, entry.duplicate ? LINE_DUPLICATE : entry.outOfOrder ? LINE_OUT_OF_ORDER : LINE_ACCEPTED);
      assert.deepEqual(
        [reader.server, reader.likes, reader.total, reader.seq, reader.producer, reader.time],
        [entry.server, entry.likes, entry.total, entry.seq ?? -1, entry.producer ?? "", at.getTime()],
      );
    }),
  );
});

Deno.test("PrimaryLogReader gives each line its own producer id among more producers than it keeps built", () => {
  const reader = new PrimaryLogReader();
  // Same-length ids that differ in one byte, more of them than the reader caches: slots collide.
  const ids = Array.from({ length: 10_000 }, (_, n) => `LikesServer-${String(n).padStart(5, "0")}`);
  for (const round of [1, 2]) {
    for (const [n, id] of ids.entries()) {
      const line = `2026-01-02T03:04:05.678Z LikesServer1 1 Total ${n} producer=${id} seq=${round}`;
      read(reader, line);
      assert.equal(reader.producer, id);
    }
  }
});

Deno.test("a continuation line names the previous file's id and the total it continues from, as entry and as bytes", () => {
  const id = "ab".repeat(32);
  const line = formatPrimaryLine({ kind: "continues", id, total: 5300 }, TIME);
  assert.equal(line, `2025-01-01T00:00:00.000Z Continues log ${id} at total 5300\n`);
  assert.deepEqual(parsePrimaryLine(line.slice(0, -1))?.entry, { kind: "continues", id, total: 5300 });
  const reader = new PrimaryLogReader();
  assert.equal(read(reader, line.slice(0, -1)), LINE_CONTINUES);
  assert.deepEqual([reader.continues, reader.total], [id, 5300]);
});

Deno.test("PrimaryLogReader refuses a damaged continuation line rather than skip it as an event", () => {
  const reader = new PrimaryLogReader();
  const id = "0f".repeat(32);
  for (
    const text of [
      `Continues log ${id.slice(1)} at total 5`,
      `Continues log ${id.toUpperCase()} at total 5`,
      `Continues log ${id} at total`,
      `Continues log ${id} at total 5x`,
      `Continues log ${id} at totals 5`,
    ]
  ) {
    assert.equal(read(reader, `2025-01-01T00:00:00.000Z ${text}`), LINE_BAD, text);
  }
});

Deno.test("PrimaryLogReader reads back every continuation line formatPrimaryLine() writes", () => {
  const reader = new PrimaryLogReader();
  fc.assert(
    fc.property(continues, time, (entry, at) => {
      assert.equal(read(reader, formatPrimaryLine(entry, at).slice(0, -1)), LINE_CONTINUES);
      assert.deepEqual([reader.continues, reader.total], [entry.id, entry.total]);
    }),
    { numRuns: 1000 },
  );
});
