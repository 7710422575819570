/**
 * `deno task bench` in a short mode, as CI runs it: it must run end to end and
 * report sane, non-zero numbers. No timing threshold: the machine decides those.
 * It runs with the bench task's own grants (its work dir moved to a temp dir),
 * so it also proves the task needs nothing more.
 */
import assert from "node:assert/strict";
import { DEFAULT_WORK_DIR } from "../../lib/bench/run.ts";
import type { BenchReport } from "../../lib/bench/report.ts";
import { tempDir } from "../support/temp.ts";

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

async function redisInstalled(): Promise<boolean> {
  try {
    return (await new Deno.Command("redis-benchmark", { args: ["--version"], stdout: "null", stderr: "null" }).output())
      .success;
  } catch {
    return false;
  }
}

Deno.test("bench in short mode runs each cell, Redis beside it and the idle check, and reports sane numbers", async () => {
  const workDir = `${await tempDir()}/work`;
  const args = [
    "--matrix",
    "1x1,4x8",
    "--duration",
    "500ms",
    "--warmup",
    "200ms",
    "--idle-connections",
    "50",
    "--redis",
  ];
  const { code, stdout, stderr } = await bench(workDir, args);
  assert.equal(code, 0, stderr);
  assert.doesNotMatch(stderr, /Requires|NotCapable|PermissionDenied/);
  // The work dir was created, holds the JSON, and the primaries' and Redis's temp state is gone.
  assert.deepEqual(await listDir(workDir), ["result.json"]);
  assert.ok(stdout.includes(`JSON written to ${workDir}/result.json`), stdout);
  const report: BenchReport = JSON.parse(await Deno.readTextFile(`${workDir}/result.json`));
  assert.equal(report.command, `deno task bench --work-dir ${workDir} ${args.join(" ")}`);
  assert.ok(report.machine.cores > 0);
  assert.match(report.machine.os, /^\w+ \S+/);
  assert.deepEqual(report.cells.map((c) => [c.durability, c.connections, c.pipeline]), [["normal", 1, 1], [
    "normal",
    4,
    8,
  ]]);
  const redis = await redisInstalled();
  for (const cell of report.cells) {
    const name = `${cell.connections}×${cell.pipeline}`;
    assert.ok(cell.acknowledged > 0, name);
    assert.equal(cell.rejected, 0, `${name}: ${cell.firstRejection}`);
    assert.equal(cell.unanswered, 0, name);
    assert.equal(cell.seconds, 0.5);
    assert.equal(cell.rate, cell.acknowledged / cell.seconds);
    const { p50, p99, p999 } = cell.latencyMs;
    assert.ok(0 < p50 && p50 <= p99 && p99 <= p999, `${name}: ${JSON.stringify(cell.latencyMs)}`);
    assert.ok(cell.primary.cpuSeconds > 0, name);
    assert.ok(cell.primary.peakRssMb > 10, name);
    assert.ok(cell.loadCpuSeconds >= 0, name);
    if (redis) {
      assert.ok(typeof cell.redis === "object", `${name}: ${cell.redis}`);
      assert.ok(cell.redis.rate > 0 && cell.redis.requests > 0, name);
      assert.ok(cell.redis.server.cpuSeconds > 0 && cell.redis.server.peakRssMb > 1, name);
      assert.equal(cell.redis.appendfsync, "everysec");
      assert.match(
        cell.redis.command,
        new RegExp(`^redis-benchmark .*-t incr -c ${cell.connections} -P ${cell.pipeline} `),
      );
    } else {
      assert.match(String(cell.redis), /not installed/);
    }
  }
  if (!redis) assert.match(stderr, /Redis comparison skipped: redis-\w+ is not installed/);
  assert.ok(typeof report.idle === "object", String(report.idle));
  assert.equal(report.idle.opened, 50);
  assert.equal(report.idle.freshServed, true);
  assert.equal(report.idle.error, undefined);
  assert.ok(report.idle.rssMb > 10 && report.idle.peakRssMb >= report.idle.rssMb);
  assert.match(stdout, /\| normal \| 4×8 \| [\d,]+ \|/);
  assert.match(stdout, /Idle connections: 50 of 50 open/);
});

Deno.test("bench --redis without Redis installed says so and still runs the rest", async () => {
  // A PATH with only deno on it hides redis-server and redis-benchmark whether or not this machine has them.
  const bin = await tempDir();
  await Deno.symlink(Deno.execPath(), `${bin}/deno`);
  const workDir = `${await tempDir()}/work`;
  const { code, stdout, stderr } = await bench(
    workDir,
    ["--matrix", "2x2", "--duration", "200ms", "--warmup", "0ms", "--idle-connections", "0", "--redis"],
    { PATH: bin },
  );
  assert.equal(code, 0, stderr);
  assert.match(
    stderr,
    /Redis comparison skipped: redis-server is not installed \(apt-get install redis-server redis-tools\)/,
  );
  const report: BenchReport = JSON.parse(await Deno.readTextFile(`${workDir}/result.json`));
  assert.equal(report.cells.length, 1);
  assert.ok(report.cells[0].acknowledged > 0);
  assert.match(String(report.cells[0].redis), /redis-server is not installed/);
  assert.equal(report.idle, undefined);
  assert.match(stdout, /\| normal \| 2×2 \| [\d,]+ \|.*\| redis-server is not installed \([^|]+\) \| — \| — \|/);
});

Deno.test("bench under a low open-file limit caps the idle check, says so, and still serves a new producer", async () => {
  const workDir = `${await tempDir()}/work`;
  const { code, stdout, stderr } = await bench(
    workDir,
    ["--matrix", "none", "--idle-connections", "2000"],
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
