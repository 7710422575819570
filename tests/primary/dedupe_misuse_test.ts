/**
 * The dedupe state against misuse of the likes port, on a real primary: a
 * flood of fresh producer ids, one address starting producers fast, and a
 * seq sent again with another count.
 */
import assert from "node:assert/strict";
import { exchange, pipeline } from "../support/client.ts";
import { startPrimary } from "../support/primary.ts";

function lines(count: number, line: (i: number) => string): string[] {
  return Array.from({ length: count }, (_, i) => line(i));
}

Deno.test("a flood of fresh producer ids cannot evict a live producer: new ones get 1 too many producers, and the victim's retry stays a duplicate", async () => {
  const primary = await startPrimary({ flags: { maxProducers: 1000, newProducerRate: 0 } });
  try {
    assert.deepEqual(await exchange(primary.port, "LikesServer1 40 victim 1\n", 1), ["0"]);
    assert.deepEqual(await exchange(primary.port, "LikesServer1 40 victim 1\n", 1), ["0 duplicate"]);
    const replies = await pipeline(primary.port, lines(2000, (i) => `LikesServer2 0 evict${i} 1`));
    assert.equal(replies.length, 2000);
    // The victim holds one of the 1000 places.
    assert.deepEqual(new Set(replies.slice(0, 999)), new Set(["0"]));
    assert.deepEqual(new Set(replies.slice(999)), new Set(["1 too many producers"]));
    assert.deepEqual(await exchange(primary.port, "LikesServer1 40 victim 1\n", 1), ["0 duplicate"]);
    const metrics = await (await fetch(`http://127.0.0.1:${primary.httpPort}/metrics`)).text();
    assert.match(metrics, /^likes_producers_refused_total 1001$/m);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const log = Deno.readTextFileSync(primary.log);
  assert.equal(log.match(/Total 80/g), null, "the victim was counted once");
  // Refusals are logged like invalid data: --invalid-log-rate (10/s) lines, then a summary of the rest per second.
  const logged = log.match(/too many producers/g)?.length ?? 0;
  assert.ok(logged >= 1 && logged <= 20, `${logged} refusal lines`);
  const summarised = [...log.matchAll(/Invalid data from 127\.0\.0\.1: (\d+) more/g)].reduce(
    (n, m) => n + Number(m[1]),
    0,
  );
  assert.equal(logged + summarised, 1001, "every refusal is in the log, on its own line or in a summary");
  // One line on stderr for the whole flood, not one per refusal.
  assert.equal(primary.output().match(/Refusing new producers/g)?.length, 1);
});

Deno.test("one address cannot start more new producers than --new-producer-rate allows: the rest get 1 too many new producers", async () => {
  const primary = await startPrimary({ flags: { http: "off", newProducerRate: 1, newProducerBurst: 5 } });
  try {
    const replies = await pipeline(primary.port, lines(20, (i) => `LikesServer1 1 fresh${i} 1`));
    assert.deepEqual(replies.slice(0, 5), ["0", "0", "0", "0", "0"]);
    // At most one more token came back while they were handled.
    assert.ok(replies.slice(5).filter((reply) => reply === "1 too many new producers").length >= 14, replies.join());
    // A known producer never needs a token.
    assert.deepEqual(await exchange(primary.port, "LikesServer1 1 fresh0 2\n", 1), ["0"]);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
});

Deno.test("the same producer and seq with another count is answered 1 seq reused with other likes, logged as such, and not counted", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  try {
    assert.deepEqual(await exchange(primary.port, "LikesServer4 10 reuse 1\n", 1), ["0"]);
    assert.deepEqual(await exchange(primary.port, "LikesServer4 40 reuse 1\n", 1), ["1 seq reused with other likes"]);
    assert.deepEqual(await exchange(primary.port, "LikesServer4 10 reuse 1\n", 1), ["0 duplicate"]);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const log = Deno.readTextFileSync(primary.log);
  assert.match(log, /LikesServer4 40 reuse 1.*seq reused with other likes/);
  assert.equal(log.match(/Total 50/g), null);
  assert.match(log, /Stopped by \w+ with total 10\n/);
});
