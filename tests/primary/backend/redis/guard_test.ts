/**
 * The commit script's guard on a real redis-server: a batch is refused, with
 * nothing of it applied, when the store lost its identity, when another
 * process holds the primary's id, or when the total is below what the primary
 * saw; a lapsed claim is taken again only while nobody else claimed the id.
 */
import assert from "node:assert/strict";
import { createClient } from "@redis/client";
import { RedisStore, StoreRefusedError } from "../../../../lib/primary/backend/redis/store.ts";
import { like } from "../store_contract.ts";
import { REDIS, type RedisServer, withRedis } from "../../../support/redis.ts";

const redisTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: REDIS.ignore(name), sanitizeOps: false, sanitizeResources: false, fn });

async function claimed(server: RedisServer, leaseMs = 60_000): Promise<RedisStore> {
  const store = await RedisStore.open({ url: server.url, primaryId: "a" });
  assert.ok(await store.claim(crypto.randomUUID(), leaseMs));
  return store;
}

function rawClient(server: RedisServer) {
  return createClient({ socket: { host: "127.0.0.1", port: server.port }, RESP: 2 });
}

/** Runs `fn` with a plain client on `server`. */
async function withRaw<T>(server: RedisServer, fn: (raw: ReturnType<typeof rawClient>) => Promise<T>): Promise<T> {
  const raw = rawClient(server);
  await raw.connect();
  try {
    return await fn(raw);
  } finally {
    raw.destroy();
  }
}

const refused = (refusal: string, pattern: RegExp) => (error: unknown) =>
  error instanceof StoreRefusedError && error.refusal === refusal && pattern.test(error.message);

redisTest("the commit script refuses a batch once the store lost its identity, and applies nothing", async () => {
  await withRedis(async (server) => {
    const store = await claimed(server);
    try {
      await store.commit([like("p", 1, 5)]);
      await withRaw(server, (raw) => raw.sendCommand(["DEL", "{likes}:identity", "{likes}:total"]));
      await assert.rejects(store.commit([like("p", 2, 3)]), refused("identity", /lost its identity .*is gone/));
      await assert.rejects(store.verify(0), refused("identity", /lost its identity/));
      assert.equal(await store.total(), 0, "nothing counted into the emptied store");
      assert.equal((await store.readJournal().catch((e) => e)).refusal, "identity", "nor its journal read");
    } finally {
      store.close();
    }
  });
});

redisTest("the commit script refuses a batch from a primary whose id another process claimed", async () => {
  await withRedis(async (server) => {
    const store = await claimed(server, 200);
    const other = await RedisStore.open({ url: server.url, primaryId: "a" });
    try {
      await store.commit([like("p", 1, 5)]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.ok(await other.claim(crypto.randomUUID(), 60_000), "the lapsed claim is free to take");
      await assert.rejects(store.commit([like("p", 2, 3)]), refused("fenced", /Another primary holds the id a/));
      assert.equal(await store.total(), 5);
      assert.equal((await other.readJournal()).length, 1, "nothing of the fenced batch in the journal");
      // Even once the other lets the id go: a holder came between, so the fenced one stays fenced.
      await withRaw(server, (raw) => raw.sendCommand(["DEL", "{likes}:claim:a"]));
      await assert.rejects(store.commit([like("p", 2, 3)]), refused("fenced", /Another primary/));
    } finally {
      store.close();
      other.close();
    }
  });
});

redisTest("a primary whose claim lapsed with nobody claiming the id since commits again, taking it back", async () => {
  await withRedis(async (server) => {
    const store = await claimed(server, 100);
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.deepEqual((await store.commit([like("p", 1, 5)])).outcomes, ["accepted"]);
      const holder = await withRaw(server, (raw) => raw.sendCommand<number>(["PTTL", "{likes}:claim:a"]));
      assert.ok(holder > 0, "the claim is held again, with a lease");
    } finally {
      store.close();
    }
  });
});

redisTest("the commit script refuses a batch when the total is below the floor the primary saw", async () => {
  await withRedis(async (server) => {
    const store = await claimed(server);
    try {
      await store.commit([like("p", 1, 5)]);
      await withRaw(server, (raw) => raw.sendCommand(["SET", "{likes}:total", "2"]));
      await assert.rejects(
        store.commit([like("p", 2, 3)], Date.now(), "", 5),
        refused("behind", /total 2 is below the 5/),
      );
      assert.equal(await store.total(), 2);
      assert.equal(await store.verify(2), 2);
    } finally {
      store.close();
    }
  });
});

redisTest(
  "RedisStore.open() creates no identity on an empty Redis when told the caller counted on one before",
  async () => {
    await withRedis(async (server) => {
      const store = await RedisStore.open({ url: server.url, primaryId: "a", createIdentity: false });
      try {
        assert.equal(store.identity, undefined);
        const adopted = await store.adopt(7);
        assert.deepEqual({ ...adopted, identity: typeof adopted.identity }, {
          identity: "string",
          created: true,
          before: 0,
          after: 7,
        });
        assert.equal(store.identity, adopted.identity);
        assert.equal(await store.total(), 7);
      } finally {
        store.close();
      }
    });
  },
);
