import assert from "node:assert/strict";
import { formatCommitMeasurement, measureRedisCommit } from "../../lib/bench/store_commit.ts";
import { REDIS } from "../support/redis.ts";
import { tempDir } from "../support/temp.ts";

REDIS.test({
  name: "measureRedisCommit() commits batches of each shape and reports likes/s and Redis CPU per like",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const workDir = await tempDir();
    const results = await measureRedisCommit({
      shapes: [{ producers: 3, perProducer: 4 }, { producers: 1, perProducer: 1 }],
      durationMs: 300,
      committers: 2,
      workDir,
    });
    assert.deepEqual(results.map((r) => [r.shape.producers * r.shape.perProducer, r.committers]), [[12, 2], [1, 2]]);
    for (const result of results) {
      assert.ok(result.batchesPerSecond > 0, formatCommitMeasurement(result));
      const likes = result.batchesPerSecond * result.shape.producers * result.shape.perProducer;
      assert.ok(Math.abs(result.likesPerSecond - likes) <= 1e-9 * likes, formatCommitMeasurement(result));
      assert.ok(result.redisCpuMicrosPerLike > 0 && result.redisCpuShare > 0, formatCommitMeasurement(result));
    }
    // Each redis-server's temp dir is gone.
    assert.deepEqual(await Array.fromAsync(Deno.readDir(workDir)), []);
    assert.match(formatCommitMeasurement(results[0]), /^3x4 likes\/batch=12 committers=2: \d+ likes\/s, /);
  },
});
