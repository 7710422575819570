import assert from "node:assert/strict";
import fc from "fast-check";
import {
  type BenchReport,
  type CellResult,
  cellTargets,
  formatJson,
  formatTable,
  type HistoryResult,
  historyTargets,
  LatencyHistogram,
  logDiskLimit,
  median,
  percentiles,
  replayTargets,
  type RunSample,
  type SideResult,
  summarise,
} from "../../lib/bench/report.ts";

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

function sample(rate: number, p50: number, p99: number): RunSample {
  return { rate, latencyMs: { p50, p99, p999: p99 * 2 }, rejected: 0, unanswered: 0, loadCpuSeconds: 1 };
}

function side(rate: number, p50 = 0.1, p99 = 0.5): SideResult {
  return summarise([sample(rate, p50, p99)]);
}

function cell(
  durability: "normal" | "fsync",
  connections: number,
  pipeline: number,
  ours: number,
  redis: number | string | undefined,
  empty: number | undefined,
  p99 = 0.5,
): CellResult {
  const result = {
    durability,
    connections,
    pipeline,
    seconds: 5,
    ours: summarise([{ ...sample(ours, 0.1, p99), serverCpuSeconds: ours * 5 * 2e-6 }], 5),
    ...(redis === undefined ? {} : {
      redis: typeof redis === "string" ? redis : side(redis),
      appendfsync: durability === "fsync" ? "always" as const : "everysec" as const,
    }),
    ...(empty === undefined ? {} : { empty: side(empty) }),
    ...(typeof redis === "number" ? { vsRedis: ours / redis } : {}),
    ...(empty === undefined ? {} : { vsEmpty: ours / empty }),
  };
  return { ...result, targets: cellTargets(result) };
}

function report(withRedis: boolean): BenchReport {
  return {
    startedAt: "2026-11-28T06:00:00.000Z",
    command: "deno task bench --redis",
    machine: { cores: 2, cpu: "AMD EPYC", os: "linux 6.18", deno: "2.9.6" },
    client: "c",
    runs: 3,
    cells: [
      cell("normal", 10, 1, 60_000, withRedis ? 50_000 : undefined, 80_000, 0.8),
      cell("normal", 50, 32, 800_000, withRedis ? 640_000 : undefined, 1_600_000),
      cell("fsync", 10, 1, 2_000, withRedis ? "Redis failed: boom" : undefined, 80_000, 8),
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

Deno.test("median() takes the middle run, or the mean of the middle two", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.ok(Number.isNaN(median([])));
});

Deno.test("summarise() gives each percentile's median over the runs and sums what went wrong", () => {
  const runs = [sample(100, 0.1, 0.9), sample(300, 0.3, 0.5), {
    ...sample(200, 0.2, 0.7),
    rejected: 2,
    firstRejection: "1 x",
  }];
  const side = summarise(runs);
  assert.equal(side.rate, 200);
  assert.deepEqual(side.latencyMs, { p50: 0.2, p99: 0.7, p999: 1.4 });
  assert.equal(side.rejected, 2);
  assert.equal(side.firstRejection, "1 x");
  assert.equal(side.serverCpuSeconds, undefined);
  assert.equal(side.runs.length, 3);
  assert.equal(summarise([{ ...sample(1, 1, 1), serverCpuSeconds: 2 }]).serverCpuSeconds, 2);
  assert.throws(() => summarise([]), RangeError);
});

Deno.test("cellTargets() asks fsync mode for 0.9× Redis alone, 1.3× pipelined, 1.5× at 50×32, else 1.0×", () => {
  const at = (c: number, p: number, vsRedis: number) =>
    cellTargets({ ...cell("fsync", c, p, 1, 1, undefined), vsRedis }).map((m) => [m.target, m.pass]);
  assert.deepEqual(at(1, 1, 0.9), [["≥ 0.9× Redis", true]]);
  assert.deepEqual(at(1, 1, 0.89), [["≥ 0.9× Redis", false]]);
  assert.deepEqual(at(10, 1, 1), [["≥ 1.0× Redis", true]]);
  assert.deepEqual(at(50, 1, 0.99), [["≥ 1.0× Redis", false]]);
  assert.deepEqual(at(10, 16, 1.29), [["≥ 1.3× Redis", false]]);
  assert.deepEqual(at(10, 16, 1.3), [["≥ 1.3× Redis", true]]);
  assert.deepEqual(at(50, 32, 1.4), [["≥ 1.5× Redis", false]]);
});

Deno.test("cellTargets() asks a rotating primary for 0.9× the unrotated one's rate, and its log disk for at most (keep + 2) files", () => {
  const limit = logDiskLimit({ logMaxBytes: 1024 * 1024, logKeep: 3 });
  assert.equal(limit, 5 * 1024 * 1024);
  const at = (vsUnrotated: number, logDiskMaxBytes: number) => {
    const base = cell("normal", 50, 32, 1, 1, undefined);
    return cellTargets({
      ...base,
      ours: { ...base.ours, logDiskMaxBytes },
      vsUnrotated,
      logDiskLimitBytes: limit,
    }).filter((m) => !m.target.includes("Redis") && !m.target.includes("empty")).map((m) => [
      m.target,
      m.measured,
      m.pass,
    ]);
  };
  assert.deepEqual(at(0.9, limit), [
    ["rotating ≥ 0.9× --log-max-bytes off", "0.90×", true],
    ["log disk ≤ 5.0 MiB", "5.0 MiB", true],
  ]);
  assert.deepEqual(at(0.89, limit + 1).map((mark) => mark[2]), [false, false]);
});

Deno.test("cellTargets() asks normal mode for 85% of the empty server without pipelining, 75% with, and p99 ≤ 1 ms at 10×1", () => {
  const normal = cell("normal", 10, 1, 70, undefined, 100, 1.2).targets;
  assert.deepEqual(normal.map((m) => [m.target, m.measured, m.pass]), [
    ["≥ 85% of empty", "70%", false],
    ["p99 ≤ 1 ms", "1.200 ms", false],
  ]);
  assert.deepEqual(cell("normal", 50, 1, 85, undefined, 100).targets.map((m) => m.pass), [true]);
  assert.deepEqual(cell("normal", 10, 16, 75, undefined, 100).targets.map((m) => [m.target, m.pass]), [
    ["≥ 75% of empty", true],
  ]);
  assert.deepEqual(cell("normal", 50, 32, 74, undefined, 100).targets.map((m) => m.pass), [false]);
  assert.deepEqual(cell("fsync", 10, 1, 10, undefined, 100, 5).targets, []);
});

Deno.test("summarise() gives the server's CPU µs per message as the median over the runs", () => {
  const runs = [
    { ...sample(100_000, 1, 1), serverCpuSeconds: 0.5 },
    { ...sample(200_000, 1, 1), serverCpuSeconds: 0.6 },
    { ...sample(50_000, 1, 1), serverCpuSeconds: 0.5 },
  ];
  // 5 s windows: 1.0, 0.6 and 2.0 µs per message.
  assert.equal(summarise(runs, 5).cpuUsPerLike, 1);
  assert.equal(summarise(runs).cpuUsPerLike, undefined, "no window, no rate of CPU");
  assert.equal(summarise([sample(1, 1, 1)], 5).cpuUsPerLike, undefined, "no CPU reported");
  assert.throws(() => summarise(runs, 0), RangeError);
});

Deno.test("replayTargets() misses a start-up that did not replay, whatever its speed", () => {
  const base = {
    lines: 2_000_000,
    bytes: 1,
    total: 4_000_000,
    seconds: 2,
    baselineSeconds: 0.5,
    linesPerSecond: 2_000_000 / 1.5,
    replayed: true,
    readyTotal: 4_000_000,
    runs: [],
  };
  assert.equal(replayTargets(base)[0].pass, true);
  assert.equal(replayTargets({ ...base, linesPerSecond: 999_999 })[0].pass, false);
  assert.deepEqual(replayTargets({ ...base, replayed: false, readyTotal: 0 })[0], {
    target: "≥ 1,000,000 lines/s",
    measured: "did not replay",
    pass: false,
  });
});

Deno.test("formatTable() writes a table per durability mode with ratios and target marks beside each cell", () => {
  const table = formatTable(report(true));
  assert.match(table, /^Machine: 2 cores \(AMD EPYC\), linux 6\.18, Deno 2\.9\.6, loopback/);
  assert.match(table, /Command: `deno task bench --redis`/);
  assert.match(table, /median of 3 interleaved runs/);
  assert.match(table, /### normal durability, against Redis appendfsync everysec/);
  assert.match(table, /### fsync durability, against Redis appendfsync always/);
  assert.match(
    table,
    /\| 10×1 \| 60,000 \| 0\.100 \/ 0\.800 \| 50,000 \| 0\.100 \/ 0\.500 \| 1\.20× \| 80,000 \| 75% \| 0\.60 \| 1\.00 \| 2\.00 \/ — \/ — \| ✗ miss ≥ 85% of empty \(75%\); ✓ p99 ≤ 1 ms \(0\.800 ms\) \|/,
  );
  assert.match(table, /\| CPU µs\/like ours \/ Redis \/ empty \| targets \|/);
  assert.match(table, /\| 50×32 \| 800,000 \|.*\| 1\.25× \| 1,600,000 \| 50% \|.*✗ miss ≥ 75% of empty \(50%\) \|/);
  assert.match(table, /^- normal 10×1: ✗ miss ≥ 85% of empty: 75%; CPU µs\/like ours 2\.00, Redis —, empty —$/m);
  assert.match(table, /^- normal 10×1: ✓ p99 ≤ 1 ms: 0\.800 ms;/m);
  assert.match(table, /\| 10×1 \| 2,000 \|.*\| Redis failed: boom \| — \| — \| 80,000 \| 3% \|.* — \|$/m);
  assert.match(
    table,
    /Idle connections: 10000 of 10000 open; primary RSS 168 MB \(peak 170 MB\); a new connection was served in 1\.3 ms\.$/m,
  );
});

Deno.test("formatTable() leaves the Redis columns out when Redis was not asked for", () => {
  const table = formatTable(report(false));
  assert.doesNotMatch(table, /Redis/);
  assert.equal(table.split("\n").filter((l) => l.startsWith("| ")).length, 5);
});

Deno.test("formatTable() says whether start-up replayed the log, and at what speed", () => {
  const replay = {
    lines: 2_000_000,
    bytes: 250 * 1024 * 1024,
    total: 4_000_000,
    seconds: 2.5,
    baselineSeconds: 0.5,
    linesPerSecond: 1_000_000,
    replayed: true,
    readyTotal: 4_000_000,
    runs: [],
  };
  assert.match(
    formatTable({ ...report(false), replay: { ...replay, targets: replayTargets(replay) } }),
    /Replay at start-up: 2,000,000 lines \(250 MiB\) ready in 2\.50 s, 0\.50 s on an empty log: 1,000,000 lines\/s\. ✓ ≥ 1,000,000 lines\/s/,
  );
  const stale = { ...replay, replayed: false, readyTotal: 0 };
  assert.match(
    formatTable({ ...report(false), replay: { ...stale, targets: replayTargets(stale) } }),
    /start-up did NOT replay the log \(ready with total 0, the log adds up to 4000000\)\. ✗ miss/,
  );
  assert.match(formatTable({ ...report(false), replay: "Replay failed: boom" }), /^Replay: Replay failed: boom$/m);
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
});

Deno.test("formatJson() writes the whole report as JSON that reads back the same", () => {
  const full = report(true);
  const json = formatJson(full);
  assert.ok(json.endsWith("}\n"));
  assert.deepEqual(JSON.parse(json), full);
});

/** A cell with primaries on Redis beside the embedded store (`--store redis`). */
function storeCell(
  connections: number,
  pipeline: number,
  embedded: number,
  one: number | string,
  two: number | string,
): CellResult {
  const sideOf = (rate: number | string) => {
    if (typeof rate === "string") return rate;
    const result = side(rate, 0.2, 3);
    return { ...result, storeCpuSeconds: 0.4 };
  };
  const result = {
    durability: "normal" as const,
    connections,
    pipeline,
    seconds: 5,
    ours: side(embedded),
    oneOnRedis: sideOf(one),
    twoOnRedis: sideOf(two),
    ...(typeof one === "number" ? { oneOnRedisVsOurs: one / embedded } : {}),
    ...(typeof two === "number" ? { twoOnRedisVsOurs: two / embedded } : {}),
  };
  return { ...result, targets: cellTargets(result) };
}

Deno.test("cellTargets() asks primaries on Redis for 0.5× the embedded store at 50×32 only", () => {
  assert.deepEqual(storeCell(50, 32, 1000, 500, 499).targets.map((m) => [m.target, m.measured, m.pass]), [
    ["1 on Redis ≥ 0.5× embedded", "0.50×", true],
    ["2 on Redis ≥ 0.5× embedded", "0.50×", false],
  ]);
  assert.deepEqual(storeCell(50, 32, 1000, "2 primaries failed: boom", 600).targets.map((m) => m.target), [
    "2 on Redis ≥ 0.5× embedded",
  ]);
  assert.deepEqual(storeCell(10, 16, 1000, 100, 100).targets, []);
});

Deno.test("formatTable() puts one and two primaries on Redis beside the embedded store, with redis-server's CPU", () => {
  const table = formatTable({
    startedAt: "2026-11-28T06:00:00.000Z",
    command: "deno task bench --store redis",
    machine: { cores: 2, cpu: "AMD EPYC", os: "linux 6.18", deno: "2.9.6" },
    client: "c",
    runs: 3,
    cells: [
      storeCell(10, 1, 40_000, 15_000, "2 primaries on Redis normal failed: boom"),
      storeCell(50, 32, 800_000, 600_000, 300_000),
    ],
  });
  assert.match(
    table,
    /\| 1 primary on Redis likes\/s \| p50 \/ p99 ms \| ÷ embedded \| 2 primaries on Redis likes\/s \|/,
  );
  assert.match(
    table,
    /\| 10×1 \| 40,000 \| 0\.100 \/ 0\.500 \| 15,000 \| 0\.200 \/ 3\.000 \| 0\.38× \| 2 primaries on Redis normal failed: boom \| — \| — \| 0\.40 \/ — \|/,
  );
  assert.match(
    table,
    /\| 50×32 \| 800,000 \|.*\| 0\.75× \| 300,000 \| 0\.200 \/ 3\.000 \| 0\.38× \| 0\.40 \/ 0\.40 \|.*✓ 1 on Redis ≥ 0\.5× embedded \(0\.75×\); ✗ miss 2 on Redis ≥ 0\.5× embedded \(0\.38×\) \|$/m,
  );
  assert.doesNotMatch(formatTable(report(true)), /on Redis/);
});

/** A history result as measureHistory() gives it: 2 GiB in 8 files, ready from the checkpoint as fast as on the short one. */
function history(changes: Partial<Omit<HistoryResult, "targets">> = {}): HistoryResult {
  const result = {
    files: 8,
    lines: 17_600_000,
    bytes: 2 * 1024 ** 3,
    total: 35_000_000,
    short: { lines: 8_007, bytes: 954_193 },
    checkpointSeconds: 0.12,
    shortCheckpointSeconds: 0.1,
    rebuildSeconds: 4.5,
    shortRebuildSeconds: 0.1,
    linesPerSecond: 4_000_000,
    fromCheckpoint: true,
    checkpointReplayedLines: 2,
    rebuilt: true,
    readyTotal: 35_000_000,
    runs: [],
    ...changes,
  };
  return { ...result, targets: historyTargets(result) };
}

Deno.test("historyTargets() misses a checkpointed start that grew with history or did not use the checkpoint", () => {
  const pass = (h: HistoryResult) => h.targets.map((t) => t.pass);
  assert.deepEqual(pass(history()), [true, true]);
  assert.deepEqual(pass(history({ checkpointSeconds: 0.35 })), [true, true], "0.25 s of slack");
  assert.deepEqual(pass(history({ checkpointSeconds: 0.36 })), [false, true]);
  assert.deepEqual(history({ fromCheckpoint: false }).targets[0], {
    target: "checkpoint start ≤ short history's + 0.25 s",
    measured: "did not start from the checkpoint",
    pass: false,
  });
});

Deno.test("historyTargets() misses a rebuild under 1M lines/s, or one that did not replay the whole chain", () => {
  assert.equal(history({ linesPerSecond: 999_999 }).targets[1].pass, false);
  assert.deepEqual(history({ rebuilt: false, readyTotal: 12 }).targets[1], {
    target: "rebuild ≥ 1,000,000 lines/s",
    measured: "did not replay the whole chain",
    pass: false,
  });
});

Deno.test("formatTable() gives the start-up over history from the checkpoint and rebuilt, each with its verdict", () => {
  const table = formatTable({ ...report(false), history: history() });
  assert.match(
    table,
    /^Start-up over history: 17,600,000 lines \(2048 MiB\) in 8 files \(the live log and 7 rotated\); the short history beside it: 8,007 lines \(1 MiB\) in as many\.$/m,
  );
  assert.match(
    table,
    /^- From the checkpoint at the live log's end: ready in 0\.12 s, 0\.10 s on the short history \(at most 2 lines replayed after the checkpoint\)\. ✓ checkpoint start ≤ short history's \+ 0\.25 s \(0\.12 s vs 0\.10 s\)$/m,
  );
  assert.match(
    table,
    /^- Rebuilt without a trusted checkpoint: ready in 4\.50 s, 0\.10 s on the short history: 4,000,000 lines\/s over the chain\. ✓ rebuild ≥ 1,000,000 lines\/s \(4,000,000 lines\/s\)$/m,
  );
  const stale = formatTable({
    ...report(false),
    history: history({ rebuilt: false, readyTotal: 12, fromCheckpoint: false }),
  });
  assert.match(stale, /a start did NOT start from the checkpoint\. ✗ miss/);
  assert.match(
    stale,
    /a rebuild did NOT replay the whole chain \(ready with total 12, the chain adds up to 35000000\)\. ✗ miss/,
  );
  assert.match(
    formatTable({ ...report(false), history: "Start-up over history failed: boom" }),
    /^History: Start-up over history failed: boom$/m,
  );
});

Deno.test("summarise() keeps the most log disk of any run, and formatTable() shows it per cell in MiB", () => {
  const runs = [1, 5, 3].map((mib) => ({ ...sample(1000, 0.1, 0.5), logDiskBytes: mib * 1024 * 1024 }));
  assert.equal(summarise(runs).logDiskMaxBytes, 5 * 1024 * 1024);
  assert.equal(
    summarise([sample(1000, 0.1, 0.5), runs[0]]).logDiskMaxBytes,
    undefined,
    "not when a run was not sampled",
  );
  const base = report(false);
  const withDisk = {
    ...base,
    logRotation: "--log-max-bytes=1M --log-keep=3",
    cells: base.cells.map((cell) => ({ ...cell, ours: { ...cell.ours, logDiskMaxBytes: 4.26 * 1024 * 1024 } })),
  };
  const table = formatTable(withDisk);
  assert.match(table, /\| ours ÷ empty \| log disk max MiB \| primary CPU s \|/);
  assert.match(table, /^\| 50×32 \| 800,000 \|.*\| 50% \| 4\.3 \| [\d.]+ \| /m);
  assert.match(table, /our primaries ran with --log-max-bytes=1M --log-keep=3\.$/m);
  assert.doesNotMatch(formatTable(base), /log disk/i);
});
