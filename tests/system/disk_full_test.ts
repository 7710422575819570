/**
 * A full disk, for real: the primary's log and checkpoint on a small tmpfs
 * this test mounts (as root; otherwise it is skipped, and the test command says so), filled
 * mid-run and then freed. Every acknowledged like must survive, nothing
 * refused may be counted, /healthz must say what is wrong meanwhile, and the
 * primary must recover by itself.
 */
import { eventually } from "../support/eventually.ts";
import assert from "node:assert/strict";
import { startPrimary } from "../support/primary.ts";
import { exchange, pipeline } from "../support/client.ts";
import { tempDir } from "../support/temp.ts";
import { requirement } from "../support/requirements.ts";
import { logFiles } from "../support/logs.ts";

async function run(cmd: string, args: string[]): Promise<boolean> {
  const { success } = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
  return success;
}

const ROOT = await requirement("root");

/** Mounts a tmpfs of `size` on a new directory (root, checked by ROOT.test). */
async function smallDisk(size: string): Promise<string> {
  const dir = await tempDir();
  if (!await run("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir])) {
    throw new Error(`mount -t tmpfs failed on ${dir}, as root`);
  }
  return dir;
}

/** Fills the disk with one file, to the last byte. */
function fill(path: string): void {
  const file = Deno.openSync(path, { write: true, create: true });
  const block = new Uint8Array(4096);
  try {
    for (;;) file.writeSync(block);
  } catch (error) {
    if (!String(error).includes("No space left")) throw error;
  } finally {
    file.close();
  }
  // Fill the last partial block too.
  const tail = Deno.openSync(path, { write: true, append: true });
  try {
    for (;;) tail.writeSync(new Uint8Array(1));
  } catch {
    /* full */
  } finally {
    tail.close();
  }
}

async function health(port: number): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`);
  return { status: response.status, body: await response.text() };
}

function likes(producer: string, from: number, to: number): string[] {
  const lines = [];
  for (let seq = from; seq <= to; seq++) lines.push(`LikesServer1 ${seq % 7 + 1} ${producer} ${seq}`);
  return lines;
}

function sumOf(from: number, to: number): number {
  let sum = 0;
  for (let seq = from; seq <= to; seq++) sum += seq % 7 + 1;
  return sum;
}

for (const durability of ["normal", "fsync"]) {
  ROOT.test({
    name:
      `${durability}: on a full disk likes fail with a storage error, /healthz says why, and all recovers when space returns`,
    fn: async () => {
      const dir = await smallDisk("2m");
      try {
        const args = ["--durability", durability, "--checkpoint-every", "100ms"];
        const primary = await startPrimary({ dir, args });
        try {
          assert.deepEqual(await pipeline(primary.port, likes("a", 1, 200)), new Array(200).fill("0"));
          fill(`${dir}/filler`);
          // Until the disk has room again, nothing is acknowledged and nothing counted.
          const refused = await pipeline(primary.port, likes("a", 201, 400));
          assert.ok(refused.every((reply) => reply === "1 storage error"), refused.join(","));
          const sick = await health(primary.httpPort);
          assert.equal(sick.status, 503);
          assert.match(sick.body, /^unhealthy: Cannot write to the log .*No space left on device/);
          Deno.removeSync(`${dir}/filler`);
          // The same likes, retried: now counted, once.
          assert.deepEqual(await pipeline(primary.port, likes("a", 201, 400)), new Array(200).fill("0"));
          // The log is healthy at once; a checkpoint that failed meanwhile is retried within --checkpoint-every.
          await eventually(
            "/healthz 200 once space returned",
            async () => (await health(primary.httpPort)).status === 200,
          );
          assert.deepEqual(await exchange(primary.port, `LikesServer1 ${400 % 7 + 1} a 400\n`, 1), ["0 duplicate"]);
        } finally {
          assert.equal((await primary.stop()).code, 0);
        }
        const text = Deno.readTextFileSync(`${dir}/PrimaryLikesLog`);
        assert.ok(text.endsWith("\n"), "no half line");
        // The log replays (a restart without the checkpoint rebuilds it all) to every acknowledged like, once.
        Deno.removeSync(`${dir}/PrimaryLikes.db`);
        const again = await startPrimary({ dir, args });
        assert.equal(again.total, sumOf(1, 400));
        assert.equal((await again.stop()).code, 0);
      } finally {
        await run("umount", [dir]);
      }
    },
  });
}

ROOT.test({
  name: "a SIGTERM while the disk is full exits non-zero with one clear line, keeping every acknowledged like",
  fn: async () => {
    const dir = await smallDisk("2m");
    try {
      const primary = await startPrimary({ dir, args: ["--http", "off"] });
      assert.deepEqual(await pipeline(primary.port, likes("b", 1, 100)), new Array(100).fill("0"));
      fill(`${dir}/filler`);
      const status = await primary.stop("SIGTERM");
      assert.equal(status.code, 1);
      const last = primary.output().trim().split("\n").at(-1)!;
      assert.match(
        last,
        /^PrimaryLikesServer stopped by SIGTERM: total \d+, every acknowledged like kept, but could not (log the stop|write the checkpoint).*(No space left on device|disk is full)/,
      );
      assert.doesNotMatch(primary.output(), /\n\s+at /, "no stack trace");
      Deno.removeSync(`${dir}/filler`);
      const again = await startPrimary({ dir, args: ["--http", "off"] });
      assert.equal(again.total, sumOf(1, 100));
      assert.equal((await again.stop()).code, 0);
    } finally {
      await run("umount", [dir]);
    }
  },
});

for (const durability of ["normal", "fsync"]) {
  ROOT.test({
    name: `${durability}: rotating with --log-keep through a full disk keeps every acknowledged like, ` +
      "and the kept files and the checkpoint still start up to the same total",
    fn: async () => {
      const dir = await smallDisk("2m");
      try {
        const args = [
          "--durability",
          durability,
          "--log-max-bytes",
          "8k",
          "--log-keep",
          "1",
          "--checkpoint-every",
          "100ms",
        ];
        const primary = await startPrimary({ dir, args });
        try {
          assert.deepEqual(await pipeline(primary.port, likes("r", 1, 300)), new Array(300).fill("0"));
          fill(`${dir}/filler`);
          // The live file's last, partly filled page still takes a few lines (a tmpfs keeps it): those are counted.
          const first = await pipeline(primary.port, likes("r", 301, 600));
          assert.ok(first.every((reply) => reply === "0" || reply === "1 storage error"), first.join(","));
          assert.ok(first.includes("1 storage error"), "the full disk refused likes");
          Deno.removeSync(`${dir}/filler`);
          // Sent again once space is back, rotating on past the full disk's failed rotations and checkpoints:
          // what was refused counts now, what was counted is a duplicate.
          const again = await pipeline(primary.port, likes("r", 301, 600));
          assert.deepEqual(again, first.map((reply) => reply === "0" ? "0 duplicate" : "0"));
          await eventually(
            "/healthz 200 once space returned",
            async () => (await health(primary.httpPort)).status === 200,
          );
        } finally {
          assert.equal((await primary.stop()).code, 0, primary.output());
        }
        const log = `${dir}/PrimaryLikesLog`;
        assert.ok(logFiles(log).length <= 3, `kept ${logFiles(log).join(", ")}`);
        assert.match(Deno.readTextFileSync(log), /Continues log/);
        // From the checkpoint, then rebuilt from the kept files alone: the same total either way.
        const restarted = await startPrimary({ dir, args });
        assert.equal(restarted.total, sumOf(1, 600));
        assert.equal((await restarted.stop()).code, 0);
        Deno.removeSync(`${dir}/PrimaryLikes.db`);
        const rebuilt = await startPrimary({ dir, args });
        assert.equal(rebuilt.total, sumOf(1, 600));
        assert.equal((await rebuilt.stop()).code, 0);
      } finally {
        await run("umount", [dir]);
      }
    },
  });
}
