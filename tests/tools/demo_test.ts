import assert from "node:assert/strict";
import { REDIS } from "../support/redis.ts";
import { tempDir } from "../support/temp.ts";
import { formatStatus, runningChange } from "../../lib/tools/demo.ts";
import { toFlags } from "../../lib/common/cli.ts";
import { FAST, freePort } from "../support/parent.ts";
import { parentSpecs } from "../../lib/supervisor/options.ts";
import { demoGrants, launchArgs } from "../../lib/launch/permissions.ts";

const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

/** Runs demo.ts with the demo task's grants for `logDir`. */
async function demo(logDir: string, args: string[], env?: Record<string, string>) {
  const grants = demoGrants({ http: "127.0.0.1:0", logDir, redis: args.includes("--redis") });
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: launchArgs("demo.ts", grants, ["--log-dir", logDir, ...args]),
    env,
  }).output();
  return { code, stdout: decode(stdout), stderr: decode(stderr) };
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

REDIS.test({
  name: "demo --redis --primary-count 2 runs two primaries on one Redis and a parent over both; the audit passes",
  async fn(t) {
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

const ROOT = new URL("../../", import.meta.url);

/** A status line; its groups: total, likes/s, running, servers, time left. */
const STATUS = /^Total (\d+|\?) {2}(-?\d+|\?) likes\/s {2}(\d+)\/(\d+) LikesServers running {2}(\S+) left$/;

Deno.test("formatStatus() shows the total, likes/s, LikesServers running and the time left", () => {
  const line = formatStatus({ total: 1234, likesPerSecond: 56.4, running: 3, servers: 10, msLeft: 251_200 });
  assert.equal(line, "Total 1234  56 likes/s  3/10 LikesServers running  4m12s left");
  assert.match(line, STATUS);
});

Deno.test("formatStatus() shows ? for what it cannot know yet and never a negative time left", () => {
  const line = formatStatus({ total: undefined, likesPerSecond: undefined, running: 0, servers: 2, msLeft: -500 });
  assert.equal(line, "Total ?  ? likes/s  0/2 LikesServers running  0s left");
  assert.equal(
    formatStatus({ total: 1, likesPerSecond: 0, running: 1, servers: 1, msLeft: 1 }).endsWith(" 1s left"),
    true,
  );
});

Deno.test("runningChange() follows the parent's start and end lines only", () => {
  assert.deepEqual(runningChange("2026-11-28T12:00:00.000Z LikesServer7 started pid=42"), { id: 7, started: true });
  assert.deepEqual(
    runningChange("2026-11-28T12:00:01.000Z LikesServer7 ended status 0 (success) after 1s"),
    { id: 7, started: false },
  );
  assert.deepEqual(
    runningChange("2026-11-28T12:00:01.000Z LikesServer2 could not be started: boom (status 1, failure)"),
    { id: 2, started: false },
  );
  // An error a LikesServer reported, even one that quotes a start line, changes nothing.
  assert.equal(runningChange("2026-11-28T12:00:01.000Z LikesServer7 Cannot connect: started pid=1"), undefined);
  assert.equal(runningChange("2026-11-28T12:00:00.000Z ParentProcess started pid=1: 2 LikesServers"), undefined);
});

Deno.test("the demo on a pipe prints status lines with all four fields every --status-every", async () => {
  const dir = await tempDir();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("demo.ts", ROOT).pathname,
      ...toFlags(parentSpecs, { ...FAST, servers: 2, logDir: dir }),
      ...["--port", String(freePort()), "--http", `127.0.0.1:${freePort()}`, "--status-every", "200ms"],
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, `${stdout}\n${new TextDecoder().decode(out.stderr)}`);
  assert.ok(!stdout.includes("\r"), "no in-place updates on a pipe");
  const statuses = stdout.split("\n").map((line) => STATUS.exec(line)).filter((match) => match !== null);
  // A 2s run sampled every 200ms: a few lines at the very least, however slow the machine.
  assert.ok(statuses.length >= 3, stdout);
  for (const [, , , , servers] of statuses) assert.equal(servers, "2");
  assert.ok(statuses.some(([, total]) => total !== "?" && Number(total) > 0), `no total seen:\n${stdout}`);
  assert.ok(statuses.some(([, , rate]) => rate !== "?"), `no rate seen:\n${stdout}`);
  assert.ok(statuses.some(([, , , running]) => Number(running) > 0), `no LikesServer seen running:\n${stdout}`);
  assert.match(stdout, /OK: every acknowledged like was counted exactly once/);
});

/** `fast-check@4.11.0`, `npm:fast-check@4.11.0` or `npm:/uplot@1.6.32/dist/x.css` → the name (scoped keeps its @). */
function packageName(id: string): string {
  const bare = id.replace(/^npm:\/?/, "");
  return bare.slice(0, bare.indexOf("@", 1));
}

async function readJson(path: string) {
  return JSON.parse(await Deno.readTextFile(new URL(path, ROOT)));
}

type Lock = { npm?: Record<string, { dependencies?: string[] }> };

/** `roots` and every package they depend on, by name, as `lock` records it. */
function closure(lock: Lock, roots: string[]): Set<string> {
  const found = new Set<string>();
  const pending = [...roots];
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (found.has(name)) continue;
    found.add(name);
    for (const [id, entry] of Object.entries(lock.npm ?? {})) {
      if (packageName(id) === name) pending.push(...(entry.dependencies ?? []).map(packageName));
    }
  }
  return found;
}

/** The packages only tests use: what tests/deno.json brings in beyond what the programs' imports need. */
async function testOnlyPackages(): Promise<Set<string>> {
  const rootImports = Object.values((await readJson("deno.json")).imports as Record<string, string>).map(packageName);
  const testImports = Object.values((await readJson("tests/deno.json")).imports as Record<string, string>).map(
    packageName,
  );
  const testsLock: Lock = await readJson("tests/deno.lock");
  const runtime = closure(testsLock, rootImports);
  return new Set([...closure(testsLock, testImports)].filter((name) => !runtime.has(name)));
}

Deno.test("deno task fetches no test-only package: the root lockfile and imports hold none of them", async () => {
  // `deno task` caches every package of the root lockfile (and of the root imports) before it runs any task.
  const testOnly = await testOnlyPackages();
  assert.ok(testOnly.has("fast-check") && testOnly.has("playwright-core"), [...testOnly].join(", "));
  const lock = await readJson("deno.lock");
  const config = await readJson("deno.json");
  const locked = Object.keys(lock.npm ?? {}).map(packageName);
  const imported = Object.values(config.imports as Record<string, string>).map(packageName);
  for (const name of [...locked, ...imported]) {
    assert.ok(!testOnly.has(name), `${name} is in the root deno.lock or deno.json: move it to tests/deno.json`);
  }
});

Deno.test("the demo's module graph, and each program's, reaches no test-only package", async () => {
  const testOnly = await testOnlyPackages();
  for (const script of ["demo.ts", "primary.ts", "parent.ts", "likes_server.ts", "audit.ts"]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", script],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const info = JSON.parse(new TextDecoder().decode(out.stdout));
    const packages = Object.keys(info.npmPackages ?? {}).map(packageName);
    const modules = (info.modules as { specifier: string }[]).map((m) => m.specifier).filter((s) =>
      s.startsWith("npm:")
    );
    for (const name of [...packages, ...modules.map(packageName)]) {
      assert.ok(!testOnly.has(name), `${script} reaches the test-only package ${name}`);
    }
  }
});
