/**
 * `deno task bench` in a short mode, as CI runs it: it must run end to end and
 * report sane, non-zero numbers. No timing threshold: the machine decides those.
 */
import assert from "node:assert/strict";
import type { BenchReport } from "../lib/bench_report.ts";
import { tempDir } from "./support/temp.ts";

const BENCH = new URL("../bench.ts", import.meta.url).pathname;

async function bench(
  args: string[],
  env?: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", BENCH, ...args],
    stdout: "piped",
    stderr: "piped",
    env,
  }).output();
  const decoder = new TextDecoder();
  return { code, stdout: decoder.decode(stdout), stderr: decoder.decode(stderr) };
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
  const json = `${await tempDir()}/bench.json`;
  const { code, stdout, stderr } = await bench([
    "--matrix",
    "1x1,4x8",
    "--duration",
    "500ms",
    "--warmup",
    "200ms",
    "--idle-connections",
    "50",
    "--redis",
    "--json",
    json,
  ]);
  assert.equal(code, 0, stderr);
  const report: BenchReport = JSON.parse(await Deno.readTextFile(json));
  assert.equal(
    report.command,
    `deno task bench --matrix 1x1,4x8 --duration 500ms --warmup 200ms --idle-connections 50 --redis --json ${json}`,
  );
  assert.ok(report.machine.cores > 0);
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
  assert.ok(report.idle.rssMb > 10 && report.idle.openFileLimit.primary > 0);
  assert.match(stdout, /\| normal \| 4×8 \| [\d,]+ \|/);
  assert.match(stdout, /Idle connections: 50 of 50 open/);
});

Deno.test("bench --redis without Redis installed says so and still runs the rest", async () => {
  // An empty PATH hides redis-server and redis-benchmark whether or not this machine has them.
  const empty = await tempDir();
  const json = `${empty}/bench.json`;
  const { code, stdout, stderr } = await bench(
    ["--matrix", "2x2", "--duration", "200ms", "--warmup", "0ms", "--idle-connections", "0", "--redis", "--json", json],
    { PATH: empty },
  );
  assert.equal(code, 0, stderr);
  assert.match(
    stderr,
    /Redis comparison skipped: redis-server is not installed \(apt-get install redis-server redis-tools\)/,
  );
  const report: BenchReport = JSON.parse(await Deno.readTextFile(json));
  assert.equal(report.cells.length, 1);
  assert.ok(report.cells[0].acknowledged > 0);
  assert.match(String(report.cells[0].redis), /redis-server is not installed/);
  assert.equal(report.idle, undefined);
  assert.match(stdout, /\| normal \| 2×2 \| [\d,]+ \|.*\| redis-server is not installed \([^|]+\) \| — \| — \|/);
});

Deno.test("bench refuses a bad flag with a usage error before starting anything", async () => {
  const { code, stderr } = await bench(["--matrix", "10"]);
  assert.equal(code, 2);
  assert.match(stderr, /^bench: Invalid value for --matrix: Expected cells like 10x16/);
});
