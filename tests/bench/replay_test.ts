import assert from "node:assert/strict";
import { measureReplay, writeReplayLog } from "../../lib/bench/replay.ts";
import { parsePrimaryLine } from "../../lib/formats/primary_log.ts";
import { textLines } from "../../lib/common/text_lines.ts";
import { tempDir } from "../support/temp.ts";

Deno.test("writeReplayLog() writes like lines the log parser reads, totals adding up and each producer's seq counting up", async () => {
  const path = `${await tempDir()}/PrimaryLikesLog`;
  const log = await writeReplayLog(path, 2500);
  assert.equal(log.bytes, (await Deno.stat(path)).size);
  let total = 0;
  let lines = 0;
  const seqs = new Map<string, number>();
  using file = await Deno.open(path);
  for await (const line of textLines(file.readable)) {
    const entry = parsePrimaryLine(line)?.entry;
    assert.equal(entry?.kind, "like", line);
    if (entry?.kind !== "like") continue;
    assert.equal(entry.duplicate, false, line);
    total += entry.likes;
    assert.equal(entry.total, total, line);
    assert.equal(entry.seq, (seqs.get(entry.producer!) ?? 0) + 1, line);
    seqs.set(entry.producer!, entry.seq!);
    lines++;
  }
  assert.equal(lines, 2500);
  assert.equal(log.total, total);
  await assert.rejects(writeReplayLog(path, 1), Deno.errors.AlreadyExists);
  await assert.rejects(writeReplayLog(`${path}2`, 0), RangeError);
});

Deno.test("measureReplay() times real primaries on the log and on an empty one, and says whether they replayed", async () => {
  const workDir = await tempDir();
  const replay = await measureReplay({ workDir, lines: 1000, runs: 1 });
  assert.equal(replay.lines, 1000);
  assert.equal(replay.runs.length, 1);
  assert.ok(replay.seconds > 0 && replay.baselineSeconds > 0);
  assert.ok(replay.linesPerSecond > 0 && Number.isFinite(replay.linesPerSecond));
  // Until start-up replays the log, a primary with an empty state starts at 0: either is reported truthfully.
  assert.equal(replay.replayed, replay.readyTotal === replay.total);
  assert.equal(replay.targets.length, 1);
  assert.deepEqual([...Deno.readDirSync(workDir)], [], "the logs are removed");
});
