/**
 * On a machine without redis-server or a C compiler, and with `deno` found
 * only where the user started it, the programs print only the lines they
 * write: no runtime notice (such as Deno's "Failed to resolve … for
 * allow-run") before or among them. Each runs with its deno.json task's
 * flags, under a PATH that holds deno alone.
 */
import assert from "node:assert/strict";
import { freePort } from "../support/parent.ts";
import { tempDir } from "../support/temp.ts";
import { onlyDenoPath, runToEnd } from "../support/command.ts";
import { REDIS } from "../support/redis.ts";
import { denoInvocation } from "../../lib/launch/permissions.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const tasks: Record<string, string> = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks;

/**
 * Runs deno.json's `task` with `args` (the task's values rewritten by
 * `rewrite`), under a PATH of deno alone unless `path` is given.
 */
async function runTask(
  task: string,
  args: string[],
  rewrite: (word: string) => string = (word) => word,
  path?: string,
) {
  const [deno, ...words] = tasks[task].split(" ").map(rewrite);
  assert.equal(deno, "deno");
  return await runToEnd(Deno.execPath(), [...words, ...args], {
    cwd: ROOT,
    env: { PATH: path ?? await onlyDenoPath() },
  });
}

Deno.test("demo --help prints its help and nothing else", async () => {
  const { code, stdout, stderr } = await runTask("demo", ["--help"]);
  assert.equal(code, 0, stderr);
  assert.equal(stderr, "");
  assert.match(stdout, /^Usage: deno task demo \[flags\]\n/);
});

Deno.test("bench --bogus prints its one usage line and nothing else, without redis-server or cc", async () => {
  const { code, stdout, stderr } = await runTask("bench", ["--bogus"]);
  assert.equal(code, 2);
  assert.equal(stdout, "");
  assert.equal(stderr, "bench: Unknown option '--bogus' (see --help)\n");
});

Deno.test("demo --redis without redis-server says so in one line, before any grant", async () => {
  const { code, stdout, stderr } = await runTask("demo", ["--redis"]);
  assert.equal(code, 1);
  assert.equal(stdout, "");
  assert.equal(
    stderr,
    "demo: Cannot run the Redis demo: redis-server is not installed (apt-get install redis-server)\n",
  );
});

REDIS.test({
  name: "demo --redis without its grant names the missing grants and a command with them, in one line",
  fn: async () => {
    const { code, stdout, stderr } = await runTask("demo", ["--redis"], undefined, Deno.env.get("PATH"));
    assert.equal(code, 2);
    assert.equal(stdout, "");
    // The command starts Deno as this one was started: `deno`, or npx under the README's quick start.
    const deno = denoInvocation(Deno.execPath(), Deno.version.deno).replaceAll(".", "\\.");
    assert.match(
      stderr,
      new RegExp(
        `^demo: Missing grants .*--allow-run=redis-server for these flags; run: ${deno} run .*--allow-run=deno,redis-server \\S+demo\\.ts --redis\n$`,
      ),
    );
  },
});

Deno.test("a short demo prints only its own lines: no runtime notice on either stream", async () => {
  const dir = await tempDir();
  const http = `127.0.0.1:${freePort()}`;
  const { code, stdout, stderr } = await runTask(
    "demo",
    [
      ...[
        "--duration",
        "2s",
        "--servers",
        "2",
        "--stagger",
        "50ms",
        "--min-interval",
        "20ms",
        "--max-interval",
        "100ms",
      ],
      ...["--log-dir", dir, "--port", String(freePort()), "--http", http],
    ],
    (word) => word.replace(/^--allow-net=.*/, `--allow-net=${http}`),
  );
  assert.equal(code, 0, stdout + stderr);
  assert.equal(stderr, "");
  assert.match(stdout, /OK: every acknowledged like was counted exactly once/);
  // Deno's own notices are coloured and named (Info, Warning, Download); ours are neither.
  assert.ok(!stdout.includes("\x1b["), stdout);
  assert.doesNotMatch(stdout, /^(Info|Warning|Download|Check) /m);
});
