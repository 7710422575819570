import assert from "node:assert/strict";
import { parsePrimaryUse, scrapePrimaryUse } from "../../lib/bench/process_metrics.ts";
import { formatMetrics } from "../../lib/dashboard/metrics.ts";
import { Stats } from "../../lib/primary/stats.ts";
import { startPrimary } from "../support/primary.ts";

const MIB = 1024 * 1024;

Deno.test("parsePrimaryUse() reads what formatMetrics() writes, memory in MiB", () => {
  const text = formatMetrics(new Stats(0), 12, {
    cpuSeconds: 3.5,
    residentBytes: 64 * MIB,
    maxResidentBytes: 96 * MIB,
  });
  assert.deepEqual(parsePrimaryUse(text), { cpuSeconds: 3.5, rssMb: 64, peakRssMb: 96 });
});

Deno.test("parsePrimaryUse() refuses an exposition without the process samples", () => {
  assert.throws(
    () => parsePrimaryUse("# TYPE likes_total counter\nlikes_total 1\n"),
    /Cannot read process_cpu_seconds_total from the primary's \/metrics/,
  );
  // A labelled or differently named sample is not the one.
  assert.throws(() => parsePrimaryUse('process_cpu_seconds_total{x="1"} 1\n'), /process_cpu_seconds_total/);
  assert.throws(() => parsePrimaryUse("process_cpu_seconds_total_x 1\n"), /process_cpu_seconds_total/);
});

Deno.test("scrapePrimaryUse() reads a real primary's CPU time and memory over HTTP", async () => {
  const primary = await startPrimary();
  try {
    const use = await scrapePrimaryUse(primary.httpPort);
    assert.ok(use.cpuSeconds > 0, `cpuSeconds ${use.cpuSeconds}`);
    assert.ok(use.rssMb > 1 && use.peakRssMb >= use.rssMb, JSON.stringify(use));
    assert.ok((await scrapePrimaryUse(primary.httpPort)).cpuSeconds >= use.cpuSeconds);
  } finally {
    await primary.stop();
  }
  await assert.rejects(scrapePrimaryUse(primary.httpPort), /Cannot scrape the primary's \/metrics: /);
  await assert.rejects(scrapePrimaryUse(0), RangeError);
});
