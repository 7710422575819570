/**
 * Fault tests of a whole run: the primary killed with SIGKILL mid-run (once,
 * and repeatedly) and restarted on the same state; a LikesServer killed.
 * Exactly-once must hold throughout: audit passes and the final total is the
 * starting total plus the acknowledged likes.
 */
import assert from "node:assert/strict";
import { audit } from "../../lib/tools/audit.ts";
import { finalTotal, type PrimaryProcess, startPrimary } from "../support/primary.ts";
import { exchange } from "../support/client.ts";
import { freePort, spawnParent, untilAcked } from "../support/parent.ts";
import { primaryEntries, statusEntries } from "../support/logs.ts";

const RUN = { stagger: 50, duration: 3000, minInterval: 10, maxInterval: 60 };

async function checkExactlyOnce(primary: PrimaryProcess, startTotal: number): Promise<void> {
  const report = await audit(primary.dir, 10);
  assert.ok(report.ok, JSON.stringify(report.servers.filter((s) => s.lost || s.doubled || s.problems.length)));
  // Every child exited 0, so every message was acknowledged in the end: a reply lost in a
  // crash was answered `0 duplicate` on retry. Nothing is counted that was not acknowledged.
  assert.deepEqual(report.servers.filter((s) => s.unconfirmed > 0 || s.acked !== s.sent), []);
  const acked = report.servers.reduce((n, s) => n + s.ackedLikes, 0);
  assert.equal(finalTotal(primary), startTotal + acked);
}

async function killAndRestart(primary: PrimaryProcess, port: number, downtime: number): Promise<PrimaryProcess> {
  const status = await primary.stop("SIGKILL");
  assert.equal(status.signal, "SIGKILL");
  await new Promise((r) => setTimeout(r, downtime));
  return await startPrimary({ dir: primary.dir, port, flags: { http: "off" } });
}

Deno.test("primary killed with SIGKILL mid-run and restarted: every child succeeds, nothing lost or doubled", async () => {
  const port = freePort();
  let primary = await startPrimary({ port, flags: { http: "off" } });
  // A starting total from an earlier producer, carried over the crash.
  assert.deepEqual(await exchange(port, "LikesServer42 40\n", 1), ["0"]);
  const { done } = spawnParent(primary.dir, { port, retryFor: 10_000, ...RUN });
  await new Promise((r) => setTimeout(r, 1200));
  primary = await killAndRestart(primary, port, 300);
  const run = await done;
  assert.equal(run.code, 0, run.status);
  await primary.stop();
  assert.ok(primaryEntries(primary.log).some((e) => e.kind === "recovered"));
  await checkExactlyOnce(primary, 40);
});

Deno.test("primary killed with SIGKILL five times in a row during a run: still exactly once", async () => {
  const port = freePort();
  let primary = await startPrimary({ port, flags: { http: "off" } });
  const { done } = spawnParent(primary.dir, { port, retryFor: 15_000, ...RUN });
  await new Promise((r) => setTimeout(r, 600));
  for (let i = 0; i < 5; i++) {
    primary = await killAndRestart(primary, port, 50);
    await new Promise((r) => setTimeout(r, 300));
  }
  const run = await done;
  assert.equal(run.code, 0, run.status);
  await primary.stop();
  // One new log, then five recoveries.
  assert.deepEqual(
    primaryEntries(primary.log).flatMap((e) => e.kind === "new" || e.kind === "recovered" ? [e.kind] : []),
    ["new", "recovered", "recovered", "recovered", "recovered", "recovered"],
  );
  await checkExactlyOnce(primary, 0);
});

Deno.test("a LikesServer killed with SIGKILL is recorded with its signal and the others are unaffected", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  try {
    const { done } = spawnParent(primary.dir, { port: primary.port, ...RUN });
    const statusFile = `${primary.dir}/ParentProcessStatus`;
    // Kill it mid-run: once it has had a like acknowledged.
    await untilAcked(primary.dir, 3);
    const started = statusEntries(await Deno.readTextFile(statusFile))
      .find((e) => e.kind === "child started" && e.server === 3);
    assert.ok(started?.kind === "child started");
    Deno.kill(started.pid, "SIGKILL");
    const run = await done;
    assert.equal(run.code, 1);
    const status = statusEntries(run.status);
    const ended = (server: number) => status.filter((e) => e.kind === "child ended" && e.server === server);
    assert.ok(ended(3).some((e) => e.kind === "child ended" && e.signal === "SIGKILL" && !e.success && !e.hung));
    for (const id of [0, 1, 2, 4, 5, 6, 7, 8, 9]) {
      assert.ok(ended(id).some((e) => e.kind === "child ended" && e.code === 0 && e.success), `LikesServer${id}`);
    }
    assert.ok(status.some((e) => e.kind === "parent finished" && e.succeeded === 9 && e.launched === 10));
  } finally {
    await primary.stop();
  }
  const report = await audit(primary.dir, 10);
  assert.ok(report.ok, JSON.stringify(report, null, 1));
});
