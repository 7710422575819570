import assert from "node:assert/strict";
import { audit, formatAudit } from "../../lib/tools/audit.ts";
import { tempDir } from "../support/temp.ts";

const T = "2026-11-25T10:00:00.000Z";

async function logs(server0: string[], primary: string[]): Promise<string> {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/LikesServer0`, server0.map((l) => `${T} ${l}\n`).join(""));
  await Deno.writeTextFile(`${dir}/PrimaryLikesLog`, primary.map((l) => `${T} ${l}\n`).join(""));
  return dir;
}

const STARTED = "LikesServer0 started producer=p1 pid=1 primary=127.0.0.1:4242";

Deno.test("audit() passes when every acknowledged like was counted once", async () => {
  const dir = await logs(
    [STARTED, "LikesServer0 5 0 seq=1", "LikesServer0 7 0 seq=2", "LikesServer0 finished: sent 2 acked 2 likes 12"],
    [
      "Recovered total 100 from /tmp/x.db",
      "LikesServer0 5 Total 105 producer=p1 seq=1",
      "LikesServer9 3 Total 108",
      "LikesServer0 5 Duplicate Total 108 producer=p1 seq=1",
      "LikesServer0 7 Total 115 producer=p1 seq=2",
    ],
  );
  const report = await audit(dir, 1);
  assert.equal(report.ok, true);
  assert.deepEqual(
    { ...report.servers[0], problems: undefined },
    {
      name: "LikesServer0",
      sent: 2,
      acked: 2,
      ackedLikes: 12,
      counted: 2,
      countedLikes: 12,
      duplicates: 1,
      lost: 0,
      unverifiable: 0,
      doubled: 0,
      unconfirmed: 0,
      problems: undefined,
    },
  );
  assert.match(formatAudit(report), /OK: every acknowledged like was counted exactly once/);
});

Deno.test("audit() reports a lost like, a double count and a broken running total", async () => {
  const dir = await logs(
    [STARTED, "LikesServer0 5 0 seq=1", "LikesServer0 7 0 seq=2", "LikesServer0 9 0 seq=3"],
    [
      "Recovered total 0 from /tmp/x.db",
      "LikesServer0 5 Total 5 producer=p1 seq=1",
      "LikesServer0 5 Total 10 producer=p1 seq=1",
      "LikesServer0 9 Total 20 producer=p1 seq=3",
    ],
  );
  const report = await audit(dir, 1);
  assert.equal(report.ok, false);
  assert.equal(report.servers[0].lost, 1);
  assert.equal(report.servers[0].doubled, 1);
  assert.deepEqual(report.totalBreaks, ["line 4: Total 20, expected 19"]);
  const table = formatAudit(report);
  assert.match(table, /1 lost, 1 double-counted/);
  assert.match(table, /MISMATCH/);
});

Deno.test("audit() counts a like whose reply was lost as counted once, not as an error", async () => {
  const dir = await logs(
    [STARTED, "LikesServer0 5 unacknowledged seq=1 (retry budget of 30000ms spent)"],
    ["Recovered total 0 from /tmp/x.db", "LikesServer0 5 Total 5 producer=p1 seq=1"],
  );
  const report = await audit(dir, 1);
  assert.equal(report.ok, true);
  assert.equal(report.servers[0].unconfirmed, 1);
  assert.equal(report.servers[0].acked, 0);
});

Deno.test("audit() reports a missing LikesServer log", async () => {
  const dir = await logs([STARTED], ["Recovered total 0 from /tmp/x.db"]);
  const report = await audit(dir, 2);
  assert.equal(report.ok, false);
  assert.match(report.servers[1].problems[0], /cannot read its log/);
});

/** Two primary logs beside the logs of `logs()`: PrimaryA and PrimaryB. */
async function twoPrimaries(server0: string[], a: string[], b: string[]): Promise<{ dir: string; paths: string[] }> {
  const dir = await logs(server0, []);
  const paths = [`${dir}/PrimaryA`, `${dir}/PrimaryB`];
  await Deno.writeTextFile(paths[0], a.map((l) => `${T} ${l}\n`).join(""));
  await Deno.writeTextFile(paths[1], b.map((l) => `${T} ${l}\n`).join(""));
  return { dir, paths };
}

Deno.test("audit() across primary logs counts a like once whichever log holds it, a duplicate line in another is fine", async () => {
  const { dir, paths } = await twoPrimaries(
    [STARTED, "LikesServer0 5 0 seq=1", "LikesServer0 7 0 seq=2", "LikesServer0 2 0 seq=3"],
    // Shared-store totals jump where the other primary counted.
    ["LikesServer0 5 Total 5 producer=p1 seq=1", "LikesServer0 2 Total 14 producer=p1 seq=3"],
    ["LikesServer0 7 Total 12 producer=p1 seq=2", "LikesServer0 2 Duplicate Total 14 producer=p1 seq=3"],
  );
  const report = await audit(dir, 1, paths, { storeTotal: 14 });
  assert.equal(report.ok, true, formatAudit(report));
  assert.equal(report.servers[0].counted, 3);
  assert.equal(report.servers[0].duplicates, 1);
  assert.equal(report.countedTotal, 14);
  assert.match(formatAudit(report), /Shared total 14; likes counted across the primary logs 14/);
});

Deno.test("audit() across primary logs reports a like accepted in two logs, a falling total and a store total that differs", async () => {
  const { dir, paths } = await twoPrimaries(
    [STARTED, "LikesServer0 5 0 seq=1", "LikesServer0 7 0 seq=2"],
    ["LikesServer0 5 Total 5 producer=p1 seq=1", "LikesServer0 7 Total 4 producer=p1 seq=2"],
    ["LikesServer0 5 Total 10 producer=p1 seq=1"],
  );
  const report = await audit(dir, 1, paths, { storeTotal: 12 });
  assert.equal(report.ok, false);
  assert.equal(report.servers[0].doubled, 1);
  assert.deepEqual(report.totalBreaks, [
    `${paths[0]} line 2: Total 4, below the previous 5`,
    "the store's total 12 is not the 17 likes counted across the logs",
  ]);
  assert.match(formatAudit(report), /1 double-counted/);
});

Deno.test("audit() reports a Recovered line that disagrees with the running total before it, and keeps the log's own total", async () => {
  const dir = await logs(
    [STARTED, "LikesServer0 300 0 seq=1", "LikesServer0 33 0 seq=2"],
    [
      "Recovered total 0 from /tmp/x.db",
      "LikesServer0 300 Total 300 producer=p1 seq=1",
      "Stopped by SIGTERM with total 300",
      // A checkpoint edited by hand, trusted by a primary that did not check it against the log.
      "Recovered total 5300 from /tmp/x.db",
      "LikesServer0 33 Total 5333 producer=p1 seq=2",
    ],
  );
  const report = await audit(dir, 1);
  assert.equal(report.ok, false);
  assert.deepEqual(report.totalBreaks, [
    "line 4: Recovered total 5300, but the running total before it is 300",
    "line 5: Total 5333, expected 333",
  ]);
  assert.match(formatAudit(report), /MISMATCH/);
});

Deno.test("audit() accepts a Recovered line equal to the running total before it, and a reset to zero", async () => {
  const dir = await logs(
    [STARTED, "LikesServer0 300 0 seq=1", "LikesServer0 33 0 seq=2"],
    [
      "LikesServer0 300 Total 300 producer=p1 seq=1",
      "Recovered total 300 from /tmp/x.db",
      "Started from zero (reset) with state /tmp/x.db",
      "LikesServer0 33 Total 33 producer=p1 seq=2",
    ],
  );
  const report = await audit(dir, 1);
  assert.deepEqual(report.totalBreaks, []);
  assert.equal(report.ok, true);
});
