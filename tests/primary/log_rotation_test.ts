import assert from "node:assert/strict";
import { exchange, pipeline } from "../support/client.ts";
import { startPrimary } from "../support/primary.ts";
import { logFiles } from "../support/logs.ts";
import { parsePrimaryLog } from "../../lib/formats/primary_log.ts";
import { firstLineId } from "../../lib/formats/log_chain.ts";
import { LikesLog } from "../../lib/primary/likes_log.ts";
import { LogRotation } from "../../lib/primary/log_rotation.ts";
import { primaryDefaults, primarySpecs } from "../../lib/primary/options.ts";
import { toFlags } from "../../lib/common/cli.ts";
import { primaryGrants } from "../../lib/launch/permissions.ts";
import { launchPrimary } from "../../lib/launch/primary_process.ts";

const encoder = new TextEncoder();

/** `count` likes of 1 from producer `producer`, seqs from `from`. */
function likes(producer: string, from: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `LikesServer1 1 ${producer} ${from + i}`);
}

/** Checks each file's continuation line names the next older file's id and its last total. */
function assertChained(paths: string[]): void {
  for (let i = 0; i + 1 < paths.length; i++) {
    const entries = parsePrimaryLog(Deno.readTextFileSync(paths[i])).map((line) => line.entry);
    const first = entries[0];
    assert.equal(first.kind, "continues", `${paths[i]} starts with a continuation line`);
    const older = Deno.readFileSync(paths[i + 1]);
    const olderEntries = parsePrimaryLog(new TextDecoder().decode(older)).map((line) => line.entry);
    const lastTotal = olderEntries.findLast((e) => e.kind === "like" || e.kind === "continues");
    assert.ok(first.kind === "continues" && lastTotal && "total" in lastTotal);
    assert.equal(first.id, firstLineId(older), `${paths[i]} names ${paths[i + 1]} by id`);
    assert.equal(first.total, lastTotal.total, `${paths[i]} continues from ${paths[i + 1]}'s last total`);
  }
}

Deno.test("a primary past --log-max-bytes rotates at a batch boundary to .1, .2 …, each new file continuing the one before it", async () => {
  const primary = await startPrimary({ args: ["--log-max-bytes", "4k"] });
  try {
    for (let round = 0; round < 6; round++) {
      const replies = await pipeline(primary.port, likes("rot", round * 40 + 1, 40));
      assert.deepEqual(replies, Array(40).fill("0"));
    }
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  assert.match(Deno.readTextFileSync(primary.log), /Rotated the log at \d+ bytes .*: the previous file is now .*\.1\n/);
  const paths = logFiles(primary.log);
  assert.ok(paths.length >= 3, `rotated files: ${paths.join(" ")}`);
  for (const path of paths.slice(1)) assert.ok(Deno.statSync(path).size < 4096 + 8192, `${path} is not far past 4k`);
  assertChained(paths);
  const again = await startPrimary({ dir: primary.dir, args: ["--log-max-bytes", "4k", "--http", "off"] });
  try {
    assert.equal(again.total, 240);
    // Started from the checkpoint in the current file: no line says it rebuilt anything.
    assert.doesNotMatch(again.output(), /rebuilt/);
  } finally {
    await again.stop();
  }
});

Deno.test("--log-keep deletes the oldest rotated files beyond it, and a rebuild without a checkpoint starts from the oldest kept file's continuation line", async () => {
  const primary = await startPrimary({ args: ["--log-max-bytes", "4k", "--log-keep", "1"] });
  try {
    for (let round = 0; round < 6; round++) await pipeline(primary.port, likes("keep", round * 40 + 1, 40));
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  assert.deepEqual(logFiles(primary.log), [primary.log, `${primary.log}.1`]);
  assert.ok((await Deno.readTextFile(primary.log)).split("\n")[0].includes("Continues log"));
  Deno.removeSync(primary.state);
  const again = await startPrimary({ dir: primary.dir, args: ["--http", "off"] });
  try {
    assert.equal(again.total, 240, again.output());
    assert.match(again.output(), /continues one that is gone/);
    // The seqs the kept files hold are known again: a retry is a duplicate.
    assert.deepEqual(await exchange(again.port, "LikesServer1 1 keep 240\n", 1), ["0 duplicate"]);
  } finally {
    await again.stop();
  }
});

Deno.test("a rotation cut short between its rename and the new file continues the rotated file at the next start", async () => {
  const primary = await startPrimary({ args: ["--http", "off"] });
  await pipeline(primary.port, likes("cut", 1, 30));
  assert.equal((await primary.stop("SIGKILL")).signal, "SIGKILL");
  Deno.renameSync(primary.log, `${primary.log}.1`);
  const again = await startPrimary({ dir: primary.dir, args: ["--http", "off"] });
  try {
    assert.equal(again.total, 30);
    assert.match(again.output(), /was empty beside .*\.1/);
    assert.deepEqual(await exchange(again.port, "LikesServer1 1 cut 31\n", 1), ["0"]);
  } finally {
    await again.stop();
  }
  assertChained(logFiles(primary.log));
  // Without the checkpoint the chain replays from the first file.
  Deno.removeSync(primary.state);
  const third = await startPrimary({ dir: primary.dir, args: ["--http", "off"] });
  assert.equal(third.total, 31);
  await third.stop();
});

Deno.test("a chain whose continuation total does not match the file before it stops start-up with the line", async () => {
  const primary = await startPrimary({ args: ["--log-max-bytes", "4k", "--http", "off"] });
  for (let round = 0; round < 3; round++) await pipeline(primary.port, likes("bad", round * 40 + 1, 40));
  await primary.stop();
  const text = Deno.readTextFileSync(primary.log).replace(
    / at total (\d+)\n/,
    (_, t) => ` at total ${Number(t) + 1}\n`,
  );
  Deno.writeFileSync(primary.log, encoder.encode(text));
  Deno.removeSync(primary.state);
  const again = await startPrimary({ dir: primary.dir, args: ["--http", "off"] }).catch((error) => error as Error);
  assert.ok(again instanceof Error, "start-up stops");
  assert.match(again.message, /continues from total \d+, but the log before it ends at total \d+/);
});

Deno.test("LogRotation.prune() unlinks the files beyond --log-keep before it returns, so a rotation right after renames none under a deletion", async () => {
  const dir = await Deno.makeTempDir();
  const log = LikesLog.open(`${dir}/PrimaryLikesLog`);
  try {
    log.append("2026-12-05T00:00:00.000Z LikesServer1 1 Total 1\n");
    for (let n = 1; n <= 5; n++) Deno.writeTextFileSync(`${log.path}.${n}`, `file ${n}\n`);
    const rotation = new LogRotation(log, { total: () => 1, checkpoint: () => log.id(), saved: () => log.id() }, {
      maxBytes: 1,
      keep: 2,
    });
    rotation.prune(log.id());
    assert.deepEqual(logFiles(log.path), [log.path, `${log.path}.1`, `${log.path}.2`]);
    // Their pages are freed off the event loop; a rotation need not wait for that.
    assert.ok(rotation.due());
    rotation.rotate();
    assert.deepEqual(logFiles(log.path), [log.path, `${log.path}.1`, `${log.path}.2`]);
    assert.equal(Deno.readTextFileSync(`${log.path}.2`), "file 1\n");
    await rotation.settled();
  } finally {
    log.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("in fsync mode a primary that may not read its log's directory says at start that a rotation's renames rely on the filesystem; one that may says nothing", async () => {
  const dir = await Deno.makeTempDir();
  const options = { ...primaryDefaults, port: 0, http: "off", log: `${dir}/PrimaryLikesLog`, state: `${dir}/db` };
  const args = toFlags(primarySpecs, { ...options, durability: "fsync" });
  try {
    for (const grants of [primaryGrants(options), "all" as const]) {
      const primary = await launchPrimary({ args, grants, deno: Deno.execPath() });
      await primary.stop();
      const says = /not granted for reading, so it is not synced after a rotation/.test(primary.output());
      assert.equal(says, grants !== "all", primary.output());
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
