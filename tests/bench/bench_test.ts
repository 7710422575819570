/**
 * `deno task bench` in a short mode, as CI runs it: it must run end to end and
 * report sane, non-zero numbers. No timing threshold: the machine decides those.
 * It runs with the bench task's own grants (its work dir moved to a temp dir),
 * so it also proves the task needs nothing more.
 */
import assert from "node:assert/strict";
import { DEFAULT_WORK_DIR } from "../../lib/bench/run.ts";
import type { BenchReport, SideResult } from "../../lib/bench/report.ts";
import { tempDir } from "../support/temp.ts";
import { requirement, testNeeding } from "../support/requirements.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const TASK: string = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)).tasks.bench;

/**
 * Runs the bench task's command line with `args`, writing under `workDir`
 * instead of the default; under `ulimit -n openFiles` when given.
 */
async function bench(
  workDir: string,
  args: string[],
  env?: Record<string, string>,
  openFiles?: number,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [deno, ...task] = TASK.split(" ").map((word) => word.replaceAll(DEFAULT_WORK_DIR, workDir));
  assert.equal(deno, "deno");
  const command = [Deno.execPath(), ...task, "--work-dir", workDir, ...args];
  const [program, ...programArgs] = openFiles === undefined
    ? command
    : ["sh", "-c", `ulimit -n ${openFiles} && exec "$@"`, "sh", ...command];
  const { code, stdout, stderr } = await new Deno.Command(program, {
    args: programArgs,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env,
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
}

async function listDir(dir: string): Promise<string[]> {
  return (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name).sort();
}

const REDIS = await requirement("redis");
const CC = await requirement("cc");

testNeeding([CC, REDIS], {
  name:
    "bench in short mode reports every cell in both modes beside Redis and the empty server, the replay and the start-up over history",
  fn: async () => {
    const workDir = `${await tempDir()}/work`;
    const args = [
      // Long enough that every cell acknowledges something even on a loaded machine.
      "--duration",
      "300ms",
      "--warmup",
      "100ms",
      "--runs",
      "1",
      "--replay-lines",
      "500",
      "--history-bytes",
      "2M",
      "--idle-connections",
      "0",
      "--redis",
    ];
    const { code, stdout, stderr } = await bench(workDir, args);
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /Requires|NotCapable|PermissionDenied/);
    // The work dir was created, holds the JSON and the built C client (the bench may not delete a program it
    // may run), and every server's temp state and the replay logs are gone.
    assert.deepEqual(await listDir(workDir), ["load_client", "result.json"]);
    assert.ok(stdout.includes(`JSON written to ${workDir}/result.json`), stdout);
    const report: BenchReport = JSON.parse(await Deno.readTextFile(`${workDir}/result.json`));
    assert.equal(report.command, `deno task bench --work-dir ${workDir} ${args.join(" ")}`);
    assert.equal(report.runs, 1);
    assert.ok(report.machine.cores > 0);
    const cells = ["1×1", "10×1", "50×1", "10×16", "50×32"];
    assert.deepEqual(
      report.cells.map((c) => `${c.durability} ${c.connections}×${c.pipeline}`),
      [...cells.map((c) => `normal ${c}`), ...cells.map((c) => `fsync ${c}`)],
    );
    for (const cell of report.cells) {
      const name = `${cell.durability} ${cell.connections}×${cell.pipeline}`;
      const sides = [cell.ours, cell.empty, cell.redis];
      for (const side of sides) {
        assert.ok(typeof side === "object", `${name}: ${side}`);
        assert.equal(side.runs.length, 1, name);
        assert.ok(side.rate > 0, name);
        assert.equal(side.rejected, 0, `${name}: ${side.firstRejection}`);
        assert.equal(side.unanswered, 0, name);
        assert.ok(
          0 < side.latencyMs.p50 && side.latencyMs.p50 <= side.latencyMs.p99,
          `${name}: ${JSON.stringify(side)}`,
        );
      }
      assert.ok(cell.ours.serverCpuSeconds! > 0, name);
      assert.equal(cell.vsEmpty, cell.ours.rate / (cell.empty as { rate: number }).rate);
      assert.equal(cell.appendfsync, cell.durability === "fsync" ? "always" : "everysec");
      assert.equal(cell.vsRedis, cell.ours.rate / (cell.redis as { rate: number }).rate);
      assert.ok(
        cell.targets.some((t) => t.target.endsWith(cell.durability === "fsync" ? "× Redis" : "% of empty")),
        name,
      );
    }
    assert.ok(typeof report.replay === "object", String(report.replay));
    assert.equal(report.replay.lines, 500);
    assert.ok(report.replay.linesPerSecond > 0);
    assert.match(stdout, /### normal durability/);
    assert.match(stdout, /### fsync durability/);
    assert.match(stdout, /\| 50×32 \| [\d,]+ \|/);
    assert.match(stdout, /Replay at start-up: 500 lines/);
    assert.ok(typeof report.history === "object", String(report.history));
    assert.equal(report.history.rebuilt, true);
    assert.equal(report.history.fromCheckpoint, true);
    assert.match(stdout, /^Start-up over history: [\d,]+ lines \(\d+ MiB\) in 8 files/m);
    assert.match(stdout, /^- Rebuilt without a trusted checkpoint: .* lines\/s over the chain\. (✓|✗ miss) rebuild/m);
  },
});

testNeeding([CC], {
  name:
    "bench under load with --log-max-bytes 16k --log-keep 2 --rotation-baseline reports the most its log files held, " +
    "rotated ones included, and its rate beside an unrotated primary's in the same run",
  async fn() {
    const workDir = `${await tempDir()}/work`;
    const args = [
      "--matrix",
      "10x16",
      "--durability",
      "normal",
      "--runs",
      "1",
      "--duration",
      "1s",
      "--warmup",
      "200ms",
      "--no-empty",
      "--no-replay",
      "--idle-connections",
      "0",
      "--log-max-bytes",
      "16k",
      "--log-keep",
      "2",
      "--rotation-baseline",
    ];
    const { code, stdout, stderr } = await bench(workDir, args);
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /Requires|NotCapable|PermissionDenied/);
    const report: BenchReport = JSON.parse(await Deno.readTextFile(`${workDir}/result.json`));
    assert.equal(report.logRotation, "--log-max-bytes=16k --log-keep=2");
    const [cell] = report.cells;
    assert.ok(cell.ours.rate > 0);
    const max = cell.ours.logDiskMaxBytes!;
    const run = cell.ours.runs[0].logDiskBytes;
    assert.equal(max, run);
    // Two rotated files of at least 16k each beside the live one, once it has rotated twice (thousands of likes
    // a second do that at once); and far below what the run wrote (megabytes), since only two are kept.
    assert.ok(max > 2 * 16 * 1024 && max < 512 * 1024, `log disk max ${max} bytes`);
    assert.match(stdout, /\| --log-max-bytes off likes\/s \| ours ÷ off \| log disk max MiB \|/);
    assert.match(stdout, /^\| 10×16 \| [\d,]+ \| [\d.]+ \/ [\d.]+ \| [\d,]+ \| [\d.]+× \| 0\.\d \| /m);
    const unrotated = cell.unrotated as SideResult;
    assert.ok(unrotated.rate > 0 && unrotated.runs.length === 1);
    // The unrotated primary's log is one file that grows with every like, far past the rotating one's.
    assert.ok(unrotated.logDiskMaxBytes! > max, `unrotated log disk ${unrotated.logDiskMaxBytes} bytes`);
    assert.equal(cell.vsUnrotated, cell.ours.rate / unrotated.rate);
    assert.deepEqual(cell.targets.map((mark) => mark.target), [
      "rotating ≥ 0.9× --log-max-bytes off",
      "log disk ≤ 0.1 MiB",
    ]);
    assert.deepEqual(await listDir(workDir), ["load_client", "result.json"]);
  },
});

testNeeding([CC, REDIS], {
  name: "bench --store redis runs one and two primaries on a private Redis beside the embedded store, in both modes",
  async fn() {
    const workDir = `${await tempDir()}/work`;
    const args = [
      "--matrix",
      "1x1,50x32",
      "--runs",
      "1",
      "--duration",
      "300ms",
      "--warmup",
      "100ms",
      "--no-empty",
      "--no-replay",
      "--idle-connections",
      "0",
      "--store",
      "redis",
    ];
    const { code, stdout, stderr } = await bench(workDir, args);
    assert.equal(code, 0, stderr);
    assert.doesNotMatch(stderr, /Requires|NotCapable|PermissionDenied|failed/);
    // Every redis-server's and primary's temp dir is gone.
    assert.deepEqual(await listDir(workDir), ["load_client", "result.json"]);
    const report: BenchReport = JSON.parse(await Deno.readTextFile(`${workDir}/result.json`));
    assert.deepEqual(report.cells.map((c) => `${c.durability} ${c.connections}×${c.pipeline}`), [
      "normal 1×1",
      "normal 50×32",
      "fsync 1×1",
      "fsync 50×32",
    ]);
    for (const cell of report.cells) {
      const name = `${cell.durability} ${cell.connections}×${cell.pipeline}`;
      for (const side of [cell.oneOnRedis, cell.twoOnRedis]) {
        assert.ok(typeof side === "object", `${name}: ${side}`);
        assert.ok(side.rate > 0, name);
        assert.equal(side.rejected, 0, `${name}: ${side.firstRejection}`);
        assert.equal(side.unanswered, 0, name);
        assert.ok(side.storeCpuSeconds! > 0, name);
        assert.ok(side.serverCpuSeconds! > 0, name);
      }
      assert.equal(cell.oneOnRedisVsOurs, (cell.oneOnRedis as { rate: number }).rate / cell.ours.rate);
      assert.equal(cell.twoOnRedisVsOurs, (cell.twoOnRedis as { rate: number }).rate / cell.ours.rate);
      const marks = cell.targets.filter((t) => t.target.includes("on Redis")).map((t) => t.target);
      assert.deepEqual(
        marks,
        cell.pipeline === 32 ? ["1 on Redis ≥ 0.5× embedded", "2 on Redis ≥ 0.5× embedded"] : [],
        name,
      );
    }
    assert.match(stdout, /\| 50×32 \| [\d,]+ \|.*\| [\d,]+ \| [\d.]+ \/ [\d.]+ \| [\d.]+× \| [\d,]+ \|/);
  },
});

Deno.test("bench --redis without Redis installed says so and still runs the rest", async () => {
  // A PATH with only deno on it hides redis-server and redis-benchmark whether or not this machine has them.
  const bin = await tempDir();
  await Deno.symlink(Deno.execPath(), `${bin}/deno`);
  const workDir = `${await tempDir()}/work`;
  const { code, stdout, stderr } = await bench(
    workDir,
    [
      "--matrix",
      "2x2",
      "--durability",
      "normal",
      "--runs",
      "1",
      "--no-empty",
      "--no-replay",
      "--duration",
      "200ms",
      "--warmup",
      "0ms",
      "--idle-connections",
      "0",
      "--redis",
      // No C compiler on that PATH either: the Deno load generator drives the run.
      "--client",
      "deno",
    ],
    { PATH: bin },
  );
  assert.equal(code, 0, stderr);
  assert.match(
    stderr,
    /Redis comparison skipped: redis-server is not installed \(apt-get install redis-server\)/,
  );
  const report: BenchReport = JSON.parse(await Deno.readTextFile(`${workDir}/result.json`));
  assert.equal(report.cells.length, 1);
  assert.ok(report.cells[0].ours.rate > 0);
  assert.equal(report.cells[0].empty, undefined);
  assert.equal(report.replay, undefined);
  assert.match(String(report.cells[0].redis), /redis-server is not installed/);
  assert.equal(report.idle, undefined);
  assert.match(stdout, /\| 2×2 \| [\d,]+ \|.*\| redis-server is not installed \([^|]+\) \| — \| — \|/);
});

Deno.test("bench without a C compiler says how to go on in one line and exits 1", async () => {
  const bin = await tempDir();
  await Deno.symlink(Deno.execPath(), `${bin}/deno`);
  const workDir = `${await tempDir()}/work`;
  const { code, stderr } = await bench(
    workDir,
    ["--matrix", "1x1", "--no-replay", "--idle-connections", "0", "--duration", "100ms"],
    { PATH: bin },
  );
  assert.equal(code, 1);
  // Deno's own notes on the commands missing from PATH come first; ours is the last line.
  assert.match(
    stderr.trim().split("\n").at(-1) ?? "",
    /^bench: Cannot build the C load client: cc could not be run \(.*\); install gcc, or pass --client deno$/,
  );
});

Deno.test("bench under a low open-file limit caps the idle check, says so, and still serves a new producer", async () => {
  const workDir = `${await tempDir()}/work`;
  const { code, stdout, stderr } = await bench(
    workDir,
    ["--matrix", "none", "--no-replay", "--idle-connections", "2000"],
    undefined,
    300,
  );
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /panicked|Uncaught/);
  const report: BenchReport = JSON.parse(await Deno.readTextFile(`${workDir}/result.json`));
  assert.ok(typeof report.idle === "object", String(report.idle));
  const { opened, requested, error, freshServed } = report.idle;
  assert.equal(requested, 2000);
  assert.ok(opened > 0 && opened < 300, `opened ${opened}`);
  assert.match(String(error), new RegExp(`^capped at ${opened} by the open-file limit \\(ulimit -n\\): `));
  assert.equal(freshServed, true);
  assert.match(stderr, /Idle check: capped at \d+/);
  assert.match(stdout, new RegExp(`Idle connections: ${opened} of 2000 open \\(capped at ${opened} `));
});

Deno.test("bench refuses a bad flag with a usage error before starting anything", async () => {
  const workDir = `${await tempDir()}/work`;
  const { code, stderr } = await bench(workDir, ["--matrix", "10"]);
  assert.equal(code, 2);
  assert.match(stderr, /^bench: Invalid value for --matrix: Expected cells like 10x16/);
  await assert.rejects(Deno.stat(workDir), Deno.errors.NotFound);
});

Deno.test("bench --history-bytes off or 0 skips the start-up over history and still runs the replay; a bad size is refused", async () => {
  for (const size of ["off", "0"]) {
    const workDir = `${await tempDir()}/work`;
    const args = ["--matrix", "none", "--replay-lines", "100", "--runs", "1", "--history-bytes", size];
    const { code, stdout, stderr } = await bench(workDir, [...args, "--idle-connections", "0"]);
    assert.equal(code, 0, stderr);
    const report: BenchReport = JSON.parse(await Deno.readTextFile(`${workDir}/result.json`));
    assert.equal(report.history, undefined, size);
    assert.ok(typeof report.replay === "object", String(report.replay));
    assert.doesNotMatch(stdout + stderr, /Start-up over history|^History/m, size);
  }
  const workDir = `${await tempDir()}/work`;
  const { code, stderr } = await bench(workDir, ["--history-bytes", "2X"]);
  assert.equal(code, 2);
  assert.match(stderr, /^bench: Invalid value for --history-bytes: Expected a size such as 512, 64k, 1M or 2G, or off/);
});
