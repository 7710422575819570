import assert from "node:assert/strict";
import fc from "fast-check";
import { type BenchReport, formatJson, formatTable, LatencyHistogram, percentiles } from "../../lib/bench/report.ts";

Deno.test("LatencyHistogram gives exact percentiles below a quarter millisecond", () => {
  const histogram = new LatencyHistogram();
  for (let us = 1; us <= 100; us++) histogram.record(us / 1000);
  assert.equal(histogram.count, 100);
  assert.deepEqual(percentiles(histogram), { p50: 0.05, p99: 0.099, p999: 0.1 });
  assert.equal(histogram.maxMs, 0.1);
});

Deno.test("LatencyHistogram percentiles are never below the true one and at most 0.1% above it", () => {
  const latency = fc.oneof(
    fc.double({ min: 0, max: 0.3, noNaN: true }),
    fc.double({ min: 0, max: 60_000, noNaN: true }),
  );
  fc.assert(
    fc.property(
      fc.array(latency, { minLength: 1, maxLength: 200 }),
      fc.constantFrom(0.5, 0.9, 0.99, 0.999, 1),
      (ms, f) => {
        const histogram = new LatencyHistogram();
        for (const m of ms) histogram.record(m);
        const sorted = ms.map((m) => Math.round(m * 1000) / 1000).sort((a, b) => a - b);
        const exact = sorted[Math.max(1, Math.ceil(f * sorted.length)) - 1];
        const got = histogram.percentile(f);
        assert.ok(got >= exact, `p${f * 100} ${got} below ${exact}`);
        assert.ok(got <= exact * (1 + 1 / 1024) + 0.001, `p${f * 100} ${got} too far above ${exact}`);
      },
    ),
  );
});

Deno.test("LatencyHistogram.record() counts a latency shared by many messages once per message", () => {
  const histogram = new LatencyHistogram();
  histogram.record(0.005, 99);
  histogram.record(0.05);
  assert.equal(histogram.count, 100);
  assert.deepEqual(percentiles(histogram), { p50: 0.005, p99: 0.005, p999: 0.05 });
});

Deno.test("LatencyHistogram.merge() adds the other's samples", () => {
  const a = new LatencyHistogram();
  const b = new LatencyHistogram();
  a.record(0.001, 10);
  b.record(0.2, 10);
  a.merge(b);
  assert.equal(a.count, 20);
  assert.equal(a.percentile(0.5), 0.001);
  assert.equal(a.percentile(1), 0.2);
  assert.equal(a.maxMs, 0.2);
});

Deno.test("LatencyHistogram is zero when empty and refuses nonsense", () => {
  const histogram = new LatencyHistogram();
  assert.equal(histogram.percentile(0.99), 0);
  assert.throws(() => histogram.record(-1), RangeError);
  assert.throws(() => histogram.record(NaN), RangeError);
  assert.throws(() => histogram.record(1, 0), RangeError);
  assert.throws(() => histogram.record(1, 1.5), RangeError);
  assert.throws(() => histogram.percentile(0), RangeError);
  assert.throws(() => histogram.percentile(1.01), RangeError);
});

function report(withRedis: boolean): BenchReport {
  return {
    startedAt: "2026-11-28T06:00:00.000Z",
    command: "deno task bench --redis",
    machine: { cores: 2, cpu: "AMD EPYC", os: "linux 6.18", deno: "2.9.6" },
    cells: [
      {
        durability: "normal",
        connections: 50,
        pipeline: 32,
        seconds: 5,
        acknowledged: 4_000_000,
        rejected: 0,
        unanswered: 0,
        rate: 800_000,
        latencyMs: { p50: 1.5, p99: 4.25, p999: 9 },
        primary: { cpuSeconds: 4.5, peakRssMb: 120.4 },
        loadCpuSeconds: 2.5,
        ...(withRedis
          ? {
            redis: {
              command: "redis-benchmark -t incr -c 50 -P 32",
              appendfsync: "everysec" as const,
              requests: 4_000_000,
              rate: 640_000,
              latencyMs: { p50: 2.1, p99: 5 },
              server: { cpuSeconds: 5, peakRssMb: 14 },
            },
          }
          : {}),
      },
      {
        durability: "fsync",
        connections: 10,
        pipeline: 1,
        seconds: 5,
        acknowledged: 10_000,
        rejected: 3,
        firstRejection: "1 storage error",
        unanswered: 0,
        rate: 2_000,
        latencyMs: { p50: 4, p99: 8, p999: 12 },
        primary: { cpuSeconds: 1, peakRssMb: 70 },
        loadCpuSeconds: 0.2,
        ...(withRedis ? { redis: "redis-server is not installed" } : {}),
      },
    ],
    idle: {
      requested: 10_000,
      opened: 10_000,
      rssMb: 168.4,
      peakRssMb: 170,
      freshServed: true,
      freshMs: 1.25,
    },
  };
}

Deno.test("formatTable() writes one markdown row per cell, with Redis beside ours when it ran", () => {
  const table = formatTable(report(true));
  assert.match(table, /^Machine: 2 cores \(AMD EPYC\), linux 6\.18, Deno 2\.9\.6, loopback/);
  assert.match(table, /Command: `deno task bench --redis`/);
  assert.match(
    table,
    /\| durability \| C×P \| acked likes\/s \|.*\| Redis INCR\/s \| Redis p50 \/ p99 ms \| ours ÷ Redis \|/,
  );
  assert.match(
    table,
    /\| normal \| 50×32 \| 800,000 \| 1\.500 \| 4\.250 \| 9\.000 \| 4\.50 \| 120 \| 2\.50 \| 640,000 \(everysec\) \| 2\.100 \/ 5\.000 \| 1\.25 \|/,
  );
  assert.match(table, /\| fsync \| 10×1 \| 2,000 \(3 rejected\) \|.*\| redis-server is not installed \| — \| — \|/);
  assert.match(
    table,
    /Idle connections: 10000 of 10000 open; primary RSS 168 MB \(peak 170 MB\); a new connection was served in 1\.3 ms\.$/m,
  );
});

Deno.test("formatTable() leaves the Redis columns out when Redis was not asked for", () => {
  const table = formatTable(report(false));
  assert.doesNotMatch(table, /Redis/);
  assert.equal(table.split("\n").filter((l) => l.startsWith("| ")).length, 3);
});

Deno.test("formatTable() says when the idle check failed or a new connection was not served", () => {
  const failed = { ...report(false), idle: "Idle check failed: boom" };
  assert.match(formatTable(failed), /Idle connections: Idle check failed: boom/);
  const base = report(false);
  const refused = {
    ...base,
    idle: { ...base.idle as Exclude<BenchReport["idle"], string | undefined>, freshServed: false },
  };
  assert.match(formatTable(refused), /a new connection was NOT served/);
  const capped = {
    ...base,
    idle: {
      ...base.idle as Exclude<BenchReport["idle"], string | undefined>,
      opened: 380,
      error: "capped at 380 by the open-file limit (ulimit -n): connection 481 failed: Too many open files",
    },
  };
  assert.match(
    formatTable(capped),
    /Idle connections: 380 of 10000 open \(capped at 380 by the open-file limit \(ulimit -n\): connection 481 failed: Too many open files\); primary RSS/,
  );
});

Deno.test("formatJson() writes the whole report as JSON that reads back the same", () => {
  const full = report(true);
  const json = formatJson(full);
  assert.ok(json.endsWith("}\n"));
  assert.deepEqual(JSON.parse(json), full);
});
