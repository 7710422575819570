import assert from "node:assert/strict";
import { demoGrants, launchArgs } from "../../lib/launch/permissions.ts";
import { redisMissing } from "../support/redis.ts";
import { tempDir } from "../support/temp.ts";

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Runs demo.ts with the demo task's grants for `logDir`. */
async function demo(logDir: string, args: string[], env?: Record<string, string>) {
  const grants = demoGrants({ http: "127.0.0.1:0", logDir });
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: launchArgs("demo.ts", grants, ["--log-dir", logDir, ...args]),
    env,
  }).output();
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
}

/** Whether the primary has the Redis store yet (it arrives with the commit-path rewrite). */
async function primaryHasStore(): Promise<boolean> {
  const { stdout } = await new Deno.Command(Deno.execPath(), {
    args: launchArgs("primary.ts", "all", ["--help"]),
  }).output();
  return /--store\b/.test(decode(stdout));
}

Deno.test("demo --redis says in one line that redis-server is missing, and exits 1", async () => {
  const dir = await tempDir();
  // A PATH with deno and nothing else.
  await Deno.mkdir(`${dir}/bin`);
  await Deno.symlink(Deno.execPath(), `${dir}/bin/deno`);
  const { code, stdout, stderr } = await demo(dir, ["--redis"], { PATH: `${dir}/bin` });
  assert.equal(code, 1);
  assert.equal(stdout, "");
  const ours = stderr.split("\n").filter((line) => line.startsWith("demo:"));
  assert.deepEqual(ours, [
    "demo: Cannot run the Redis demo: redis-server is not installed (apt-get install redis-server)",
  ]);
});

Deno.test("demo refuses --redis together with --primaries", async () => {
  const { code, stderr } = await demo(await tempDir(), ["--redis", "--primaries", "127.0.0.1:1"]);
  assert.equal(code, 2, stderr);
  assert.match(stderr, /--primaries .* --redis/);
});

Deno.test({
  name: "demo --redis --primary-count 2 runs two primaries on one Redis and a parent over both; the audit passes",
  ignore: redisMissing !== undefined,
  async fn(t) {
    if (!await primaryHasStore()) {
      console.warn("Skipping: primary.ts --help does not list --store yet (the Redis store is not wired in)");
      return;
    }
    const dir = await tempDir();
    const { code, stdout, stderr } = await demo(dir, [
      ...["--redis", "--primary-count", "2", "--servers", "4", "--http", "127.0.0.1:0"],
      ...["--stagger", "50ms", "--duration", "3s", "--min-interval", "20ms", "--max-interval", "100ms"],
    ]);
    assert.equal(code, 0, stdout + stderr);
    assert.match(stdout, /Primary 0 ready: .*\nPrimary 1 ready: /);
    assert.match(stdout, /Shared total \d+; likes counted across the primary logs \d+/);
    assert.match(stdout, /OK: every acknowledged like was counted exactly once/);
    await t.step("keeps the Redis append-only file in its directory", async () => {
      assert.ok((await Array.fromAsync(Deno.readDir(`${dir}/likes-demo-redis`))).length > 0);
    });
  },
});
