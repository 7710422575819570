import assert from "node:assert/strict";
import { formatMetrics, METRICS_CONTENT_TYPE, type ProcessSnapshot, readProcess } from "../../lib/dashboard/metrics.ts";
import { COMMIT_BUCKETS_MS, Stats } from "../../lib/primary/stats.ts";
import { exchange } from "../support/client.ts";
import { startPrimary } from "../support/primary.ts";
import { parseExposition } from "../support/prometheus.ts";

const T0 = Date.UTC(2030, 0, 1);
const SELF: ProcessSnapshot = { cpuSeconds: 1.25, residentBytes: 50_000_000, maxResidentBytes: 60_000_000 };
const MIB = 1024 * 1024;

Deno.test("formatMetrics() exposes the total, messages by result and likes per LikesServer", () => {
  const stats = new Stats(T0);
  stats.recordLike(3, 23, false, T0 + 10);
  stats.recordLike(1, 5, false, T0 + 20);
  stats.recordLike(3, 4, false, T0 + 30);
  stats.recordLike(3, 4, true, T0 + 40);
  stats.invalid = 2;
  stats.failed = 1;
  stats.connectionsOpen = 7;
  stats.connectionsTotal = 9;
  stats.server(3).connections = 1;
  const metrics = parseExposition(formatMetrics(stats, 1032, SELF));

  assert.equal(metrics.value("likes_total"), 1032);
  assert.equal(metrics.value("likes_messages_total", { result: "accepted" }), 3);
  assert.equal(metrics.value("likes_messages_total", { result: "duplicate" }), 1);
  assert.equal(metrics.value("likes_messages_total", { result: "invalid" }), 2);
  assert.equal(metrics.value("likes_messages_total", { result: "failed" }), 1);
  assert.equal(metrics.value("likes_connections_open"), 7);
  assert.equal(metrics.value("likes_connections_total"), 9);
  assert.equal(metrics.value("likes_server_likes_total", { server: "LikesServer3" }), 27);
  assert.equal(metrics.value("likes_server_likes_total", { server: "LikesServer1" }), 5);
  assert.equal(metrics.value("likes_server_messages_total", { server: "LikesServer3" }), 3);
  assert.equal(metrics.value("likes_server_connected", { server: "LikesServer3" }), 1);
  assert.equal(metrics.value("likes_server_connected", { server: "LikesServer1" }), 0);
  assert.equal(metrics.value("process_start_time_seconds"), T0 / 1000);
});

Deno.test("formatMetrics() writes commit latency as a cumulative histogram in seconds", () => {
  const stats = new Stats(T0);
  stats.recordCommit(0.05); // first bucket
  stats.recordCommit(1); // exactly on a bound: le is inclusive
  stats.recordCommit(3);
  stats.recordCommit(2000); // above every bound: only in +Inf
  const metrics = parseExposition(formatMetrics(stats, 0, SELF));

  assert.equal(metrics.types.get("likes_commit_duration_seconds"), "histogram");
  const buckets = metrics.samples.filter((s) => s.name === "likes_commit_duration_seconds_bucket");
  assert.deepEqual(buckets.map((s) => s.labels.le), [...COMMIT_BUCKETS_MS.map((ms) => String(ms / 1000)), "+Inf"]);
  const counts = Object.fromEntries(buckets.map((s) => [s.labels.le, s.value]));
  assert.equal(counts["0.0001"], 1);
  assert.equal(counts["0.0005"], 1);
  assert.equal(counts["0.001"], 2);
  assert.equal(counts["0.0025"], 2);
  assert.equal(counts["0.005"], 3);
  assert.equal(counts["1"], 3);
  assert.equal(counts["+Inf"], 4);
  for (let i = 1; i < buckets.length; i++) {
    assert.ok(buckets[i].value >= buckets[i - 1].value, "buckets are cumulative");
  }
  assert.equal(metrics.value("likes_commit_duration_seconds_count"), 4);
  assert.ok(Math.abs(metrics.value("likes_commit_duration_seconds_sum") - 2.00405) < 1e-9);
});

Deno.test("formatMetrics() declares each family once, with HELP and TYPE, before its samples", () => {
  const stats = new Stats(T0);
  stats.recordLike(2, 1, false, T0);
  const text = formatMetrics(stats, 1, SELF);
  // parseExposition throws on a sample before its TYPE, a repeated TYPE or a malformed line.
  const metrics = parseExposition(text);
  assert.deepEqual(Object.fromEntries(metrics.types), {
    likes_total: "counter",
    likes_messages_total: "counter",
    likes_connections_open: "gauge",
    likes_connections_total: "counter",
    likes_incomplete_messages_total: "counter",
    likes_new_producers_limited_total: "counter",
    likes_padding_bytes_total: "counter",
    likes_producers_refused_total: "counter",
    likes_seq_reused_total: "counter",
    likes_batches_written_behind_sync_total: "counter",
    likes_connections_refused_total: "counter",
    likes_commit_duration_seconds: "histogram",
    likes_server_likes_total: "counter",
    likes_server_messages_total: "counter",
    likes_server_connected: "gauge",
    process_cpu_seconds_total: "counter",
    process_resident_memory_bytes: "gauge",
    process_max_resident_memory_bytes: "gauge",
    process_start_time_seconds: "gauge",
  });
  for (const name of metrics.types.keys()) assert.ok(metrics.help.get(name), `HELP for ${name}`);
  assert.ok(text.endsWith("\n"));
  assert.match(METRICS_CONTENT_TYPE, /^text\/plain; version=0\.0\.4/);
});

Deno.test("formatMetrics() of a fresh primary has zero counters and no per-server samples", () => {
  const metrics = parseExposition(formatMetrics(new Stats(T0), 0, SELF));
  assert.equal(metrics.value("likes_total"), 0);
  assert.equal(metrics.value("likes_messages_total", { result: "accepted" }), 0);
  assert.equal(metrics.value("likes_commit_duration_seconds_bucket", { le: "+Inf" }), 0);
  assert.equal(metrics.value("likes_commit_duration_seconds_sum"), 0);
  assert.equal(metrics.samples.filter((s) => s.name.startsWith("likes_server_")).length, 0);
});

Deno.test("formatMetrics() reports the process's CPU seconds and its current and peak resident memory", () => {
  const metrics = parseExposition(
    formatMetrics(new Stats(T0), 0, { cpuSeconds: 0.000125, residentBytes: 41_943_040, maxResidentBytes: 2 ** 33 }),
  );
  assert.equal(metrics.value("process_cpu_seconds_total"), 0.000125);
  assert.equal(metrics.value("process_resident_memory_bytes"), 41_943_040);
  assert.equal(metrics.value("process_max_resident_memory_bytes"), 2 ** 33);
});

Deno.test("readProcess() reads this process's CPU time and memory in seconds and bytes", () => {
  // Burn some CPU so the counter has something to count.
  let x = 0;
  for (let i = 0; i < 1e6; i++) x += Math.sqrt(i);
  assert.ok(x > 0);
  const self = readProcess();
  assert.ok(self.cpuSeconds > 0 && self.cpuSeconds < 3600, `cpuSeconds ${self.cpuSeconds}`);
  // A Deno process is tens of MiB; KiB or pages taken for bytes would be far below 1 MiB.
  assert.ok(self.residentBytes > MIB, `residentBytes ${self.residentBytes}`);
  assert.ok(self.maxResidentBytes >= self.residentBytes, `maxResidentBytes ${self.maxResidentBytes}`);
  assert.ok(readProcess().cpuSeconds >= self.cpuSeconds);
});

Deno.test("a primary's /metrics reports its own CPU time, growing as it works, and its memory", async () => {
  const primary = await startPrimary();
  try {
    const scrape = async () => {
      const response = await fetch(`http://127.0.0.1:${primary.httpPort}/metrics`);
      return parseExposition(await response.text());
    };
    const before = await scrape();
    for (let i = 1; i <= 20; i++) {
      const lines = Array.from({ length: 100 }, (_, j) => `LikesServer1 1 metrics-${i} ${j + 1}\n`).join("");
      await exchange(primary.port, lines, 100);
    }
    const after = await scrape();
    assert.ok(before.value("process_cpu_seconds_total") > 0);
    assert.ok(after.value("process_cpu_seconds_total") > before.value("process_cpu_seconds_total"));
    assert.equal(after.value("likes_messages_total", { result: "accepted" }), 2000);
    const resident = after.value("process_resident_memory_bytes");
    assert.ok(resident > MIB, `resident ${resident}`);
    assert.ok(after.value("process_max_resident_memory_bytes") >= resident);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
});

Deno.test("parseExposition() refuses what a scraper would: samples before TYPE, bad values, unterminated text", () => {
  assert.throws(() => parseExposition("x 1\n"), /Sample before its TYPE/);
  assert.throws(() => parseExposition("# TYPE x counter\nx one\n"), /Bad sample value/);
  assert.throws(() => parseExposition("# TYPE x counter\nx 1"), /must end with a line break/);
  assert.throws(() => parseExposition("# TYPE x counter\nx 1\n# TYPE x gauge\n"), /TYPE repeated/);
  assert.equal(parseExposition("# TYPE x counter\nx 1.5e-7\n").value("x"), 1.5e-7);
});

Deno.test("formatMetrics() shows this primary's share of a shared total only when there is one", () => {
  const stats = new Stats();
  const alone = parseExposition(formatMetrics(stats, 40, SELF));
  assert.equal(alone.samples.some((s) => s.name === "likes_primary_share_total"), false);
  const metrics = parseExposition(formatMetrics(stats, 40, SELF, 15));
  assert.equal(metrics.value("likes_total"), 40);
  assert.equal(metrics.value("likes_primary_share_total"), 15);
});
