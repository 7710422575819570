import assert from "node:assert/strict";
import { Redis } from "ioredis";
import {
  parseJournalLines,
  parseRedisUrl,
  persistenceProblem,
  RedisStore,
  type RedisStoreOptions,
  StoreUnavailableError,
} from "../../lib/primary/redis_store.ts";
import { StoreError } from "../../lib/primary/store.ts";
import { MAX_SEQ } from "../../lib/protocol/message.ts";
import { sleep } from "../../lib/common/sleep.ts";
import { like, storeContract } from "./store_contract.ts";
import { freePort } from "../support/parent.ts";
import { redisMissing, type RedisServer, startRedis, withRedis } from "../support/redis.ts";

const WINDOW = 8;

// ioredis keeps reconnect timers and sockets past a test's end in ways the
// sanitizers count; every test closes its clients and stops its server.
const redisTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: redisMissing !== undefined, sanitizeOps: false, sanitizeResources: false, fn });

function open(server: RedisServer, options: Partial<RedisStoreOptions> = {}): Promise<RedisStore> {
  return RedisStore.open({ url: server.url, primaryId: "primary-a", window: WINDOW, ...options });
}

storeContract({
  name: "Redis",
  window: WINDOW,
  shared: true,
  skip: redisMissing,
  async fresh() {
    const server = await startRedis();
    let opened = 0;
    return {
      async open() {
        const store = await open(server, { primaryId: `primary-${opened++}` });
        return {
          commit: (likes) => store.commit(likes),
          total: () => store.total(),
          close: () => store.close(),
        };
      },
      async dispose() {
        await server.stop("SIGKILL");
      },
    };
  },
});

Deno.test("parseRedisUrl() reads host, port and DB, IPv6 in brackets", () => {
  assert.deepEqual(parseRedisUrl("redis://127.0.0.1:6379"), { host: "127.0.0.1", port: 6379, db: 0 });
  assert.deepEqual(parseRedisUrl("redis://redis.example:7000/3"), { host: "redis.example", port: 7000, db: 3 });
  assert.deepEqual(parseRedisUrl("redis://[::1]:6379/0"), { host: "::1", port: 6379, db: 0 });
});

Deno.test("parseRedisUrl() refuses other schemes, a missing port, credentials and a bad DB", () => {
  for (
    const bad of [
      "",
      "127.0.0.1:6379",
      "http://h:1",
      "redis://h",
      "redis://u:p@h:1",
      "redis://h:1/x",
      "redis://h:1/0?a=b",
    ]
  ) {
    assert.throws(() => parseRedisUrl(bad), RangeError, bad);
  }
  assert.throws(() => parseRedisUrl("redis://h"), /expected redis:\/\/HOST:PORT\[\/DB\], got "redis:\/\/h"/);
});

Deno.test("persistenceProblem() refuses no AOF and no RDB unless volatile is allowed", () => {
  const none = { appendonly: "no", appendfsync: "everysec", save: "" };
  assert.match(persistenceProblem(none, "normal", false) ?? "", /keeps nothing on disk/);
  assert.equal(persistenceProblem(none, "normal", true), undefined);
  assert.equal(persistenceProblem({ ...none, save: "3600 1" }, "normal", false), undefined);
  assert.equal(persistenceProblem({ ...none, appendonly: "yes" }, "normal", false), undefined);
});

Deno.test("persistenceProblem() requires appendfsync always for fsync durability, even when volatile is allowed", () => {
  const aof = { appendonly: "yes", appendfsync: "everysec", save: "" };
  assert.match(persistenceProblem(aof, "fsync", true) ?? "", /appendfsync always/);
  assert.match(
    persistenceProblem({ ...aof, appendonly: "no", appendfsync: "always" }, "fsync", true) ?? "",
    /appendonly yes/,
  );
  assert.equal(persistenceProblem({ ...aof, appendfsync: "always" }, "fsync", false), undefined);
});

Deno.test("parseJournalLines() reads likes with and without producer, and refuses a damaged line", () => {
  assert.deepEqual(parseJournalLines("1 3 0 10 p 7\n2 4 1 10 p 7\n3 5 2 10 q 1\n4 2 0 12"), [
    { server: 1, likes: 3, outcome: "accepted", total: 10, producer: "p", seq: 7 },
    { server: 2, likes: 4, outcome: "duplicate", total: 10, producer: "p", seq: 7 },
    { server: 3, likes: 5, outcome: "out of order", total: 10, producer: "q", seq: 1 },
    { server: 4, likes: 2, outcome: "accepted", total: 12 },
  ]);
  assert.deepEqual(parseJournalLines(""), []);
  for (const bad of ["1 3 0", "1 3 9 10", "1 x 0 10", "1 3 0 10 p"]) {
    assert.throws(() => parseJournalLines(bad), /Cannot read the Redis journal/, bad);
  }
});

redisTest("RedisStore keeps its keys under the prefix: total, producer window, journal", async () => {
  await withRedis(async (server) => {
    const store = await open(server, { keyPrefix: "t:", producerTtlMs: 60_000 });
    const raw = new Redis({ port: server.port, lazyConnect: true });
    try {
      const { journalId } = await store.commit([like("p", 4, 2), like(undefined, undefined, 3)], 1000);
      await raw.connect();
      assert.deepEqual((await raw.keys("*")).sort(), ["t:journal:primary-a", "t:producer:p", "t:total"]);
      assert.equal(await raw.get("t:total"), "5");
      assert.deepEqual(await raw.zrange("t:producer:p", "0", "-1"), ["4"]);
      const ttl = await raw.pttl("t:producer:p");
      assert.ok(ttl > 0 && ttl <= 60_000, String(ttl));
      assert.equal(await raw.pttl("t:total"), -1);
      assert.deepEqual(await raw.xrange("t:journal:primary-a", "-", "+"), [
        [journalId, ["t", "1000", "l", "1 2 0 2 p 4\n1 3 0 5"]],
      ]);
    } finally {
      store.close();
      raw.disconnect();
    }
  });
});

redisTest("RedisStore window keeps only the last W applied seqs of a producer", async () => {
  await withRedis(async (server) => {
    const store = await open(server, { keyPrefix: "w:" });
    const raw = new Redis({ port: server.port, lazyConnect: true });
    try {
      await store.commit(Array.from({ length: WINDOW + 5 }, (_, i) => like("p", i + 1)));
      await raw.connect();
      assert.deepEqual(
        await raw.zrange("w:producer:p", "0", "-1"),
        Array.from({ length: WINDOW }, (_, i) => String(i + 6)),
      );
    } finally {
      store.close();
      raw.disconnect();
    }
  });
});

redisTest("RedisStore journal holds each committed batch until the primary confirms it logged it", async () => {
  await withRedis(async (server) => {
    const store = await open(server);
    const other = await open(server, { primaryId: "primary-b" });
    try {
      const first = await store.commit([like("p", 1, 2), like("p", 1, 2)], 1000);
      const second = await store.commit([like(undefined, undefined, 3)], 2000);
      await other.commit([like("q", 1, 4)], 3000);
      assert.deepEqual(await store.readJournal(), [
        {
          id: first.journalId,
          time: 1000,
          likes: [
            { server: 1, likes: 2, outcome: "accepted", total: 2, producer: "p", seq: 1 },
            { server: 1, likes: 2, outcome: "duplicate", total: 2, producer: "p", seq: 1 },
          ],
        },
        { id: second.journalId, time: 2000, likes: [{ server: 1, likes: 3, outcome: "accepted", total: 5 }] },
      ]);
      assert.deepEqual((await store.readJournal(first.journalId)).map((b) => b.id), [second.journalId]);
      // Each primary drains only its own journal.
      assert.deepEqual((await other.readJournal()).map((b) => b.likes[0].total), [9]);

      await store.trimJournal(first.journalId);
      assert.deepEqual((await store.readJournal()).map((b) => b.id), [second.journalId]);
      // The next commit carries the confirmation: everything up to it goes.
      const third = await store.commit([like("p", 2)], 4000, second.journalId);
      assert.deepEqual((await store.readJournal()).map((b) => b.id), [third.journalId]);
      assert.equal((await other.readJournal()).length, 1);
    } finally {
      store.close();
      other.close();
    }
  });
});

redisTest("RedisStore readJournal() pages through a long journal", async () => {
  await withRedis(async (server) => {
    const store = await open(server);
    try {
      const ids: string[] = [];
      for (let i = 0; i < 1_205; i++) ids.push((await store.commit([like("p", i)])).journalId);
      assert.deepEqual((await store.readJournal()).map((b) => b.id), ids);
    } finally {
      store.close();
    }
  });
});

redisTest("RedisStore counts totals and seqs exactly beyond 32 bits", async () => {
  await withRedis(async (server) => {
    const store = await open(server);
    try {
      const big = 2 ** 40 + 1;
      const result = await store.commit([like("p", MAX_SEQ - 1, big), like("p", MAX_SEQ, big), like("p", MAX_SEQ)]);
      assert.deepEqual(result.outcomes, ["accepted", "accepted", "duplicate"]);
      assert.deepEqual(result.totals, [big, 2 * big, 2 * big]);
      assert.equal((await store.readJournal())[0].likes[1].seq, MAX_SEQ);
      assert.equal(await store.total(), 2 * big);
    } finally {
      store.close();
    }
  });
});

redisTest("RedisStore forgets a producer after its TTL", async () => {
  await withRedis(async (server) => {
    const store = await open(server, { producerTtlMs: 50 });
    try {
      await store.commit([like("p", 1)]);
      await sleep(300);
      assert.deepEqual((await store.commit([like("p", 1)])).outcomes, ["accepted"]);
    } finally {
      store.close();
    }
  });
});

redisTest("RedisStore refuses bad likes before sending anything", async () => {
  await withRedis(async (server) => {
    const store = await open(server);
    try {
      await assert.rejects(store.commit([like("p", -1)]), RangeError);
      await assert.rejects(store.commit([like("p p", 1)]), RangeError);
      await assert.rejects(store.commit([like("p", 1, 1.5)]), RangeError);
      assert.equal(await store.total(), 0);
    } finally {
      store.close();
    }
  });
});

redisTest("RedisStore.open() refuses a Redis without AOF or RDB unless volatile is allowed", async () => {
  await withRedis(async (server) => {
    await assert.rejects(
      open(server),
      (error) => error instanceof StoreError && /keeps nothing on disk/.test(error.message),
    );
    (await open(server, { allowVolatile: true })).close();
  }, { appendonly: false, save: "" });
});

redisTest("RedisStore.open() with fsync durability requires appendfsync always", async () => {
  await withRedis(async (server) => {
    await assert.rejects(
      open(server, { durability: "fsync" }),
      (error) => error instanceof StoreError && /appendfsync always/.test(error.message),
    );
  }, { appendfsync: "everysec" });
  await withRedis(async (server) => {
    (await open(server, { durability: "fsync" })).close();
  }, { appendfsync: "always" });
});

redisTest("RedisStore.open() fails with StoreUnavailableError when nothing listens", async () => {
  await assert.rejects(
    RedisStore.open({ url: `redis://127.0.0.1:${freePort()}`, primaryId: "a" }),
    StoreUnavailableError,
  );
});

redisTest("RedisStore commit fails with StoreUnavailableError, without hanging, while Redis is down", async () => {
  const server = await startRedis();
  const store = await open(server);
  try {
    await store.commit([like("p", 1)]);
    await server.stop("SIGKILL");
    // Bounded by the command timeout, not by how long Redis stays away.
    await assert.rejects(store.commit([like("p", 2)]), StoreUnavailableError);
    await assert.rejects(store.commit([like("p", 2)]), StoreUnavailableError);
    // The connection's state follows once the client has seen the socket close.
    const started = Date.now();
    while (store.connected) {
      if (Date.now() - started > 10_000) throw new Error("The store still says connected 10s after Redis died");
      await sleep(20);
    }
  } finally {
    store.close();
    await server.stop("SIGKILL");
  }
});

redisTest("RedisStore resumes after a Redis restart with its AOF, losing and recounting nothing", async () => {
  const server = await startRedis({ appendfsync: "always" });
  const store = await open(server, { durability: "fsync" });
  try {
    await store.commit([like("p", 1, 2), like("q", 1, 3)]);
    await server.stop("SIGKILL");
    await assert.rejects(store.commit([like("p", 2)]), StoreUnavailableError);
    await server.restart();
    const started = Date.now();
    while (!store.connected) {
      if (Date.now() - started > 10_000) throw new Error("The store did not reconnect within 10s of the restart");
      await sleep(20);
    }
    // The restarted Redis has no script cache: the commit falls back to EVAL.
    const result = await store.commit([like("p", 1, 2), like("p", 2, 4)]);
    assert.deepEqual(result.outcomes, ["duplicate", "accepted"]);
    assert.deepEqual(result.totals, [5, 9]);
    assert.equal((await store.readJournal()).length, 2);
  } finally {
    store.close();
    await server.stop("SIGKILL");
  }
});
