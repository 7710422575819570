import assert from "node:assert/strict";
import { audit } from "../../lib/tools/audit.ts";
import { finalTotal, startPrimary } from "../support/primary.ts";
import { FAST, freePort, spawnParent, untilAcked } from "../support/parent.ts";
import { tempDir } from "../support/temp.ts";
import { likesServerEntries, primaryEntries, statusEntries } from "../support/logs.ts";
import type { StatusLogEntry } from "../../lib/formats/status_log.ts";
import type { ParentOptions } from "../../lib/supervisor/options.ts";
import { eventually } from "../support/eventually.ts";

/** The status entries of LikesServer `id` of `kind`. */
function childEntries(status: string, id: number, kind: StatusLogEntry["kind"]): StatusLogEntry[] {
  return statusEntries(status).filter((e) => e.kind === kind && "server" in e && e.server === id);
}

Deno.test("parent runs ten LikesServers and every acknowledged like is in the primary's total", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  let run;
  try {
    run = await spawnParent(primary.dir, { port: primary.port, seed: 7, ...FAST }).done;
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  assert.equal(run.code, 0, run.status);
  const status = statusEntries(run.status);
  for (let id = 0; id < 10; id++) {
    assert.equal(childEntries(run.status, id, "child started").length, 1, run.status);
    const ended = childEntries(run.status, id, "child ended");
    assert.ok(ended.length === 1 && ended[0].kind === "child ended" && ended[0].code === 0 && ended[0].success);
  }
  assert.equal(status.filter((e) => e.kind === "child started").length, 10);
  assert.equal(status.filter((e) => e.kind === "child ended").length, 10);

  const report = await audit(primary.dir, 10);
  assert.ok(report.ok, JSON.stringify(report, null, 2));
  const acked = report.servers.reduce((n, s) => n + s.ackedLikes, 0);
  assert.ok(report.servers.every((s) => s.acked > 0), "every LikesServer got likes acknowledged");
  assert.equal(finalTotal(primary), acked);

  // Every LikesServer line with reply 0 has its like in PrimaryLikesLog.
  const counted = primaryEntries(primary.log).flatMap((e) => e.kind === "like" && !e.duplicate ? [e] : []);
  const server3 = likesServerEntries(await Deno.readTextFile(`${primary.dir}/LikesServer3`));
  const started = server3[0];
  assert.ok(started.kind === "started");
  for (const sent of server3) {
    if (sent.kind !== "acked") continue;
    const like = counted.find((e) => e.producer === started.producer && e.seq === sent.seq);
    assert.ok(like && like.server === 3 && like.likes === sent.likes, JSON.stringify(sent));
  }
});

Deno.test("parent records every LikesServer's connection errors and exits 1 when no primary listens", async () => {
  const dir = await tempDir();
  const run = await spawnParent(dir, { port: freePort(), servers: 3, retryFor: 300, ...FAST }).done;
  assert.equal(run.code, 1);
  for (let id = 0; id < 3; id++) {
    const errors = childEntries(run.status, id, "child error");
    assert.ok(
      errors.some((e) => e.kind === "child error" && e.text.startsWith("connect error: Cannot connect to 127.0.0.1:")),
      run.status,
    );
    assert.deepEqual(
      childEntries(run.status, id, "child ended").map((e) => e.kind === "child ended" && [e.code, e.success]),
      [[1, false]],
    );
    const log = likesServerEntries(await Deno.readTextFile(`${dir}/LikesServer${id}`));
    assert.ok(
      log.some((e) =>
        e.kind === "unacknowledged" && e.seq === 1 && e.reason.kind === "abandoned" &&
        e.reason.why.startsWith("retry budget")
      ),
      JSON.stringify(log),
    );
  }
  assert.deepEqual(statusEntries(run.status).at(-1), {
    kind: "parent finished",
    succeeded: 0,
    launched: 3,
    notStarted: 0,
  });
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
    const status = statusEntries(run.status);
    assert.ok(status.some((e) => e.kind === "parent stopping" && e.signal === "SIGTERM"));
    for (let id = 0; id < 3; id++) {
      assert.ok(
        status.some((e) => e.kind === "child ended" && e.server === id && e.code === 0 && e.success && !e.hung),
      );
      const log = likesServerEntries(await Deno.readTextFile(`${primary.dir}/LikesServer${id}`));
      assert.ok(log.some((e) => e.kind === "ended" && e.how === "stopped"), JSON.stringify(log));
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
    const pids = statusEntries(await Deno.readTextFile(statusFile))
      .flatMap((e) => e.kind === "child started" && e.server < 10 ? [e.pid] : []);
    process.kill("SIGINT");
    for (const pid of pids) Deno.kill(pid, "SIGINT");
    // And a supervisor (the demo) following up with SIGTERM, to the parent and its children.
    process.kill("SIGTERM");
    for (const pid of pids) Deno.kill(pid, "SIGTERM");
    const run = await done;
    assert.equal(run.code, 0, run.status);
    // Clean: exit 0, or (one that was still loading when the Ctrl-C came) a stop signal before it sent anything.
    const cleanEnds = statusEntries(run.status)
      .filter((e) => e.kind === "child ended" && e.server < 10 && e.success && !e.hung);
    assert.equal(cleanEnds.length, 3, run.status);
  } finally {
    await primary.stop("SIGINT");
  }
  const report = await audit(primary.dir, 3);
  assert.ok(report.ok, JSON.stringify(report));
});

Deno.test("a Ctrl-C that kills a LikesServer still starting is a clean stop, not a failure", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  try {
    const { process, done } = spawnParent(primary.dir, { ...FAST, port: primary.port, servers: 1 });
    // LikesServer0 is launched at once; the Ctrl-C reaches it while Deno is still loading it, before it can catch it.
    let pid = 0;
    await eventually("LikesServer0's start line", async () => {
      const status = await Deno.readTextFile(`${primary.dir}/ParentProcessStatus`).catch(() => "");
      const started = statusEntries(status).find((e) => e.kind === "child started");
      pid = started?.kind === "child started" ? started.pid : 0;
      return pid > 0;
    });
    // As a terminal's Ctrl-C may: the child first, its parent a moment later.
    Deno.kill(pid, "SIGINT");
    process.kill("SIGINT");
    const run = await done;
    assert.equal(run.code, 0, run.status);
    const [ended] = childEntries(run.status, 0, "child ended");
    assert.ok(ended?.kind === "child ended" && ended.success, run.status);
  } finally {
    await primary.stop();
  }
});
