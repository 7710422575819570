import assert from "node:assert/strict";
import { createClient } from "@redis/client";
import {
  parseRedisUrl,
  persistenceProblem,
  RedisStore,
  type RedisStoreOptions,
  StoreUnavailableError,
} from "../../../../lib/primary/backend/redis/store.ts";
import { StoreError } from "../../../../lib/primary/backend/backend.ts";
import { packBatch, parseJournalEntry } from "../../../../lib/primary/backend/redis/batch.ts";
import { MAX_SEQ } from "../../../../lib/protocol/message.ts";
import { sleep } from "../../../../lib/common/sleep.ts";
import { like } from "../store_contract.ts";
import { freePort } from "../../../support/parent.ts";
import { tempDir } from "../../../support/temp.ts";
import { REDIS, type RedisServer, startRedis, withRedis } from "../../../support/redis.ts";

const WINDOW = 8;

// The client keeps reconnect timers and sockets past a test's end in ways the
// sanitizers count; every test closes its clients and stops its server.
const redisTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: REDIS.ignore(name), sanitizeOps: false, sanitizeResources: false, fn });

/** A store holding the claim on its primary id, as a primary's is before it commits. */
async function open(server: RedisServer, options: Partial<RedisStoreOptions> = {}): Promise<RedisStore> {
  const store = await RedisStore.open({ url: server.url, primaryId: "primary-a", window: WINDOW, ...options });
  assert.ok(await store.claim(crypto.randomUUID(), 60_000));
  return store;
}

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

Deno.test("packBatch() groups each producer's consecutive seqs into runs, in order of their first like", () => {
  const batch = packBatch([
    like("p", 7, 3, 1),
    like("q", 1, 4, 2),
    like("p", 8, 5, 1),
    like(undefined, undefined, 6, 3),
    like("p", 8, 9, 1),
    like(undefined, undefined, 2, 4),
  ]);
  assert.deepEqual(batch.producers, ["p", "q"]);
  assert.equal(batch.likes, "1 3 1 7 2 4 2 1 1 5 1 8 3 6 0 0 1 9 1 8 4 2 0 0");
  // p 7-8 (sum 8, 5 the last's), q 1, no producer (two likes, sum 8), p 8 again: a new run.
  assert.equal(batch.runs, "1 7 2 8 5 2 1 1 4 4 0 0 2 8 2 1 8 1 9 9");
  assert.deepEqual([...batch.outcomeAt], [0, 2, 1, 3, 5, 4]);
});

Deno.test("parseJournalEntry() reads back what packBatch() packed, with outcomes and totals", () => {
  const likes = [
    like("p", 7, 3, 1),
    like("q", 1, 4, 2),
    like("p", 8, 5, 1),
    like(undefined, undefined, 6, 3),
    like("p", 7, 9, 1),
    like("p", 8, 9, 1),
  ];
  const batch = packBatch(likes);
  // Run order: p 7-8, q 1, no producer, p 7-8 again (a duplicate, then 8 with another count).
  const entry = parseJournalEntry({ t: "1000", b: "10", p: batch.producers.join(" "), l: batch.likes, o: "000013" });
  assert.deepEqual(entry, {
    time: 1000,
    likes: [
      { server: 1, likes: 3, outcome: "accepted", total: 13, producer: "p", seq: 7 },
      { server: 2, likes: 4, outcome: "accepted", total: 17, producer: "q", seq: 1 },
      { server: 1, likes: 5, outcome: "accepted", total: 22, producer: "p", seq: 8 },
      { server: 3, likes: 6, outcome: "accepted", total: 28 },
      { server: 1, likes: 9, outcome: "duplicate", total: 28, producer: "p", seq: 7 },
      { server: 1, likes: 9, outcome: "seq reused", total: 28, producer: "p", seq: 8 },
    ],
  });
  assert.deepEqual(parseJournalEntry({ t: "5", b: "0", p: "", l: "", o: "" }), { time: 5, likes: [] });
});

Deno.test("parseJournalEntry() refuses a damaged entry", () => {
  const good = { t: "1000", b: "10", p: "p q", l: "1 3 1 7 2 4 2 1", o: "02" };
  assert.equal(parseJournalEntry(good).likes.length, 2);
  for (
    const damaged of [
      { o: "0" },
      { o: "04" },
      { o: "012" },
      { l: "1 3 1 7 2 4 2" },
      { l: "1 3 3 7 2 4 2 1" },
      { l: "1 -3 1 7 2 4 2 1" },
      { l: "1 3 1 7 2 x 2 1" },
      { l: "1 3 0 7 2 4 2 1" },
      { b: "" },
      { t: "1e3" },
    ]
  ) {
    assert.throws(
      () => parseJournalEntry({ ...good, ...damaged }),
      /Cannot read the Redis journal/,
      JSON.stringify(damaged),
    );
  }
});

redisTest("RedisStore keeps its keys under the prefix: total, producer window, journal, identity, claim", async () => {
  await withRedis(async (server) => {
    const store = await open(server, { keyPrefix: "t:", producerTtlMs: 60_000 });
    const raw = createClient({ socket: { host: "127.0.0.1", port: server.port } });
    try {
      const { journalId } = await store.commit([like("p", 4, 2), like(undefined, undefined, 3)], 1000);
      await raw.connect();
      assert.deepEqual((await raw.sendCommand<string[]>(["KEYS", "*"])).sort(), [
        "t:claim:primary-a",
        "t:epoch:primary-a",
        "t:identity",
        "t:journal:primary-a",
        "t:producer:p",
        "t:total",
      ]);
      assert.equal(await raw.sendCommand(["GET", "t:total"]), "5");
      // The highest seq, its window, and the likes of the highest seq.
      assert.equal(await raw.sendCommand(["GET", "t:producer:p"]), `4 1${"0".repeat(WINDOW - 1)} 2`);
      const ttl = await raw.sendCommand<number>(["PTTL", "t:producer:p"]);
      assert.ok(ttl > 0 && ttl <= 60_000, String(ttl));
      assert.equal(await raw.sendCommand(["PTTL", "t:total"]), -1);
      assert.deepEqual(await raw.sendCommand(["XRANGE", "t:journal:primary-a", "-", "+"]), [
        [journalId, ["t", "1000", "b", "0", "p", "p", "l", "1 2 1 4 1 3 0 0", "o", "00"]],
      ]);
    } finally {
      store.close();
      raw.destroy();
    }
  });
});

redisTest("RedisStore window marks which of the W seqs up to the highest were applied", async () => {
  await withRedis(async (server) => {
    const store = await open(server, { keyPrefix: "w:" });
    const raw = createClient({ socket: { host: "127.0.0.1", port: server.port } });
    try {
      await store.commit(Array.from({ length: WINDOW + 5 }, (_, i) => like("p", i + 1)));
      await raw.connect();
      assert.equal(await raw.sendCommand(["GET", "w:producer:p"]), `${WINDOW + 5} ${"1".repeat(WINDOW)} 1`);
      // 20 jumps ahead: below the highest nothing is accepted any more, and the window now covers 13-20.
      assert.deepEqual((await store.commit([like("p", 20), like("p", 17), like("p", 13)])).outcomes, [
        "accepted",
        "out of order",
        "duplicate",
      ]);
      assert.equal(await raw.sendCommand(["GET", "w:producer:p"]), "20 10000001 1");
      assert.deepEqual((await store.commit([like("p", 13), like("p", 12), like("p", 20)])).outcomes, [
        "duplicate",
        "out of order",
        "duplicate",
      ]);
    } finally {
      store.close();
      raw.destroy();
    }
  });
});

redisTest(
  "RedisStore answers the highest seq sent again with another count seq reused, journals it, and counts nothing",
  async () => {
    await withRedis(async (server) => {
      const store = await open(server, { keyPrefix: "r:" });
      const raw = createClient({ socket: { host: "127.0.0.1", port: server.port } });
      try {
        await store.commit([like("reuse", 1, 10)]);
        // The count of 1 was kept by a run above the highest (the fast path), that of 3 by a retry's run (the slow path).
        const result = await store.commit([
          like("reuse", 1, 40),
          like("reuse", 2, 3),
          like("reuse", 3, 5),
          like("reuse", 3, 6),
          like("reuse", 1, 40),
        ]);
        assert.deepEqual(result.outcomes, ["seq reused", "accepted", "accepted", "seq reused", "duplicate"]);
        assert.deepEqual(result.totals, [10, 13, 18, 18, 18]);
        assert.equal(await store.total(), 18);
        await raw.connect();
        assert.equal(await raw.sendCommand(["GET", "r:producer:reuse"]), `3 111${"0".repeat(WINDOW - 3)} 5`);
        const journal = await store.readJournal();
        assert.deepEqual(journal[1].likes.map((l) => l.outcome), result.outcomes);
        // A seq reused changes no state: the right count is still a duplicate, the next seq still counted.
        assert.deepEqual((await store.commit([like("reuse", 3, 5), like("reuse", 4, 1)])).outcomes, [
          "duplicate",
          "accepted",
        ]);
      } finally {
        store.close();
        raw.destroy();
      }
    });
  },
);

redisTest(
  "RedisStore treats a producer key written without a count as an unknown count: a plain duplicate until its next seq",
  async () => {
    await withRedis(async (server) => {
      const store = await open(server, { keyPrefix: "o:" });
      const raw = createClient({ socket: { host: "127.0.0.1", port: server.port } });
      try {
        await raw.connect();
        // As a primary from before counts were kept wrote it: seqs 5 and 4 applied.
        await raw.sendCommand(["SET", "o:producer:old", `5 11${"0".repeat(WINDOW - 2)}`]);
        assert.deepEqual((await store.commit([like("old", 5, 40), like("old", 5, 7)])).outcomes, [
          "duplicate",
          "duplicate",
        ]);
        assert.equal(await raw.sendCommand(["GET", "o:producer:old"]), `5 11${"0".repeat(WINDOW - 2)}`);
        assert.deepEqual((await store.commit([like("old", 6, 2), like("old", 6, 3)])).outcomes, [
          "accepted",
          "seq reused",
        ]);
        assert.equal(await raw.sendCommand(["GET", "o:producer:old"]), `6 111${"0".repeat(WINDOW - 3)} 2`);
        assert.equal(await store.total(), 2);
      } finally {
        store.close();
        raw.destroy();
      }
    });
  },
);

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
      const result = await store.commit([
        like("p", MAX_SEQ - 1, big),
        like("p", MAX_SEQ, big),
        like("p", MAX_SEQ, big),
        like("p", MAX_SEQ, big + 1),
      ]);
      assert.deepEqual(result.outcomes, ["accepted", "accepted", "duplicate", "seq reused"]);
      assert.deepEqual(result.totals, [big, 2 * big, 2 * big, 2 * big]);
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

redisTest("RedisStore works with no grant but net to the Redis address", async () => {
  await withRedis(async (server) => {
    const dir = await tempDir();
    const script = `${dir}/probe.ts`;
    const store = new URL("../../../../lib/primary/backend/redis/store.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { RedisStore } from ${JSON.stringify(store)};
const store = await RedisStore.open({ url: Deno.args[0], primaryId: "probe" });
await store.claim(crypto.randomUUID(), 60000);
await store.commit([{ kind: "like", server: 1, likes: 2, producer: "p", seq: 1 }]);
console.log(await store.total());
store.close();
`,
    );
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        `--config=${new URL("../../../deno.json", import.meta.url).pathname}`,
        `--allow-net=127.0.0.1:${server.port}`,
        script,
        server.url,
      ],
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    assert.equal(code, 0, decode(stderr));
    assert.equal(decode(stdout), "2\n");
  });
});

redisTest(
  "RedisStore answers a retried run reaching past the highest: old seqs duplicate, new ones counted",
  async () => {
    await withRedis(async (server) => {
      const store = await open(server);
      try {
        await store.commit([like("p", 1), like("p", 2), like("p", 3)]);
        const result = await store.commit([
          like("p", 2, 5),
          like(undefined, undefined, 7),
          // The highest seq again with the count it was applied with (another would be seq reused).
          like("p", 3),
          like("p", 4, 5),
          like("p", 5, 6),
        ]);
        assert.deepEqual(result.outcomes, ["duplicate", "accepted", "duplicate", "accepted", "accepted"]);
        assert.deepEqual(result.totals, [3, 10, 10, 15, 21]);
        assert.deepEqual((await store.readJournal())[1].likes.map((l) => l.total), [3, 10, 10, 15, 21]);
        // A gap within one batch: 7 was never applied, though 8 (just above it) was a moment before.
        assert.deepEqual((await store.commit([like("p", 8), like("p", 7), like("p", 9)])).outcomes, [
          "accepted",
          "out of order",
          "accepted",
        ]);
      } finally {
        store.close();
      }
    });
  },
);

/** The dedupe rule, written plainly: what the script must answer, like by like. */
class DedupeModel {
  readonly #producers = new Map<string, { high: number; likes: number; applied: Set<number> }>();
  constructor(readonly window: number) {}

  commit(likes: { producer: string; seq: number; likes: number }[]): string[] {
    const before = new Map(
      [...this.#producers].map(([id, s]) => [id, { high: s.high, likes: s.likes, applied: new Set(s.applied) }]),
    );
    const added = new Map<string, Set<number>>();
    const outcomes = likes.map(({ producer, seq, likes }) => {
      const state = this.#producers.get(producer) ?? { high: -1, likes: -1, applied: new Set<number>() };
      this.#producers.set(producer, state);
      const mine = added.get(producer) ?? new Set<number>();
      added.set(producer, mine);
      if (seq > state.high) {
        state.high = seq;
        state.likes = likes;
        mine.add(seq);
        return "accepted";
      }
      const old = before.get(producer);
      const inOld = old !== undefined && old.high - seq < this.window && old.applied.has(seq);
      if (!mine.has(seq) && !inOld) return "out of order";
      return seq === state.high && likes !== state.likes ? "seq reused" : "duplicate";
    });
    for (const [id, state] of this.#producers) {
      const all = new Set([...(before.get(id)?.applied ?? []), ...(added.get(id) ?? [])]);
      state.applied = new Set([...all].filter((seq) => seq > state.high - this.window));
    }
    return outcomes;
  }
}

redisTest(
  "RedisStore answers as the plain dedupe rule does over random batches with retries, gaps and reused seqs",
  async () => {
    await withRedis(async (server) => {
      const store = await open(server);
      const model = new DedupeModel(WINDOW);
      // A fixed seed: a failure is repeatable.
      let seed = 12345;
      const random = (n: number) => {
        seed = (seed * 1103515245 + 12345) % 2 ** 31;
        return seed % n;
      };
      const next = new Map<string, number>();
      try {
        for (let round = 0; round < 300; round++) {
          const batch = Array.from({ length: 1 + random(12) }, () => {
            const producer = `p${random(3)}`;
            const high = next.get(producer) ?? 1;
            // Mostly the next seq; sometimes a retry from the window or beyond it, or a gap ahead.
            const roll = random(10);
            const seq = roll < 5 ? high : roll < 8 ? Math.max(1, high - 1 - random(WINDOW + 4)) : high + 1 + random(3);
            next.set(producer, Math.max(high, seq + 1));
            // Now and then another count: a seq reused when it is the highest.
            return { producer, seq, likes: random(6) === 0 ? 2 : 1 };
          });
          const expected = model.commit(batch);
          const result = await store.commit(batch.map(({ producer, seq, likes }) => like(producer, seq, likes)));
          assert.deepEqual(result.outcomes, expected, `round ${round}: ${JSON.stringify(batch)}`);
        }
      } finally {
        store.close();
      }
    });
  },
);

redisTest("RedisStore refuses a commit over a damaged dedupe window, changing nothing", async () => {
  await withRedis(async (server) => {
    const store = await open(server, { keyPrefix: "d:" });
    const raw = createClient({ socket: { host: "127.0.0.1", port: server.port } });
    try {
      const first = await store.commit([like("p", 1, 2)]);
      await raw.connect();
      await raw.sendCommand(["SET", "d:producer:q", "7 1x"]);
      await assert.rejects(
        store.commit([like("p", 2), like("q", 8)], Date.now(), first.journalId),
        /not a dedupe window/,
      );
      assert.equal(await store.total(), 2);
      // Not even the confirmed journal entry was trimmed: the script wrote nothing.
      assert.deepEqual((await store.readJournal()).map((b) => b.id), [first.journalId]);
      assert.equal(await raw.sendCommand(["GET", "d:producer:p"]), `1 1${"0".repeat(WINDOW - 1)} 2`);
    } finally {
      store.close();
      raw.destroy();
    }
  });
});
