import assert from "node:assert/strict";
import {
  LINE_ACCEPTED,
  LINE_BAD,
  LINE_DUPLICATE,
  LINE_OTHER,
  LINE_OUT_OF_ORDER,
  LINE_RESET,
  PrimaryLogReader,
} from "../../lib/formats/primary_log.ts";

const encoder = new TextEncoder();

function read(reader: PrimaryLogReader, line: string): number {
  const bytes = encoder.encode(`xx${line}\n`);
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
  for (
    const bad of [
      "not a time at all, but long enough to look",
      "2026-01-02T03:04:05.678Z LikesServer1 5 Tot",
      "2026-01-02T03:04:05.678Z LikesServer1 x Total 5",
      "2026-01-02T03:04:05.678Z LikesServer1 5 Total 5 producer=p",
      "2026-01-02T03:04:05.678Z LikesServer1 5 Duplicate Total 5",
      "2026-01-02T03:04:05.678Z LikesServer1 5 Total 5 trailing",
    ]
  ) {
    assert.equal(read(reader, bad), LINE_BAD, bad);
    assert.ok(reader.error.length > 0);
  }
});
