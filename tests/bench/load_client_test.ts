import assert from "node:assert/strict";
import { buildLoadClient } from "../../lib/bench/load_client.ts";
import { runLoadProcess } from "../../lib/bench/load_process.ts";
import { redisCommand, startRedis } from "../../lib/bench/redis.ts";
import type { LikeLine } from "../../lib/formats/primary_log.ts";
import { primaryEntries } from "../support/logs.ts";
import { startPrimary } from "../support/primary.ts";
import { tempDir } from "../support/temp.ts";
import { requirement, testNeeding } from "../support/requirements.ts";

const CC = await requirement("cc");
const REDIS = await requirement("redis");
const client = CC.missing === undefined ? await buildLoadClient(await tempDir()) : "";

CC.test({
  name: "the C load client sends each producer's likes with seq 1, 2, 3... and counts the acknowledged ones",
  fn: async () => {
    const primary = await startPrimary({ flags: { http: "off" } });
    const edges: string[] = [];
    let load;
    try {
      load = await runLoadProcess(primary.port, {
        client,
        connections: 3,
        pipeline: 4,
        durationMs: 300,
        warmupMs: 100,
        onWindow: (edge) => edges.push(edge),
      });
    } finally {
      assert.equal((await primary.stop()).code, 0);
    }
    assert.deepEqual(edges, ["start", "end"]);
    assert.ok(load.acknowledged > 0);
    assert.equal(load.rejected, 0, load.firstRejection);
    assert.equal(load.unanswered, 0);
    assert.equal(load.rate, load.acknowledged / 0.3);
    assert.ok(load.latencyMs.p50 > 0 && load.latencyMs.p50 <= load.latencyMs.p99, JSON.stringify(load.latencyMs));
    // Every line was a new (producer, seq): the primary counted each one, none as a duplicate.
    const entries = primaryEntries(primary.log);
    assert.ok(!entries.some((e) => e.kind === "like" && e.duplicate));
    const likes = entries.filter((e): e is LikeLine => e.kind === "like" && e.server === 1 && e.likes === 1);
    assert.ok(likes.length >= load.acknowledged);
    const producers = [...new Set(likes.map((like) => like.producer))];
    assert.equal(producers.length, 3);
    for (const producer of producers) {
      assert.match(String(producer), /^bench-[0-9a-f-]{36}-[0-2]$/);
      const seqs = likes.filter((like) => like.producer === producer).map((like) => like.seq);
      assert.deepEqual(seqs, seqs.map((_, i) => i + 1), `${producer} sent seq 1, 2, 3... in order`);
    }
  },
});

testNeeding([CC, REDIS], {
  name: "the C load client counts real Redis's integer replies, and its error replies as rejected",
  async fn() {
    const redis = await startRedis({ workDir: await tempDir() });
    try {
      const load = await runLoadProcess(redis.port, {
        client,
        protocol: "resp",
        connections: 2,
        pipeline: 8,
        durationMs: 300,
        warmupMs: 0,
      });
      const total = Number(await redisCommand(redis.port, "GET likes"));
      assert.ok(load.acknowledged > 0 && total >= load.acknowledged, `${load.acknowledged} vs ${total}`);
      assert.equal(load.rejected, 0, load.firstRejection);
      assert.equal(load.unanswered, 0);
      // A string value makes every INCRBY fail with an error reply.
      await redisCommand(redis.port, "SET likes notanumber");
      const failing = await runLoadProcess(redis.port, { client, protocol: "resp", durationMs: 200, warmupMs: 0 });
      assert.equal(failing.acknowledged, 0);
      assert.ok(failing.rejected > 0);
      assert.match(String(failing.firstRejection), /^-ERR value is not an integer/);
    } finally {
      await redis.stop();
    }
  },
});

CC.test({
  name: "runLoadProcess() reports a C load client that cannot connect as an error",
  fn: async () => {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const { port } = listener.addr;
    listener.close();
    await assert.rejects(
      runLoadProcess(port, { client, durationMs: 100, warmupMs: 0 }),
      /The load process exited with 1: load_client: cannot connect to 127\.0\.0\.1:\d+: Connection refused/,
    );
  },
});
