import assert from "node:assert/strict";
import { RedisStore } from "../../lib/primary/backend/redis/store.ts";
import { runAudit } from "../support/audit.ts";
import { REDIS, withRedis } from "../support/redis.ts";
import { tempDir } from "../support/temp.ts";
import { freePort } from "../../lib/common/free_port.ts";

const T = "2026-11-25T10:00:00.000Z";

function audit(dir: string, logs: string[], store: string) {
  return runAudit({ logDir: dir, servers: 1, primaryLogs: logs, store });
}

REDIS.test({
  name: "audit --store checks the Redis total against the likes counted across the primary logs, with least privilege",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await withRedis(async (server) => {
      const store = await RedisStore.open({ url: server.url, primaryId: "a" });
      try {
        await store.claim(crypto.randomUUID(), 60_000);
        await store.commit([{ kind: "like", server: 0, likes: 5, producer: "p1", seq: 1 }]);
        await store.commit([{ kind: "like", server: 0, likes: 7, producer: "p1", seq: 2 }]);
      } finally {
        store.close();
      }
      const dir = await tempDir();
      const write = (name: string, lines: string[]) =>
        Deno.writeTextFile(`${dir}/${name}`, lines.map((l) => `${T} ${l}\n`).join(""));
      await write("LikesServer0", [
        "LikesServer0 started producer=p1 pid=1 primary=127.0.0.1:1",
        "LikesServer0 5 0 seq=1",
        "LikesServer0 7 0 seq=2",
      ]);
      await write("PrimaryA", ["LikesServer0 5 Total 5 producer=p1 seq=1"]);
      await write("PrimaryB", ["LikesServer0 7 Total 12 producer=p1 seq=2"]);
      const logs = [`${dir}/PrimaryA`, `${dir}/PrimaryB`];

      const good = await audit(dir, logs, server.url);
      assert.equal(good.code, 0, good.out);
      assert.match(good.out, /Shared total 12; likes counted across the primary logs 12/);

      // A like in Redis that no log holds: the logs lost it.
      await write("PrimaryB", []);
      const bad = await audit(dir, logs, server.url);
      assert.equal(bad.code, 1, bad.out);
      assert.match(bad.out, /the store's total 12 is not the 5 likes counted across the logs/);
    });
  },
});

Deno.test("audit --store says in one line when Redis cannot be reached", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/PrimaryLikesLog`, "");
  const port = freePort();
  const { code, out } = await audit(dir, [`${dir}/PrimaryLikesLog`], `redis://127.0.0.1:${port}`);
  assert.equal(code, 1);
  assert.match(out.trim(), /^audit: Cannot read the total from Redis redis:\/\/127\.0\.0\.1:\d+: .+$/);
});
