/**
 * A real primary on a real redis-server (lib/launch/redis_server.ts): the
 * Redis store wired into the program, its refusals, the crash between the
 * Redis commit and the log write, and Redis going away and coming back.
 */
import assert from "node:assert/strict";
import { createClient } from "@redis/client";
import { parsePrimaryLog, type PrimaryLogEntry } from "../../lib/formats/primary_log.ts";
import { CRASH_AFTER_COMMIT_ENV } from "../../lib/primary/backend/redis/committer.ts";
import type { PrimaryOptions } from "../../lib/primary/options.ts";
import { exchange, pipeline } from "../support/client.ts";
import { eventually } from "../support/eventually.ts";
import { primaryEntries } from "../support/logs.ts";
import { runPrimaryToExit, startPrimary } from "../support/primary.ts";
import { launchPrimary } from "../../lib/launch/primary_process.ts";
import { primaryGrants } from "../../lib/launch/permissions.ts";
import { toFlags } from "../../lib/common/cli.ts";
import { primarySpecs } from "../../lib/primary/options.ts";
import { REDIS, type RedisServer, withRedis } from "../support/redis.ts";
import { tempDir } from "../support/temp.ts";

// The Redis client's reconnect timers outlive a stopped server in ways the sanitizers count.
const redisTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: REDIS.ignore(name), sanitizeOps: false, sanitizeResources: false, fn });

/** Flags for a primary on `redis` with short Redis timings. */
function onRedis(redis: RedisServer, flags: Partial<PrimaryOptions> = {}): Partial<PrimaryOptions> {
  return { store: redis.url, primaryId: "primary-a", redisLease: 1000, redisTimeout: 500, ...flags };
}

const likes = (entries: PrimaryLogEntry[]) => entries.filter((e) => e.kind === "like");
const journalIds = (entries: PrimaryLogEntry[]) => entries.flatMap((e) => e.kind === "journal" ? [e.id] : []);

async function healthz(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/healthz`);
  await response.body?.cancel();
  return response.status;
}

Deno.test("a primary on Redis with --port 0 and no --primary-id is refused in one line", async () => {
  const dir = await tempDir();
  const { code, stderr } = await runPrimaryToExit({ store: "redis://127.0.0.1:1", log: `${dir}/log` });
  assert.equal(code, 2);
  assert.match(stderr, /--port 0 needs --primary-id/);
  assert.equal(stderr.trim().split("\n").length, 1, stderr);
});

Deno.test("a primary refuses --reset with a Redis store", async () => {
  const dir = await tempDir();
  const { code, stderr } = await runPrimaryToExit({
    store: "redis://127.0.0.1:1",
    primaryId: "a",
    reset: true,
    log: `${dir}/log`,
  });
  assert.equal(code, 2);
  assert.match(stderr, /--reset cannot be used with --store redis/);
});

redisTest("a primary on Redis answers, and logs each like with the shared total and its journal id", async () => {
  await withRedis(async (redis) => {
    const a = await startPrimary({ flags: onRedis(redis, { primaryId: "a" }) });
    const b = await startPrimary({ flags: onRedis(redis, { primaryId: "b" }) });
    try {
      assert.deepEqual(await exchange(a.port, "LikesServer1 5 p 1\nhello\nLikesServer1 2\n", 3), [
        "0",
        "1 unknown message",
        "0",
      ]);
      // The retry reaches the other primary: counted once across both.
      assert.deepEqual(await exchange(b.port, "LikesServer1 5 p 1\nLikesServer2 3 q 1\n", 2), ["0 duplicate", "0"]);
      const metrics = await (await fetch(`http://127.0.0.1:${b.httpPort}/metrics`)).text();
      assert.match(metrics, /^likes_total 10$/m);
      assert.match(metrics, /^likes_primary_share_total 3$/m);
      assert.equal(await healthz(b.httpPort), 200);
    } finally {
      assert.equal((await a.stop()).code, 0);
      assert.equal((await b.stop()).code, 0);
    }
    const inA = primaryEntries(a.log);
    assert.deepEqual(likes(inA).map((e) => e.kind === "like" && [e.likes, e.total, e.duplicate]), [
      [5, 5, false],
      [2, 7, false],
    ]);
    assert.equal(inA.filter((e) => e.kind === "invalid").length, 1);
    assert.equal(journalIds(inA).length, 1, "one journal line per batch");
    const inB = primaryEntries(b.log);
    assert.deepEqual(likes(inB).map((e) => e.kind === "like" && [e.likes, e.total, e.duplicate]), [
      [5, 7, true],
      [3, 10, false],
    ]);
    assert.ok(inB.some((e) => e.kind === "stopped" && e.total === 10), JSON.stringify(inB.at(-1)));
  });
});

redisTest("a primary refuses a Redis that keeps nothing on disk unless --allow-volatile-store", async () => {
  await withRedis(async (redis) => {
    const dir = await tempDir();
    const refused = await runPrimaryToExit({ ...onRedis(redis), log: `${dir}/log` });
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /keeps nothing on disk/);
    const primary = await startPrimary({ dir, flags: onRedis(redis, { allowVolatileStore: true }) });
    try {
      assert.deepEqual(await exchange(primary.port, "LikesServer1 1 p 1\n", 1), ["0"]);
    } finally {
      await primary.stop();
    }
  }, { appendonly: false, save: "" });
});

redisTest("a primary refuses --durability fsync on a Redis without appendfsync always", async () => {
  await withRedis(async (redis) => {
    const dir = await tempDir();
    const { code, stderr } = await runPrimaryToExit({ ...onRedis(redis), durability: "fsync", log: `${dir}/log` });
    assert.notEqual(code, 0);
    assert.match(stderr, /appendfsync always/);
  }, { appendfsync: "everysec" });
});

redisTest("a primary with fsync durability runs on a Redis with appendfsync always", async () => {
  await withRedis(async (redis) => {
    const primary = await startPrimary({ flags: onRedis(redis, { durability: "fsync" }) });
    try {
      assert.deepEqual(await exchange(primary.port, "LikesServer1 1 p 1\nLikesServer1 1 p 1\n", 2), [
        "0",
        "0 duplicate",
      ]);
    } finally {
      assert.equal((await primary.stop()).code, 0);
    }
  }, { appendfsync: "always" });
});

redisTest("a second live primary with the same --primary-id is refused", async () => {
  await withRedis(async (redis) => {
    const first = await startPrimary({ flags: onRedis(redis, { primaryId: "same" }) });
    try {
      const dir = await tempDir();
      const { code, stderr } = await runPrimaryToExit({ ...onRedis(redis, { primaryId: "same" }), log: `${dir}/log` });
      assert.notEqual(code, 0);
      assert.match(stderr, /Another primary with id same is running/);
    } finally {
      await first.stop();
    }
  });
});

redisTest("a primary killed between its Redis commit and its log write logs those likes at restart", async () => {
  await withRedis(async (redis) => {
    const flags = onRedis(redis, { primaryId: "crashing" });
    const dying = await startPrimary({ flags, env: { [CRASH_AFTER_COMMIT_ENV]: "1" } });
    // No reply: the process exits right after the commit.
    assert.deepEqual(await exchange(dying.port, "LikesServer1 4 p 1\nLikesServer1 6 p 2\n", 2), []);
    assert.equal((await dying.stop()).code, 137);
    assert.equal(likes(primaryEntries(dying.log)).length, 0, "the log write never happened");

    // Restarted on the same log and id, without the hook (and after the dead one's claim lapsed).
    const restarted = await startPrimary({ dir: dying.dir, flags });
    try {
      assert.equal(restarted.total, 10);
      const entries = primaryEntries(restarted.log);
      assert.deepEqual(likes(entries).map((e) => e.kind === "like" && [e.likes, e.total, e.seq]), [
        [4, 4, 1],
        [6, 10, 2],
      ]);
      assert.equal(journalIds(entries).length, 1);
      assert.ok(entries.some((e) => e.kind === "event" && /^Wrote 1 batches \(10 likes counted\)/.test(e.text)));
      // The LikesServer's retry is not counted again.
      assert.deepEqual(await exchange(restarted.port, "LikesServer1 4 p 1\nLikesServer1 6 p 2\n", 2), [
        "0 duplicate",
        "0 duplicate",
      ]);
    } finally {
      assert.equal((await restarted.stop()).code, 0);
    }
    // Nothing written twice by a second restart.
    const again = await startPrimary({ dir: dying.dir, flags });
    await again.stop();
    const entries = primaryEntries(again.log);
    assert.equal(likes(entries).filter((e) => e.kind === "like" && !e.duplicate).length, 2);
  });
});

redisTest(
  "while Redis is down likes are answered 1 storage error and /healthz is 503; then service resumes",
  async () => {
    await withRedis(async (redis) => {
      const primary = await startPrimary({ flags: onRedis(redis) });
      try {
        assert.deepEqual(await exchange(primary.port, "LikesServer1 1 p 1\n", 1), ["0"]);
        await redis.stop();
        assert.deepEqual(await exchange(primary.port, "LikesServer1 2 p 2\n", 1), ["1 storage error"]);
        assert.equal(await healthz(primary.httpPort), 503);
        await redis.restart();
        await eventually("/healthz 200 after Redis is back", async () => await healthz(primary.httpPort) === 200);
        assert.deepEqual(await exchange(primary.port, "LikesServer1 2 p 2\nLikesServer1 1 p 1\n", 2), [
          "0",
          "0 duplicate",
        ]);
      } finally {
        assert.equal((await primary.stop()).code, 0);
      }
      const counted = likes(primaryEntries(primary.log)).filter((e) => e.kind === "like" && !e.duplicate);
      assert.deepEqual(counted.map((e) => e.kind === "like" && e.total), [1, 3]);
    });
  },
);

redisTest(
  "a primary on Redis runs with its least-privilege grants: net to its addresses and the Redis, its log",
  async () => {
    await withRedis(async (redis) => {
      const dir = await tempDir();
      const flags = {
        ...onRedis(redis),
        host: "127.0.0.1",
        port: 0,
        http: "off",
        log: `${dir}/log`,
        state: `${dir}/db`,
      };
      const primary = await launchPrimary({ args: toFlags(primarySpecs, flags), grants: primaryGrants(flags) });
      try {
        assert.deepEqual(await exchange(primary.port, "LikesServer1 1 p 1\n", 1), ["0"]);
      } finally {
        assert.equal((await primary.stop()).code, 0, primary.output());
      }
    });
  },
);

redisTest("a primary stopped while Redis is down stops cleanly: every acknowledged like is in its log", async () => {
  await withRedis(async (redis) => {
    const primary = await startPrimary({ flags: onRedis(redis) });
    assert.deepEqual(await exchange(primary.port, "LikesServer1 3 p 1\n", 1), ["0"]);
    await redis.stop();
    const status = await primary.stop();
    assert.equal(status.code, 0, primary.output());
    assert.match(primary.output(), /stopped by SIGTERM: total 3/);
    assert.equal(likes(primaryEntries(primary.log)).length, 1);
  });
});

redisTest("a primary whose id another process claimed refuses likes until the claim is its own again", async () => {
  await withRedis(async (redis) => {
    const primary = await startPrimary({ flags: onRedis(redis, { primaryId: "taken" }) });
    const client = createClient({ socket: { host: "127.0.0.1", port: redis.port }, RESP: 2 });
    await client.connect();
    try {
      await client.sendCommand(["SET", "{likes}:claim:taken", "someone-else", "PX", "60000"]);
      await eventually("/healthz 503 once the claim is lost", async () => await healthz(primary.httpPort) === 503);
      assert.deepEqual(await exchange(primary.port, "LikesServer1 1 p 1\n", 1), ["1 storage error"]);
      await client.sendCommand(["DEL", "{likes}:claim:taken"]);
      await eventually("/healthz 200 once the claim is back", async () => await healthz(primary.httpPort) === 200);
      assert.deepEqual(await exchange(primary.port, "LikesServer1 1 p 1\n", 1), ["0"]);
    } finally {
      client.destroy();
      await primary.stop();
    }
  });
});

redisTest(
  "on Redis the log rotates with the last journal id carried into each new file, and a restart after kill -9 finds it by id",
  async () => {
    await withRedis(async (redis) => {
      const dir = await tempDir();
      const flags = onRedis(redis, { logMaxBytes: 4096, logKeep: 2 });
      const primary = await startPrimary({ dir, flags });
      for (let round = 0; round < 5; round++) {
        const lines = Array.from({ length: 40 }, (_, i) => `LikesServer1 1 rot ${round * 40 + i + 1}`);
        assert.deepEqual(await pipeline(primary.port, lines), Array(40).fill("0"));
      }
      assert.equal((await primary.stop("SIGKILL")).signal, "SIGKILL");
      Deno.removeSync(`${dir}/PrimaryLikesLog.1`);
      const head = parsePrimaryLog(Deno.readTextFileSync(primary.log)).map((line) => line.entry);
      assert.equal(head[0].kind, "continues");
      assert.equal(head[1].kind, "journal", "the last journal id follows the continuation line");
      const again = await startPrimary({ dir, flags });
      try {
        assert.equal(again.total, 200);
        // Nothing was taken from the journal: the current file names the last batch it holds.
        assert.doesNotMatch(again.output(), /from the Redis journal/);
        assert.deepEqual(await exchange(again.port, "LikesServer1 1 rot 200\n", 1), ["0 duplicate"]);
      } finally {
        assert.equal((await again.stop()).code, 0);
      }
    });
  },
);
