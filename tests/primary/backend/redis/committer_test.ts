/**
 * RedisCommitter in process, on a real redis-server and a real log file: the
 * journal is written to the log after a crash cut a batch's write short,
 * after a failed log write (a real full tmpfs), and the log's last journal id
 * is found at start-up.
 */
import assert from "node:assert/strict";
import { formatPrimaryLine, type PrimaryLogEntry } from "../../../../lib/formats/primary_log.ts";
import { LikesLog } from "../../../../lib/primary/likes_log.ts";
import { readLogTail, RedisCommitter } from "../../../../lib/primary/backend/redis/committer.ts";
import { RedisStore, StoreUnavailableError } from "../../../../lib/primary/backend/redis/store.ts";
import { setImmediate } from "node:timers";
import { Stats } from "../../../../lib/primary/stats.ts";
import { Health } from "../../../../lib/primary/health.ts";
import type { Entry } from "../../../../lib/primary/backend/backend.ts";
import { primaryEntries } from "../../../support/logs.ts";
import { REDIS, type RedisServer, withRedis } from "../../../support/redis.ts";
import { tempDir } from "../../../support/temp.ts";
import { fill, withTmpfs } from "../../../support/tmpfs.ts";
import { type Requirement, requirement, testNeeding } from "../../../support/requirements.ts";
import { like } from "../store_contract.ts";

const ROOT = await requirement("root");

const redisTest = (name: string, fn: () => Promise<void>, needs: Requirement[] = [REDIS]) =>
  testNeeding(needs, { name, sanitizeOps: false, sanitizeResources: false, fn });

const decoder = new TextDecoder();
const TIME = new Date("2026-01-01T00:00:00.000Z");

/** A store holding the claim on its primary id, as a primary's is before it commits. */
async function open(redis: RedisServer): Promise<RedisStore> {
  const store = await RedisStore.open({ url: redis.url, primaryId: "p", allowVolatile: true });
  assert.ok(await store.claim(crypto.randomUUID(), 60_000));
  return store;
}

/** A store on a fresh redis-server and a log in a temp dir, for `fn`; both closed after. */
function withStoreAndLog(fn: (s: { dir: string; store: RedisStore; log: LikesLog }) => Promise<void>): Promise<void> {
  return withRedis(async (redis) => {
    const dir = await tempDir();
    const store = await open(redis);
    const log = LikesLog.open(`${dir}/log`);
    try {
      await fn({ dir, store, log });
    } finally {
      log.close();
      store.close();
    }
  });
}

async function send(committer: RedisCommitter, entries: Entry[]): Promise<string[]> {
  return decoder.decode(await committer.submit(entries)).split("\n").slice(0, -1);
}

const counted = (entries: PrimaryLogEntry[]) =>
  entries.flatMap((e) => e.kind === "like" && !e.duplicate ? [[e.seq, e.total]] : []);

Deno.test("readLogTail() finds the last journal id, the like lines after it, the total before it, and cuts a torn last line", async () => {
  const dir = await tempDir();
  const log = LikesLog.open(`${dir}/log`);
  try {
    assert.deepEqual(readLogTail(log), { journalId: "", after: [], total: undefined, notes: [] });
    const torn = "2026-01-01T00:00:00.000Z LikesServer1 3 To";
    const after: PrimaryLogEntry = {
      kind: "like",
      server: 1,
      likes: 2,
      duplicate: false,
      total: 9,
      producer: "q",
      seq: 4,
    };
    log.append(
      formatPrimaryLine({ kind: "journal", id: "5-0" }, TIME) +
        formatPrimaryLine({ ...after, total: 7, seq: 3 }, TIME) +
        formatPrimaryLine({ kind: "invalid", reason: "unknown message", from: "127.0.0.1:1" }, TIME) +
        formatPrimaryLine({ kind: "journal", id: "7-1" }, TIME) +
        formatPrimaryLine({ kind: "event", text: "Redis journal 9-9 was said, not logged" }, TIME) +
        formatPrimaryLine(after, TIME) + torn,
    );
    const tail = readLogTail(log);
    assert.equal(tail.journalId, "7-1");
    assert.deepEqual(tail.after, [after]);
    assert.equal(tail.total, 7, "the shared total of the last like line before the journal line");
    assert.match(tail.notes[0], new RegExp(`^Removed a torn last line of ${torn.length} bytes`));
    assert.ok(decoder.decode(log.read(0, log.size)).endsWith("seq=4\n"));
  } finally {
    log.close();
  }
});

redisTest("a batch whose log write a crash cut short is completed from the journal, each line once", async () => {
  await withStoreAndLog(async ({ dir, store, log }) => {
    // A primary committed this batch, wrote its first line, and died.
    const { outcomes, totals } = await store.commit([like("a", 1, 2), like("a", 2, 3), like("a", 3, 4)]);
    assert.deepEqual(outcomes, ["accepted", "accepted", "accepted"]);
    log.append(formatPrimaryLine(
      { kind: "like", server: 1, likes: 2, duplicate: false, total: totals[0], producer: "a", seq: 1 },
      TIME,
    ));
    const committer = new RedisCommitter(store, log, new Stats(), { tail: readLogTail(log) });
    assert.equal(await committer.recover(), 1);
    assert.equal(committer.total, 9);
    const entries = primaryEntries(`${dir}/log`);
    assert.deepEqual(counted(entries), [[1, 2], [2, 5], [3, 9]]);
    assert.equal(entries.at(-1)?.kind, "journal");
    assert.deepEqual(await store.readJournal(), [], "confirmed once logged");
  });
});

redisTest(
  "a seq reused is answered as on the embedded store, and logged as such from a commit and from the journal",
  async () => {
    await withStoreAndLog(async ({ dir, store, log }) => {
      const stats = new Stats();
      const committer = new RedisCommitter(store, log, stats, { tail: readLogTail(log) });
      await committer.recover();
      assert.deepEqual(await send(committer, [like("reuse", 1, 10, 4), like("reuse", 1, 40, 4)]), [
        "0",
        "1 seq reused with other likes",
      ]);
      assert.equal(stats.seqReused, 1);
      // Committed by a primary that died before its log write: the journal writes the refusal too.
      await store.commit([like("reuse", 1, 40, 4), like("reuse", 2, 5, 4)], Date.now(), committer.loggedUpTo);
      const restarted = new RedisCommitter(store, log, new Stats(), { tail: readLogTail(log) });
      assert.equal(await restarted.recover(), 1);
      assert.equal(restarted.total, 15);
      const entries = primaryEntries(`${dir}/log`);
      const refusals = entries.flatMap((e) => e.kind === "invalid" ? [[decoder.decode(e.data), e.reason, e.from]] : []);
      assert.deepEqual(refusals, [
        ["LikesServer4 40 reuse 1", "seq reused with other likes", "-"],
        ["LikesServer4 40 reuse 1", "seq reused with other likes", "-"],
      ]);
      assert.deepEqual(counted(entries), [[1, 10], [2, 15]]);
      assert.match(entries.find((e) => e.kind === "event")?.text ?? "", /Wrote 1 batches \(5 likes counted\)/);
    });
  },
);

redisTest(
  "a log write that fails after the Redis commit answers 1 storage error and logs the batch later",
  async () => {
    await withTmpfs("64k", async (disk) => {
      await withRedis(async (redis) => {
        const store = await open(redis);
        const log = LikesLog.open(`${disk}/log`);
        const health = new Health();
        try {
          const committer = new RedisCommitter(store, log, new Stats(), { health, tail: readLogTail(log) });
          await committer.recover();
          const filler = await fill(disk);
          assert.deepEqual(await send(committer, [like("a", 1, 5)]), ["1 storage error"]);
          assert.match(health.problem ?? "", /Cannot write to the log/);
          assert.equal((await store.readJournal()).length, 1, "the journal keeps what the log lacks");
          await Deno.remove(filler);
          // The retry is a duplicate: counted once, and now in the log from the journal.
          assert.deepEqual(await send(committer, [like("a", 1, 5), like("a", 2, 1)]), ["0 duplicate", "0"]);
          assert.equal(health.problem, undefined);
          const entries = primaryEntries(`${disk}/log`);
          assert.deepEqual(counted(entries), [[1, 5], [2, 6]]);
          assert.equal(entries.filter((e) => e.kind === "journal").length, 2);
        } finally {
          log.close();
          store.close();
        }
      });
    });
  },
  [REDIS, ROOT],
);

/** Makes `log`'s syncs wait for the test after the real sync, then fail once if asked. */
function gateSyncs(log: LikesLog) {
  const real = log.syncAsync.bind(log);
  const gate = { hold: undefined as PromiseWithResolvers<void> | undefined, failNext: false };
  log.syncAsync = async () => {
    await real();
    if (gate.hold) await gate.hold.promise;
    if (gate.failNext) {
      gate.failNext = false;
      throw new Error("Input/output error (os error 5)");
    }
  };
  return gate;
}

redisTest(
  "in fsync mode likes are answered before the log's sync, and the journal keeps them until a sync covers them",
  async () => {
    await withStoreAndLog(async ({ dir, store, log }) => {
      const gate = gateSyncs(log);
      const committer = new RedisCommitter(store, log, new Stats(), { durability: "fsync", tail: readLogTail(log) });
      await committer.recover();
      gate.hold = Promise.withResolvers();
      assert.deepEqual(await send(committer, [like("a", 1, 5)]), ["0"]);
      assert.deepEqual(await send(committer, [like("a", 2, 1)]), ["0"]);
      assert.equal(committer.loggedUpTo, "", "nothing confirmed while the sync runs");
      const journal = await store.readJournal();
      assert.equal(journal.length, 2, "the second commit confirmed nothing");
      gate.hold.resolve();
      gate.hold = undefined;
      await committer.drained();
      assert.equal(committer.loggedUpTo, journal[1].id);
      assert.deepEqual(await send(committer, [like("a", 3, 1)]), ["0"]);
      assert.equal((await store.readJournal()).length, 1, "the next commit confirmed both");
      assert.deepEqual(counted(primaryEntries(`${dir}/log`)), [[1, 5], [2, 6], [3, 7]]);
    });
  },
);

redisTest(
  "in fsync mode a failed log sync cuts the unsynced lines and the journal writes them again, each once",
  async () => {
    await withStoreAndLog(async ({ dir, store, log }) => {
      const health = new Health();
      const gate = gateSyncs(log);
      const committer = new RedisCommitter(store, log, new Stats(), {
        durability: "fsync",
        health,
        tail: readLogTail(log),
      });
      await committer.recover();
      const synced = log.size;
      gate.failNext = true;
      gate.hold = Promise.withResolvers();
      assert.deepEqual(await send(committer, [like("a", 1, 5)]), ["0"]);
      // Written after the failing sync began: cut with it, since it follows what the sync did not cover.
      assert.deepEqual(await send(committer, [like("b", 1, 2)]), ["0"]);
      assert.ok(log.size > synced);
      gate.hold.resolve();
      gate.hold = undefined;
      await committer.drained();
      assert.equal(health.problem, undefined, "healthy once the journal is in the log");
      assert.deepEqual(await send(committer, [like("a", 1, 5), like("a", 2, 1)]), ["0 duplicate", "0"]);
      const entries = primaryEntries(`${dir}/log`);
      assert.deepEqual(
        entries.flatMap((e) => e.kind === "like" ? [`${e.producer}:${e.seq}:${e.duplicate}:${e.total}`] : []),
        ["a:1:false:5", "b:1:false:7", "a:1:true:7", "a:2:false:8"],
      );
      assert.ok(entries.some((e) => e.kind === "event" && /from the Redis journal/.test(e.text)));
    });
  },
);

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

redisTest("with several commits in flight at once, the log and the answers keep batch order", async () => {
  await withStoreAndLog(async ({ dir, store, log }) => {
    const commit = store.commit.bind(store);
    let outstanding = 0;
    let most = 0;
    store.commit = async (...args) => {
      most = Math.max(most, ++outstanding);
      try {
        return await commit(...args);
      } finally {
        outstanding--;
      }
    };
    const committer = new RedisCommitter(store, log, new Stats(), { inFlight: 4, tail: readLogTail(log) });
    await committer.recover();
    const replies: Promise<string[]>[] = [];
    for (let seq = 1; seq <= 40; seq++) {
      replies.push(send(committer, [like("a", seq, 1)]));
      await nextTurn();
    }
    assert.deepEqual(await Promise.all(replies), replies.map(() => ["0"]));
    assert.ok(most >= 2, `at most ${most} commit in flight`);
    assert.deepEqual(
      counted(primaryEntries(`${dir}/log`)),
      Array.from({ length: 40 }, (_, i) => [i + 1, i + 1]),
    );
  });
});

redisTest(
  "a commit whose reply is lost fails the batch sent after it too, and the journal logs both in order",
  async () => {
    await withStoreAndLog(async ({ dir, store, log }) => {
      const commit = store.commit.bind(store);
      let calls = 0;
      store.commit = async (...args) => {
        const call = ++calls;
        const result = await commit(...args);
        if (call === 2) {
          // Applied in Redis, reply lost, and late: the third batch's reply comes first.
          await new Promise((resolve) => setTimeout(resolve, 50));
          throw new StoreUnavailableError("Redis store: connection lost (test)");
        }
        return result;
      };
      const committer = new RedisCommitter(store, log, new Stats(), { inFlight: 2, tail: readLogTail(log) });
      await committer.recover();
      assert.deepEqual(await send(committer, [like("a", 1, 1)]), ["0"]);
      const second = send(committer, [like("a", 2, 2)]);
      await nextTurn();
      const third = send(committer, [like("a", 3, 3)]);
      assert.deepEqual(await second, ["1 storage error"]);
      assert.deepEqual(await third, ["1 storage error"], "its lines would have followed a gap");
      assert.equal(calls, 3, "both commits were sent before either reply");
      assert.deepEqual(await send(committer, [like("a", 2, 2), like("a", 3, 3), like("a", 4, 4)]), [
        "0 duplicate",
        "0 duplicate",
        "0",
      ]);
      assert.deepEqual(counted(primaryEntries(`${dir}/log`)), [[1, 1], [2, 3], [3, 6], [4, 10]]);
    });
  },
);

redisTest(
  "in fsync mode a journal drain waits for the log's background sync, so a failing sync cannot cut what it writes",
  async () => {
    await withStoreAndLog(async ({ dir, store, log }) => {
      const gate = gateSyncs(log);
      const commit = store.commit.bind(store);
      let calls = 0;
      store.commit = async (...args) => {
        const result = await commit(...args);
        if (++calls === 2) throw new StoreUnavailableError("Redis store: connection lost (test)");
        return result;
      };
      const committer = new RedisCommitter(store, log, new Stats(), { durability: "fsync", tail: readLogTail(log) });
      await committer.recover();
      gate.hold = Promise.withResolvers();
      gate.failNext = true;
      assert.deepEqual(await send(committer, [like("a", 1, 1)]), ["0"]);
      // Counted in Redis, reply lost: the next batch first drains the journal into the log.
      assert.deepEqual(await send(committer, [like("a", 2, 2)]), ["1 storage error"]);
      const third = send(committer, [like("a", 3, 3)]);
      await new Promise((resolve) => setTimeout(resolve, 50));
      // The first batch's sync now fails: the log is cut back to before it.
      gate.hold.resolve();
      gate.hold = undefined;
      assert.deepEqual(await third, ["0"]);
      await committer.drained();
      assert.deepEqual(counted(primaryEntries(`${dir}/log`)), [[1, 1], [2, 3], [3, 6]]);
    });
  },
);
