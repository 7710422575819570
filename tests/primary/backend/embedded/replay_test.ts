import assert from "node:assert/strict";
import { runningTotalAt } from "../../../../lib/primary/backend/embedded/replay.ts";
import { LikesLog } from "../../../../lib/primary/likes_log.ts";
import { withDir } from "../../../support/temp.ts";

const T = "2026-01-02T03:04:05.678Z";

function withLog(lines: string[], fn: (log: LikesLog, ends: number[]) => void): Promise<void> {
  return withDir((dir) => {
    const log = LikesLog.open(`${dir}/PrimaryLikesLog`);
    const ends: number[] = [];
    try {
      for (const line of lines) {
        log.append(`${T} ${line}\n`);
        ends.push(log.size);
      }
      fn(log, ends);
    } finally {
      log.close();
    }
  });
}

Deno.test("runningTotalAt() is the Total of the last like line before the offset, past any events after it", () =>
  withLog([
    "Started a new log with total 0 and state /x",
    "LikesServer1 5 Total 5",
    "LikesServer1 3 Total 8 producer=p seq=1",
    `Invalid data "${"x".repeat(100_000)}" (line too long) from 1.2.3.4:5`,
    "LikesServer1 3 Duplicate Total 8 producer=p seq=1",
    "Recovered total 5000 from /x",
    ...new Array(3000).fill("Invalid data (bad token) from 1.2.3.4:5"),
  ], (log, ends) => {
    assert.equal(runningTotalAt(log, 0), 0);
    assert.equal(runningTotalAt(log, ends[0]), 0);
    assert.equal(runningTotalAt(log, ends[1]), 5);
    assert.equal(runningTotalAt(log, ends[3]), 8, "across a line longer than one read");
    assert.equal(runningTotalAt(log, ends[5]), 8, "a Recovered line is a claim, not the record");
    assert.equal(runningTotalAt(log, ends.at(-1)!), 8, "across more than one read of events");
  }));

Deno.test("runningTotalAt() is 0 after a reset, and says why when the line that would tell does not read", () =>
  withLog([
    "LikesServer1 5 Total 5",
    "Started from zero (reset) with state /x",
    "LikesServeR1 4 Total 4",
  ], (log, ends) => {
    assert.equal(runningTotalAt(log, ends[1]), 0);
    assert.match(String(runningTotalAt(log, ends[2])), /does not read \(it reads as a like line whose server name/);
    assert.equal(runningTotalAt(log, ends[2] - 1), "it is not the end of a line");
  }));
