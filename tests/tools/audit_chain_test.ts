import assert from "node:assert/strict";
import { audit, formatAudit } from "../../lib/tools/audit.ts";
import { tempDir } from "../support/temp.ts";
import { firstLineId } from "../../lib/formats/log_chain.ts";

const T = "2026-11-25T10:00:00.000Z";
const STARTED = "LikesServer0 started producer=p1 pid=1 primary=127.0.0.1:4242";
const encoder = new TextEncoder();

function text(lines: string[]): string {
  return lines.map((l) => `${T} ${l}\n`).join("");
}

/** Writes a chain of primary log files, oldest first, each after the first continuing the one before. */
async function chain(dir: string, files: string[][], names: string[]): Promise<void> {
  let previous = "";
  let total = 0;
  for (const [i, lines] of files.entries()) {
    const head = i === 0 ? [] : [`Continues log ${firstLineId(encoder.encode(previous))} at total ${total}`];
    previous = text([...head, ...lines]);
    await Deno.writeTextFile(`${dir}/${names[i]}`, previous);
    for (const line of lines) {
      const m = / Total (\d+)/.exec(line);
      if (m) total = Number(m[1]);
    }
  }
}

const SERVER0 = [STARTED, "LikesServer0 5 0 seq=1", "LikesServer0 7 0 seq=2", "LikesServer0 1 0 seq=3"];
const FILES = [
  ["Started a new log with total 0 and state /tmp/x.db", "LikesServer0 5 Total 5 producer=p1 seq=1"],
  ["LikesServer0 7 Total 12 producer=p1 seq=2"],
  ["LikesServer0 1 Total 13 producer=p1 seq=3"],
];

Deno.test("audit() reads the rotated files beside the log as one chain, checking the continuation lines link up", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/LikesServer0`, text(SERVER0));
  await chain(dir, FILES, ["PrimaryLikesLog.2", "PrimaryLikesLog.1", "PrimaryLikesLog"]);
  const report = await audit(dir, 1);
  assert.equal(report.ok, true, formatAudit(report));
  assert.equal(report.servers[0].counted, 3);
  assert.deepEqual(report.files, [`${dir}/PrimaryLikesLog.2`, `${dir}/PrimaryLikesLog.1`, `${dir}/PrimaryLikesLog`]);
  // The same chain given file by file.
  const given = await audit(dir, 1, [`${dir}/PrimaryLikesLog.1`, `${dir}/PrimaryLikesLog`]);
  assert.equal(given.ok, true, formatAudit(given));
});

Deno.test("audit() reports a continuation line whose total is not the running total of the file before it", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/LikesServer0`, text(SERVER0));
  await chain(dir, FILES, ["PrimaryLikesLog.2", "PrimaryLikesLog.1", "PrimaryLikesLog"]);
  const live = await Deno.readTextFile(`${dir}/PrimaryLikesLog`);
  await Deno.writeTextFile(`${dir}/PrimaryLikesLog`, live.replace("at total 12", "at total 11"));
  const report = await audit(dir, 1);
  assert.equal(report.ok, false);
  assert.match(
    report.totalBreaks.join("\n"),
    /PrimaryLikesLog line 1: continues from total 11, but the running total before it is 12/,
  );
});

Deno.test("audit() names a deleted middle file of the chain as a gap, and does not call its likes lost", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/LikesServer0`, text(SERVER0));
  await chain(dir, FILES, ["PrimaryLikesLog.2", "PrimaryLikesLog.1", "PrimaryLikesLog"]);
  await Deno.remove(`${dir}/PrimaryLikesLog.1`);
  const report = await audit(dir, 1);
  assert.equal(report.ok, false);
  assert.deepEqual(report.chainGaps, [
    `${dir}/PrimaryLikesLog.1 is missing: a gap in the chain of ${dir}/PrimaryLikesLog`,
  ]);
  assert.equal(report.servers[0].lost, 0);
  assert.equal(report.servers[0].unverifiable, 1);
  assert.deepEqual(report.totalBreaks, []);
  assert.match(formatAudit(report), /PrimaryLikesLog\.1 is missing/);
});

Deno.test("audit() of a chain whose oldest files were deleted by --log-keep says likes before it cannot be checked", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/LikesServer0`, text(SERVER0));
  await chain(dir, FILES, ["PrimaryLikesLog.2", "PrimaryLikesLog.1", "PrimaryLikesLog"]);
  await Deno.remove(`${dir}/PrimaryLikesLog.2`);
  const report = await audit(dir, 1);
  assert.equal(report.ok, true, formatAudit(report));
  assert.equal(report.servers[0].unverifiable, 1);
  assert.match(report.chainGaps[0], /PrimaryLikesLog\.1 continues a file that is not kept/);
});
