/**
 * The Redis store against misuse rather than crashes, with real primaries on
 * a real redis-server: a Redis that lost its data (its AOF directory removed),
 * a Redis restarted without the persistence the durability mode needs, and a
 * primary fenced by another with its id while it was stopped past its lease.
 * Each is refused (`1 storage error`, /healthz 503 naming why, one log line),
 * and the shared total never goes backwards.
 */
import assert from "node:assert/strict";
import type { PrimaryLogEntry } from "../../lib/formats/primary_log.ts";
import type { PrimaryOptions } from "../../lib/primary/options.ts";
import { readRedisTotal } from "../../lib/primary/backend/redis/store.ts";
import { audit } from "../../lib/tools/audit.ts";
import { exchange, readReplies } from "../support/client.ts";
import { eventually } from "../support/eventually.ts";
import { primaryEntries } from "../support/logs.ts";
import { runPrimaryToExit, startPrimary } from "../support/primary.ts";
import { REDIS, type RedisServer, startRedis, withRedis } from "../support/redis.ts";
import { tempDir } from "../support/temp.ts";
import { createClient } from "@redis/client";

// The Redis client's reconnect timers outlive a stopped server in ways the sanitizers count.
const redisTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: REDIS.ignore(name), sanitizeOps: false, sanitizeResources: false, fn });

const LEASE = 1000;

function onRedis(redis: RedisServer, flags: Partial<PrimaryOptions> = {}): Partial<PrimaryOptions> {
  return { store: redis.url, primaryId: "primary-a", redisLease: LEASE, redisTimeout: 500, ...flags };
}

async function healthz(port: number): Promise<{ status: number; body: string }> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
    return { status: response.status, body: await response.text() };
  } catch (error) {
    return { status: 0, body: String(error) };
  }
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const match = new RegExp(`^${name} (\\d+)$`, "m").exec(text);
  assert.ok(match, text);
  return Number(match[1]);
}

const OUTAGE = /failed|offline/;

/** Waits until the primary has seen Redis gone (its poll failed): /healthz blames the connection. */
async function untilOutageSeen(port: number): Promise<void> {
  await eventually("the primary to see Redis gone", async () => OUTAGE.test((await healthz(port)).body));
}

/** Waits until the primary has heard from Redis again: /healthz no longer blames the connection. */
async function untilReconnected(port: number): Promise<void> {
  await eventually("the primary to hear from Redis again", async () => !OUTAGE.test((await healthz(port)).body));
}

/**
 * Kills Redis, removes everything it kept on disk, and starts it again on the
 * same port and directory; with `httpPort`, once that primary has seen it gone.
 */
async function loseRedisData(redis: RedisServer, httpPort?: number): Promise<void> {
  await redis.stop("SIGKILL");
  if (httpPort !== undefined) await untilOutageSeen(httpPort);
  await Deno.remove(redis.options.dir, { recursive: true });
  await Deno.mkdir(redis.options.dir);
  await redis.restart();
}

const events = (entries: PrimaryLogEntry[], pattern: RegExp) =>
  entries.filter((e) => e.kind === "event" && pattern.test(e.text));

redisTest(
  "a running primary whose Redis lost its data refuses likes with 1 storage error, /healthz 503 and one log line; its total never goes backwards",
  async () => {
    await withRedis(async (redis) => {
      const primary = await startPrimary({ flags: onRedis(redis) });
      try {
        assert.deepEqual(await exchange(primary.port, "LikesServer1 5 p 1\nLikesServer1 6 p 2\n", 2), ["0", "0"]);
        await loseRedisData(redis, primary.httpPort);
        await untilReconnected(primary.httpPort);
        assert.deepEqual(await exchange(primary.port, "LikesServer1 7 p 3\n", 1), ["1 storage error"]);
        const health = await healthz(primary.httpPort);
        assert.equal(health.status, 503);
        assert.match(health.body, /lost its identity/);
        assert.match(health.body, /--adopt-redis-store/);
        assert.equal(await metric(primary.httpPort, "likes_total"), 11, "the shared total never goes backwards");
        // Still refused, with nothing automatic: a poll and another batch later.
        await new Promise((resolve) => setTimeout(resolve, LEASE));
        assert.deepEqual(await exchange(primary.port, "LikesServer1 7 p 3\nLikesServer2 1\n", 2), [
          "1 storage error",
          "1 storage error",
        ]);
        assert.equal((await healthz(primary.httpPort)).status, 503);
        assert.equal(await metric(primary.httpPort, "likes_total"), 11);
        assert.equal(await readRedisTotal(redis.url), 0, "nothing was counted in the emptied Redis");
      } finally {
        await primary.stop();
      }
      assert.equal(events(primaryEntries(primary.log), /lost its identity/).length, 1, "one log line");
    });
  },
);

redisTest(
  "a primary restarted on a Redis that lost its data refuses to start until --adopt-redis-store raises the total back",
  async () => {
    await withRedis(async (redis) => {
      const first = await startPrimary({ flags: onRedis(redis) });
      try {
        assert.deepEqual(await exchange(first.port, "LikesServer1 5 p 1\nLikesServer1 6 p 2\n", 2), ["0", "0"]);
      } finally {
        assert.equal((await first.stop()).code, 0);
      }
      await loseRedisData(redis);
      const refused = await runPrimaryToExit({ ...onRedis(redis), log: first.log, state: first.state }, 10_000);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /lost its identity/);
      assert.match(refused.stderr, /--adopt-redis-store/);
      assert.equal(refused.stderr.trim().split("\n").length, 1, refused.stderr);

      const adopted = await runPrimaryToExit({
        ...onRedis(redis),
        log: first.log,
        state: first.state,
        adoptRedisStore: true,
      });
      assert.equal(adopted.code, 0, adopted.stderr);
      assert.equal(await readRedisTotal(redis.url), 11, "raised to the total this log last recorded");
      assert.equal(events(primaryEntries(first.log), /^Adopted the Redis store/).length, 1);

      const again = await startPrimary({ dir: first.dir, flags: onRedis(redis) });
      try {
        assert.equal(again.total, 11);
        assert.deepEqual(await exchange(again.port, "LikesServer1 7 p 3\n", 1), ["0"]);
      } finally {
        assert.equal((await again.stop()).code, 0);
      }
      assert.equal(await readRedisTotal(redis.url), 18);
    });
  },
);

redisTest(
  "a primary refuses to start when the Redis total is below the one its log recorded (a Redis restored from an older copy)",
  async () => {
    await withRedis(async (redis) => {
      const first = await startPrimary({ flags: onRedis(redis) });
      try {
        assert.deepEqual(await exchange(first.port, "LikesServer1 5 p 1\n", 1), ["0"]);
      } finally {
        assert.equal((await first.stop()).code, 0);
      }
      const raw = createClient({ socket: { host: "127.0.0.1", port: redis.port }, RESP: 2 });
      await raw.connect();
      try {
        await raw.sendCommand(["SET", "{likes}:total", "2"]);
      } finally {
        raw.destroy();
      }
      const refused = await runPrimaryToExit({ ...onRedis(redis), log: first.log, state: first.state }, 10_000);
      assert.notEqual(refused.code, 0);
      assert.match(refused.stderr, /total 2 is below 5/);
      assert.match(refused.stderr, /--adopt-redis-store/);
    });
  },
);

redisTest(
  "under --durability fsync a Redis restarted with appendfsync everysec is refused until it fsyncs every write again",
  async () => {
    const redis = await startRedis({ appendfsync: "always" });
    let restarted: RedisServer | undefined;
    const primary = await startPrimary({ flags: onRedis(redis, { durability: "fsync" }) });
    try {
      assert.deepEqual(await exchange(primary.port, "LikesServer1 5 p 1\n", 1), ["0"]);
      await redis.stop("SIGTERM");
      await untilOutageSeen(primary.httpPort);
      restarted = await startRedis({ dir: redis.options.dir, port: redis.port, appendfsync: "everysec" });
      await untilReconnected(primary.httpPort);
      assert.deepEqual(await exchange(primary.port, "LikesServer1 6 p 2\n", 1), ["1 storage error"]);
      const health = await healthz(primary.httpPort);
      assert.equal(health.status, 503);
      assert.match(health.body, /appendfsync always/);
      const raw = createClient({ socket: { host: "127.0.0.1", port: restarted.port }, RESP: 2 });
      await raw.connect();
      try {
        await raw.sendCommand(["CONFIG", "SET", "appendfsync", "always"]);
      } finally {
        raw.destroy();
      }
      await eventually(
        "/healthz 200 once Redis fsyncs again",
        async () => (await healthz(primary.httpPort)).status === 200,
      );
      assert.deepEqual(await exchange(primary.port, "LikesServer1 6 p 2\n", 1), ["0"]);
    } finally {
      await primary.stop();
      await restarted?.stop("SIGKILL");
      await redis.stop("SIGKILL");
    }
    assert.equal(events(primaryEntries(primary.log), /appendfsync always/).length, 1, "one log line");
  },
);

redisTest(
  'under --durability fsync a Redis restarted with --appendonly no --save "" is refused: 1 storage error and /healthz 503',
  async () => {
    const redis = await startRedis({ appendfsync: "always" });
    let restarted: RedisServer | undefined;
    const primary = await startPrimary({ flags: onRedis(redis, { durability: "fsync" }) });
    try {
      assert.deepEqual(await exchange(primary.port, "LikesServer1 5 p 1\n", 1), ["0"]);
      await redis.stop("SIGTERM");
      await untilOutageSeen(primary.httpPort);
      restarted = await startRedis({ dir: redis.options.dir, port: redis.port, appendonly: false, save: "" });
      await untilReconnected(primary.httpPort);
      assert.deepEqual(await exchange(primary.port, "LikesServer1 6 p 2\n", 1), ["1 storage error"]);
      const health = await healthz(primary.httpPort);
      assert.equal(health.status, 503);
      assert.match(health.body, /appendonly no/);
      assert.equal(await metric(primary.httpPort, "likes_total"), 5);
    } finally {
      await primary.stop();
      await restarted?.stop("SIGKILL");
      await redis.stop("SIGKILL");
    }
  },
);

redisTest(
  "a primary SIGSTOPped past its lease while another took its id has its batch refused by the commit script; the audit across both logs agrees with Redis",
  async () => {
    await withRedis(async (redis) => {
      const flags = onRedis(redis, { primaryId: "same" });
      const a = await startPrimary({ flags });
      let b = await startPrimary({ flags: { ...flags, redisLease: LEASE } }).catch(() => undefined);
      assert.equal(b, undefined, "a second primary with a live holder's id does not start");
      assert.deepEqual(await exchange(a.port, "LikesServer1 1 p 1\n", 1), ["0"]);
      // a's poll confirms what its log holds: the journal keeps no batch of a's for b to copy into its log.
      const raw = createClient({ socket: { host: "127.0.0.1", port: redis.port }, RESP: 2 });
      await raw.connect();
      try {
        await eventually(
          "a's journal confirmed",
          async () => await raw.sendCommand<number>(["XLEN", "{likes}:journal:same"]) === 0,
        );
      } finally {
        raw.destroy();
      }
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: a.port });
      try {
        a.process.kill("SIGSTOP");
        // In the kernel's buffer: read by a the moment it resumes, before it hears that its claim is gone.
        await conn.write(new TextEncoder().encode("LikesServer2 6 q 1\n"));
        b = await startPrimary({ flags });
        assert.deepEqual(await exchange(b.port, "LikesServer3 2 r 1\n", 1), ["0"]);
        a.process.kill("SIGCONT");
        assert.deepEqual(await readReplies(conn, 1), ["1 storage error"]);
        // Its LikesServer retries elsewhere: counted once.
        assert.deepEqual(await exchange(b.port, "LikesServer2 6 q 1\n", 1), ["0"]);
        const health = await healthz(a.httpPort);
        assert.equal(health.status, 503);
        assert.match(health.body, /Another primary (took|holds) the id same/);
      } finally {
        conn.close();
        a.process.kill("SIGCONT");
        await a.stop();
        await b?.stop();
      }
      // b restarted on its log drains its journal: nothing of a's may be in it.
      const again = await startPrimary({ dir: b!.dir, flags });
      await again.stop();
      const store = await readRedisTotal(redis.url);
      assert.equal(store, 9);
      const report = await audit(await tempDir(), 0, [a.log, b!.log], { storeTotal: store });
      assert.equal(report.countedTotal, store, JSON.stringify(report));
      assert.ok(report.ok, JSON.stringify(report));
    });
  },
);

redisTest(
  "on Redis the same producer and seq with another count is answered 1 seq reused with other likes, logged as such, and not counted",
  async () => {
    await withRedis(async (redis) => {
      const primary = await startPrimary({ flags: onRedis(redis, { http: "off" }) });
      try {
        assert.deepEqual(await exchange(primary.port, "LikesServer4 10 reuse 1\n", 1), ["0"]);
        assert.deepEqual(await exchange(primary.port, "LikesServer4 40 reuse 1\n", 1), [
          "1 seq reused with other likes",
        ]);
        assert.deepEqual(await exchange(primary.port, "LikesServer4 10 reuse 1\n", 1), ["0 duplicate"]);
      } finally {
        assert.equal((await primary.stop()).code, 0);
      }
      const log = Deno.readTextFileSync(primary.log);
      assert.match(log, /Invalid data "LikesServer4 40 reuse 1" \(seq reused with other likes\) from \S+\n/);
      assert.equal(log.match(/Total 50/g), null);
      assert.equal(await readRedisTotal(redis.url), 10);
    });
  },
);
