import assert from "node:assert/strict";
import { parseRedisCsv } from "../lib/bench_redis.ts";

Deno.test("parseRedisCsv() reads the INCR rate and latency percentiles of redis-benchmark --csv", () => {
  const csv = [
    '"test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms","p95_latency_ms","p99_latency_ms","max_latency_ms"',
    '"INCR","85106.38","0.070","0.024","0.055","0.127","0.231","2.391"',
    "",
  ].join("\n");
  assert.deepEqual(parseRedisCsv(csv), { rate: 85106.38, latencyMs: { p50: 0.055, p99: 0.231 } });
});

Deno.test("parseRedisCsv() refuses output without an INCR row or the columns it needs", () => {
  assert.throws(() => parseRedisCsv(""), /Cannot read redis-benchmark output/);
  assert.throws(() => parseRedisCsv('"test","rps"\n"INCR","1"\n'), /Cannot read redis-benchmark output/);
  assert.throws(
    () => parseRedisCsv('"test","rps","p50_latency_ms","p99_latency_ms"\n"GET","1","2","3"\n'),
    /Cannot read redis-benchmark output/,
  );
});
