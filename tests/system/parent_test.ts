import assert from "node:assert/strict";
import { audit } from "../../lib/tools/audit.ts";
import { finalTotal, startPrimary } from "../support/primary.ts";
import { FAST, freePort, spawnParent, untilAcked } from "../support/parent.ts";
import { tempDir } from "../support/temp.ts";
import type { ParentOptions } from "../../lib/supervisor/options.ts";

Deno.test("parent runs ten LikesServers and every acknowledged like is in the primary's total", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  let run;
  try {
    run = await spawnParent(primary.dir, { port: primary.port, seed: 7, ...FAST }).done;
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  assert.equal(run.code, 0, run.status);
  for (let id = 0; id < 10; id++) {
    assert.match(run.status, new RegExp(`LikesServer${id} started pid=\\d+\\n`));
    assert.match(run.status, new RegExp(`LikesServer${id} ended status 0 \\(success\\) after`));
  }
  assert.equal(run.status.match(/LikesServer\d+ started pid=/g)?.length, 10);
  assert.equal(run.status.match(/LikesServer\d+ ended /g)?.length, 10);

  const report = await audit(primary.dir, 10);
  assert.ok(report.ok, JSON.stringify(report, null, 2));
  const acked = report.servers.reduce((n, s) => n + s.ackedLikes, 0);
  assert.ok(report.servers.every((s) => s.acked > 0), "every LikesServer got likes acknowledged");
  assert.equal(finalTotal(primary), acked);

  // Every LikesServer line with reply 0 has its like in PrimaryLikesLog.
  const primaryLog = await Deno.readTextFile(primary.log);
  const server3 = await Deno.readTextFile(`${primary.dir}/LikesServer3`);
  const producer = /producer=(\S+)/.exec(server3)![1];
  for (const [, likes, seq] of server3.matchAll(/LikesServer3 (\d+) 0 seq=(\d+)/g)) {
    assert.match(primaryLog, new RegExp(` LikesServer3 ${likes} Total \\d+ producer=${producer} seq=${seq}\\n`));
  }
});

Deno.test("parent records every LikesServer's connection errors and exits 1 when no primary listens", async () => {
  const dir = await tempDir();
  const run = await spawnParent(dir, { port: freePort(), servers: 3, retryFor: 300, ...FAST }).done;
  assert.equal(run.code, 1);
  for (let id = 0; id < 3; id++) {
    assert.match(run.status, new RegExp(`LikesServer${id} "connect error: Cannot connect to 127\\.0\\.0\\.1:\\d+: `));
    assert.match(run.status, new RegExp(`LikesServer${id} ended status 1 \\(failure\\)`));
    assert.match(await Deno.readTextFile(`${dir}/LikesServer${id}`), / unacknowledged seq=1 \(retry budget/);
  }
  assert.match(run.status, /ParentProcess finished: 0 of 3 LikesServers succeeded/);
});

Deno.test("parent rejects bad flags with one line and exit code 2 before starting anything", async () => {
  const dir = await tempDir();
  for (
    const args of [["--port", "abc"], ["--bogus"], ["--min-interval", "5s", "--max-interval", "1s"], [
      "--duration",
      "5",
    ]]
  ) {
    const run = await spawnParent(dir, args).done;
    assert.equal(run.code, 2, args.join(" "));
    assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
    assert.match(run.stderr, /^parent: /);
  }
  await assert.rejects(Deno.stat(`${dir}/ParentProcessStatus`), Deno.errors.NotFound);
});

/** Three LikesServers that would run for a minute: these tests stop them. */
function untilStopped(port: number, minInterval: number, maxInterval: number): Partial<ParentOptions> {
  return { port, servers: 3, stagger: 50, duration: 60_000, minInterval, maxInterval };
}

Deno.test("SIGTERM to the parent stops every LikesServer cleanly and records their ends", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  try {
    const { process, done } = spawnParent(primary.dir, untilStopped(primary.port, 20, 50));
    await untilAcked(primary.dir, 2);
    process.kill("SIGTERM");
    const run = await done;
    assert.equal(run.code, 0, run.status);
    assert.match(run.status, /ParentProcess stopping on SIGTERM/);
    for (let id = 0; id < 3; id++) {
      assert.match(run.status, new RegExp(`LikesServer${id} ended status 0 \\(success\\)`));
      assert.match(await Deno.readTextFile(`${primary.dir}/LikesServer${id}`), /stopped: sent \d+ acked \d+/);
    }
  } finally {
    await primary.stop();
  }
  assert.ok((await audit(primary.dir, 3)).ok);
});

Deno.test("Ctrl-C to the whole group, then SIGTERM from a supervisor: every LikesServer still stops cleanly", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  try {
    const { process, done } = spawnParent(primary.dir, untilStopped(primary.port, 5, 20));
    const statusFile = `${primary.dir}/ParentProcessStatus`;
    await untilAcked(primary.dir, 2);
    // What a terminal's Ctrl-C does: SIGINT to every process of the group at once.
    const pids = [...(await Deno.readTextFile(statusFile)).matchAll(/LikesServer\d started pid=(\d+)/g)];
    process.kill("SIGINT");
    for (const [, pid] of pids) Deno.kill(Number(pid), "SIGINT");
    // And a supervisor (the demo) following up with SIGTERM, to the parent and its children.
    process.kill("SIGTERM");
    for (const [, pid] of pids) Deno.kill(Number(pid), "SIGTERM");
    const run = await done;
    assert.equal(run.code, 0, run.status);
    assert.equal(run.status.match(/LikesServer\d ended status 0 \(success\)/g)?.length, 3, run.status);
  } finally {
    await primary.stop("SIGINT");
  }
  const report = await audit(primary.dir, 3);
  assert.ok(report.ok, JSON.stringify(report));
});
