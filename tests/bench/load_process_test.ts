import assert from "node:assert/strict";
import { respCommand } from "../../lib/bench/load_generator.ts";
import { runLoadProcess, startEmptyServer } from "../../lib/bench/load_process.ts";
import { redisCommand, startRedis } from "../../lib/bench/redis.ts";
import { tempDir } from "../support/temp.ts";
import { REDIS } from "../support/redis.ts";

Deno.test("respCommand() writes a RESP array of bulk strings", () => {
  assert.equal(
    new TextDecoder().decode(respCommand(["INCRBY", "likes", "12"])),
    "*3\r\n$6\r\nINCRBY\r\n$5\r\nlikes\r\n$2\r\n12\r\n",
  );
  assert.equal(new TextDecoder().decode(respCommand(["é"])), "*1\r\n$2\r\né\r\n");
});

REDIS.test({
  name: "a load process speaking RESP counts real Redis's integer replies, and Redis's own count covers them",
  async fn() {
    const redis = await startRedis({ workDir: await tempDir() });
    let load;
    try {
      const edges: string[] = [];
      load = await runLoadProcess(redis.port, {
        protocol: "resp",
        connections: 2,
        pipeline: 4,
        durationMs: 300,
        warmupMs: 0,
        onWindow: (edge) => edges.push(edge),
      });
      assert.deepEqual(edges, ["start", "end"]);
      // Every command sent was answered (the drain waits for all of them): Redis's
      // count is at least what the window acknowledged, the warm-up's and drain's on top.
      const total = Number(await redisCommand(redis.port, "GET likes"));
      assert.ok(load.acknowledged > 0 && total >= load.acknowledged, `${load.acknowledged} vs ${total}`);
    } finally {
      await redis.stop();
    }
    assert.equal(load.rejected, 0, load.firstRejection);
    assert.equal(load.unanswered, 0);
    assert.equal(load.rate, load.acknowledged / 0.3);
    assert.ok(load.latencyMs.p50 > 0 && load.latencyMs.p50 <= load.latencyMs.p99);
  },
});

REDIS.test({
  name: "a load process counts Redis error replies as rejected, with the first one kept",
  async fn() {
    const redis = await startRedis({ workDir: await tempDir() });
    let load;
    try {
      // A string value makes every INCRBY fail with an error reply.
      await redisCommand(redis.port, "SET likes notanumber");
      load = await runLoadProcess(redis.port, { protocol: "resp", durationMs: 200, warmupMs: 0 });
    } finally {
      await redis.stop();
    }
    assert.equal(load.acknowledged, 0);
    assert.ok(load.rejected > 0);
    assert.match(String(load.firstRejection), /^-ERR value is not an integer/);
  },
});

Deno.test("the empty server answers 0 to every line, however the lines are split across writes, and reports its CPU", async () => {
  const server = await startEmptyServer();
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    try {
      const encoder = new TextEncoder();
      for (const part of ["LikesServer1 1 a 1\nLikes", "Server1 1 a 2\n\nx", "\n"]) {
        await conn.write(encoder.encode(part));
      }
      let replies = "";
      const buffer = new Uint8Array(64);
      while (replies.length < 8) {
        const n = await conn.read(buffer);
        if (n === null) break;
        replies += new TextDecoder().decode(buffer.subarray(0, n));
      }
      assert.equal(replies, "0\n0\n0\n0\n");
    } finally {
      conn.close();
    }
    const before = await server.cpuSeconds();
    const load = await runLoadProcess(server.port, { connections: 3, pipeline: 8, durationMs: 200, warmupMs: 0 });
    assert.ok(load.acknowledged > 0);
    assert.equal(load.rejected, 0);
    assert.equal(load.unanswered, 0);
    // Its CPU, for the bench's CPU per line: it grew under the load.
    assert.ok((await server.cpuSeconds()) > before);
  } finally {
    await server.stop();
  }
});

Deno.test("runLoadProcess() reports a load process that cannot connect as an error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  await assert.rejects(runLoadProcess(port, { durationMs: 100, warmupMs: 0 }), /The load process exited with 1: /);
});
