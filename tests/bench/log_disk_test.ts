import assert from "node:assert/strict";
import { logDiskBytes, sampleMax } from "../../lib/bench/log_disk.ts";
import { tempDir } from "../support/temp.ts";

Deno.test("logDiskBytes() sums the live log and its rotated files, and nothing else beside them", async () => {
  const dir = await tempDir();
  const log = `${dir}/PrimaryLikesLog`;
  assert.equal(await logDiskBytes(log), 0);
  await Deno.writeFile(log, new Uint8Array(100));
  await Deno.writeFile(`${log}.1`, new Uint8Array(2000));
  await Deno.writeFile(`${log}.12`, new Uint8Array(30_000));
  for (const other of ["PrimaryLikes.db", "PrimaryLikesLog.0", "PrimaryLikesLog.1.gz", "PrimaryLikesLog.x", "Other"]) {
    await Deno.writeFile(`${dir}/${other}`, new Uint8Array(400_000));
  }
  // A link to a log file beside it is the same bytes, or not a file of ours: counted once.
  await Deno.link(`${log}.1`, `${log}.2`);
  await Deno.symlink(`${dir}/Other`, `${log}.3`);
  assert.equal(await logDiskBytes(log), 32_100);
});

Deno.test("sampleMax() keeps the largest sample, skips failing ones and takes a last one when stopped, once", async () => {
  const values = [5, 9, Number.NaN, 3];
  let calls = 0;
  const sampler = sampleMax(() => {
    const value = values[Math.min(calls++, values.length - 1)];
    return Number.isNaN(value) ? Promise.reject(new Error("gone")) : Promise.resolve(value);
  }, 5);
  await new Promise((resolve) => setTimeout(resolve, 60));
  assert.equal(await sampler.stop(), 9);
  const after = calls;
  assert.equal(await sampler.stop(), 9, "a second stop() gives the same maximum");
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(calls, after, "no sample after stop(), nor for a second stop()");
  let last = 1;
  const growing = sampleMax(() => Promise.resolve(last), 10_000);
  last = 42;
  assert.equal(await growing.stop(), 42, "the last sample at stop() counts");
});
