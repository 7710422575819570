/**
 * The test command (tests/run.ts) on machines that lack what some tests need:
 * it installs what it can, runs the rest, and closes with what it skipped.
 * Each case runs the real command on a small test file of its own, under a
 * PATH that hides the programs (or holds a stand-in apt-get).
 */
import assert from "node:assert/strict";
import { skipSummary } from "./run.ts";
import { findProgram, installHint } from "./support/requirements.ts";
import { requirement } from "./support/requirements.ts";
import { tempDir } from "./support/temp.ts";
import { onlyDenoPath, runToEnd } from "./support/command.ts";

const RUNNER = new URL("run.ts", import.meta.url).pathname;
const REQUIREMENTS = new URL("support/requirements.ts", import.meta.url).href;

/** A test file with two tests that need Redis and one that needs nothing. */
async function fixture(dir: string): Promise<string> {
  const path = `${dir}/fixture_test.ts`;
  await Deno.writeTextFile(
    path,
    `import { requirement } from ${JSON.stringify(REQUIREMENTS)};
const REDIS = await requirement("redis");
REDIS.test({ name: "needs redis one", fn() {} });
REDIS.test({ name: "needs redis two", fn() {} });
Deno.test("needs nothing", () => {});
`,
  );
  return path;
}

function runTests(args: string[], path: string) {
  return runToEnd(Deno.execPath(), ["run", "-A", RUNNER, ...args], { env: { PATH: path } });
}

Deno.test("the test command that cannot install passes on what it ran and closes with each skipped group", async () => {
  const dir = await tempDir();
  const { code, stdout, stderr } = await runTests([await fixture(dir)], await onlyDenoPath());
  assert.equal(code, 0, stdout + stderr);
  assert.match(stdout, /1 passed \| 0 failed \| 2 ignored/);
  const last = stdout.trimEnd().split("\n").slice(-2);
  assert.deepEqual(last, [
    "Skipped 2 tests this machine could not run:",
    `  Redis: 2 tests (redis-server is not installed); to run them: ${installHint(["redis"])}, then deno task test`,
  ]);
  assert.match(
    stdout,
    /^Not installing redis-server, redis-benchmark, chromium, cc, logrotate \((not root|no apt-get)\)/m,
  );
  assert.doesNotMatch(stderr, /Skipping/, "the skips are said once, at the end");
});

(await requirement("root")).test({
  name: "the test command as root with apt-get installs each missing program's packages, one line each",
  fn: async () => {
    const dir = await tempDir();
    const bin = await onlyDenoPath();
    // A stand-in apt-get that records its arguments and installs nothing.
    await Deno.writeTextFile(
      `${bin}/apt-get`,
      `#!/bin/sh\n[ "$1" = --version ] || echo "$@" >> ${dir}/apt.log\n`,
      { mode: 0o755 },
    );
    await Deno.symlink("/bin/sh", `${bin}/sh`);
    const { code, stdout, stderr } = await runTests([await fixture(dir)], bin);
    assert.equal(code, 0, stdout + stderr);
    assert.deepEqual((await Deno.readTextFile(`${dir}/apt.log`)).trimEnd().split("\n"), [
      "update -qq",
      "install -y -qq redis-server redis-tools chromium gcc libc6-dev logrotate",
    ]);
    assert.match(stdout, /^Installing redis-server from Debian \(for redis-server, which some tests run\)$/m);
    assert.match(stdout, /^Installing gcc libc6-dev from Debian \(for cc, which some tests run\)$/m);
    // The stand-in installed nothing, so the closing lines still say what was skipped.
    assert.match(stdout, /Redis: 2 tests/);
  },
});

Deno.test("findProgram() counts a file that cannot be executed, or whose --version fails, as missing", async () => {
  const bin = await tempDir();
  await Deno.writeTextFile(`${bin}/redis-server`, "#!/bin/sh\nexit 0\n", { mode: 0o644 });
  await Deno.writeTextFile(`${bin}/chromium`, "#!/bin/sh\nexit 3\n", { mode: 0o755 });
  await Deno.writeTextFile(`${bin}/cc`, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
  assert.deepEqual(await findProgram("redis-server", bin), { missing: `${bin}/redis-server is not executable` });
  assert.deepEqual(await findProgram("chromium", bin), { missing: `${bin}/chromium --version exited with 3` });
  assert.deepEqual(await findProgram("cc", bin), { path: `${bin}/cc` });
  assert.deepEqual(await findProgram("nothing-here", bin), { missing: "nothing-here is not installed" });
});

Deno.test("skipSummary() counts each group's tests and names the command that brings them in", () => {
  assert.deepEqual(skipSummary([]), ["Every test ran: none was skipped."]);
  const lines = skipSummary([
    { need: "redis", test: "a", reason: "redis-server is not installed" },
    { need: "browser", test: "b", reason: "chromium is not installed" },
    { need: "redis", test: "c", reason: "redis-server is not installed" },
  ]);
  assert.deepEqual(lines, [
    "Skipped 3 tests this machine could not run:",
    `  Redis: 2 tests (redis-server is not installed); to run them: ${installHint(["redis"])}, then deno task test`,
    `  browser (Chromium): 1 test (chromium is not installed); to run them: ${
      installHint(["browser"])
    }, then deno task test`,
  ]);
  assert.match(installHint(["redis"]), /apt-get install -y redis-server$/);
  assert.equal(installHint(["root"]), "run the test command as root");
});
