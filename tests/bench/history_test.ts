import assert from "node:assert/strict";
import { HISTORY_DEFAULTS, measureHistory, writeHistory } from "../../lib/bench/history.ts";
import { logChain, RotatedLog } from "../../lib/formats/log_chain.ts";
import { parsePrimaryLog } from "../../lib/formats/primary_log.ts";
import { rotatedLogPath } from "../../lib/formats/file_names.ts";
import { tempDir } from "../support/temp.ts";

Deno.test("writeHistory() writes a chain the primary's log chain follows from the live log to the oldest file, totals adding up", async () => {
  const dir = await tempDir();
  const log = `${dir}/PrimaryLikesLog`;
  const chain = await writeHistory(log, 1024 * 1024, 4);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
    "PrimaryLikesLog",
    "PrimaryLikesLog.1",
    "PrimaryLikesLog.2",
    "PrimaryLikesLog.3",
  ]);
  const live = RotatedLog.open(log)!;
  const found = logChain(live);
  try {
    assert.deepEqual(found.files.map((file) => file.path), [3, 2, 1].map((n) => rotatedLogPath(log, n)).concat(log));
    assert.equal(found.missing, undefined);
  } finally {
    found.close();
    live.close();
  }
  let total = 0;
  let lines = 0;
  let bytes = 0;
  for (const n of [3, 2, 1, 0]) {
    const text = await Deno.readTextFile(n === 0 ? log : rotatedLogPath(log, n));
    bytes += text.length;
    const parsed = parsePrimaryLog(text);
    assert.equal(parsed.length, text.split("\n").length - 1, "every line parses");
    // The oldest file starts the history; each later one starts with a continuation line at the running total.
    assert.equal(parsed[0].entry.kind, n === 3 ? "like" : "continues", `file ${n}`);
    for (const { entry } of parsed) {
      lines++;
      if (entry.kind === "continues") assert.equal(entry.total, total);
      else if (entry.kind === "like") assert.equal(entry.total, total += entry.likes);
      else assert.fail(`unexpected ${entry.kind} line`);
    }
    // About a quarter of the bytes in each file: whole batches of ~120 KB until it holds 256 KiB.
    assert.ok(text.length >= 256 * 1024 && text.length < 512 * 1024, `file ${n}: ${text.length} bytes`);
  }
  assert.deepEqual(chain, { files: 4, lines, bytes, total });
});

Deno.test("writeHistory() refuses a chain the primary is not granted, or of no bytes", async () => {
  const log = `${await tempDir()}/PrimaryLikesLog`;
  await assert.rejects(writeHistory(log, 1024, 0), RangeError);
  await assert.rejects(writeHistory(log, 1024, 34), /files must be an integer from 1 to 33/);
  await assert.rejects(writeHistory(log, 0, 2), RangeError);
  await assert.rejects(Deno.stat(log), Deno.errors.NotFound);
});

Deno.test("measureHistory() starts real primaries from the checkpoint and rebuilt over the whole chain, then removes the files", async () => {
  const workDir = await tempDir();
  const lines: string[] = [];
  const history = await measureHistory({ workDir, bytes: 2 * 1024 * 1024, runs: 1, progress: (l) => lines.push(l) });
  assert.equal(history.files, HISTORY_DEFAULTS.files);
  assert.ok(history.bytes >= 2 * 1024 * 1024, String(history.bytes));
  assert.ok(history.short.lines < history.lines);
  assert.equal(history.runs.length, 1);
  // The starts after a clean stop replayed nothing before the checkpoint: a few lines at most, not a file's worth.
  assert.equal(history.fromCheckpoint, true);
  assert.ok(history.checkpointReplayedLines < 100, String(history.checkpointReplayedLines));
  assert.equal(history.rebuilt, true);
  assert.equal(history.readyTotal, history.total);
  for (const seconds of [history.checkpointSeconds, history.shortCheckpointSeconds, history.rebuildSeconds]) {
    assert.ok(seconds > 0, JSON.stringify(history));
  }
  assert.ok(history.linesPerSecond > 0 && Number.isFinite(history.linesPerSecond));
  assert.deepEqual(history.targets.map((t) => t.target), [
    "checkpoint start ≤ short history's + 0.25 s",
    "rebuild ≥ 1,000,000 lines/s",
  ]);
  assert.match(lines.join("\n"), /^History run 1: from the checkpoint [\d.]+ s \(short history [\d.]+ s\), rebuild/m);
  assert.deepEqual([...Deno.readDirSync(workDir)], [], "the chains are removed");
});
