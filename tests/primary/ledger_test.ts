import assert from "node:assert/strict";
import { Ledger, WINDOW } from "../../lib/primary/ledger.ts";
import type { Like } from "../../lib/protocol/message.ts";

function like(likes: number, producer?: string, seq?: number): Like {
  return producer === undefined
    ? { kind: "like", server: 1, likes }
    : { kind: "like", server: 1, likes, producer, seq };
}

/** Applies likes as one committed batch and returns what each was. */
function batch(ledger: Ledger, likes: Like[], now = 1000): string[] {
  ledger.begin();
  const applied = likes.map((l) => ledger.apply(l, now));
  ledger.commit(ledger.changes());
  return applied;
}

Deno.test("Ledger rejects a negative or fractional starting total and a non-positive producer limit", () => {
  assert.throws(() => new Ledger(-1), { name: "RangeError", message: /total must be a non-negative integer, got -1/ });
  assert.throws(() => new Ledger(1.5), RangeError);
  assert.throws(() => new Ledger(Number.MAX_SAFE_INTEGER + 1), RangeError);
  assert.throws(() => new Ledger(0, [], { maxProducers: 0 }), { name: "RangeError", message: /maxProducers/ });
});

Deno.test("Ledger adds plain likes every time they arrive", () => {
  const ledger = new Ledger(10);
  assert.deepEqual(batch(ledger, [like(3), like(3), like(0)]), ["accepted", "accepted", "accepted"]);
  assert.equal(ledger.total, 16);
  assert.equal(ledger.producerCount, 0);
});

Deno.test("Ledger answers `out of order` for a seq below the highest that was never counted, never `duplicate`", () => {
  const ledger = new Ledger();
  assert.deepEqual(batch(ledger, [like(1, "p", 1), like(2, "p", 5), like(4, "p", 3), like(8, "p", 4)]), [
    "accepted",
    "accepted",
    "out of order",
    "out of order",
  ]);
  assert.equal(ledger.total, 3);
  // The window remembers exactly which were counted.
  assert.deepEqual(batch(ledger, [like(1, "p", 1), like(2, "p", 5), like(1, "p", 2)]), [
    "duplicate",
    "duplicate",
    "out of order",
  ]);
  // A run of consecutive seqs is remembered whole, beyond the window.
  batch(ledger, [like(1, "q", 1)]);
  for (let seq = 2; seq <= 3 * WINDOW; seq++) batch(ledger, [like(1, "q", seq)]);
  assert.deepEqual(batch(ledger, [like(1, "q", 1)]), ["duplicate"]);
  // Before a gap and beyond the window nothing can be known: never `duplicate`.
  batch(ledger, [like(1, "p", 5 + WINDOW)]);
  assert.deepEqual(batch(ledger, [like(1, "p", 5)]), ["out of order"]);
});

Deno.test("Ledger: a huge seq sent under another's producer id makes that producer's later likes fail loudly, not vanish", () => {
  const ledger = new Ledger();
  batch(ledger, [like(1, "victim", 1)]);
  batch(ledger, [like(1, "victim", Number.MAX_SAFE_INTEGER)]);
  assert.deepEqual(batch(ledger, [like(5, "victim", 2)]), ["out of order"]);
  assert.equal(ledger.total, 2);
});

Deno.test("Ledger counts a (producer, seq) once and answers repeats of counted sequence numbers as duplicates", () => {
  const ledger = new Ledger();
  assert.deepEqual(batch(ledger, [like(5, "p", 1), like(5, "p", 1), like(7, "p", 2)]), [
    "accepted",
    "duplicate",
    "accepted",
  ]);
  assert.deepEqual(batch(ledger, [like(5, "p", 1), like(7, "p", 2), like(1, "p", 3)]), [
    "duplicate",
    "duplicate",
    "accepted",
  ]);
  assert.equal(ledger.total, 13);
  assert.equal(ledger.producer("p")?.lastSeq, 3);
});

Deno.test("Ledger keeps producers apart", () => {
  const ledger = new Ledger();
  assert.deepEqual(batch(ledger, [like(1, "a", 1), like(2, "b", 1), like(1, "a", 1)]), [
    "accepted",
    "accepted",
    "duplicate",
  ]);
  assert.equal(ledger.total, 3);
});

Deno.test("Ledger continues from the stored total and producers", () => {
  const ledger = new Ledger(100, [["p", { lastSeq: 9, lastSeen: 5 }]]);
  assert.deepEqual(batch(ledger, [like(1, "p", 9), like(1, "p", 10)]), ["duplicate", "accepted"]);
  assert.equal(ledger.total, 101);
});

Deno.test("Ledger refuses to apply, list changes, commit or roll back outside a batch, and to expire during one", () => {
  const ledger = new Ledger();
  assert.throws(() => ledger.apply(like(1), 0), /outside a batch/);
  assert.throws(() => ledger.changes(), /no batch is open/);
  assert.throws(() => ledger.commit({ total: 0, touched: [], evicted: [] }), /no batch is open/);
  assert.throws(() => ledger.rollback(), /no batch is open/);
  ledger.begin();
  ledger.begin();
  assert.equal(ledger.openBatches, 2);
  assert.throws(() => ledger.expire(0), /during a batch/);
});

Deno.test("Ledger with several batches open (written behind a sync) undoes the newest ones exactly, newest first", () => {
  const ledger = new Ledger(10, [["p", { lastSeq: 1, lastSeen: 100 }]]);
  // Batch 1: p's seq 2 and a new producer q.
  ledger.begin();
  assert.equal(ledger.apply(like(5, "p", 2), 200), "accepted");
  assert.equal(ledger.apply(like(3, "q", 1), 200), "accepted");
  const first = ledger.changes();
  // Batch 2, open behind it: p's next seq, q's repeat, a new producer r.
  ledger.begin();
  assert.equal(ledger.apply(like(7, "p", 3), 300), "accepted");
  assert.equal(ledger.apply(like(3, "q", 1), 300), "duplicate");
  assert.equal(ledger.apply(like(2, "r", 1), 300), "accepted");
  // Batch 3: p again.
  ledger.begin();
  assert.equal(ledger.apply(like(1, "p", 4), 400), "accepted");
  assert.equal(ledger.total, 28);
  // The sync covering batch 1 returns: it commits; then a sync fails under batches 2 and 3.
  ledger.commit(first);
  ledger.rollback();
  ledger.rollback();
  assert.equal(ledger.openBatches, 0);
  assert.equal(ledger.total, 18);
  assert.deepEqual(ledger.producer("p"), { lastSeq: 2, window: 3, runStart: 1, lastSeen: 200, lastLikes: 5 });
  assert.deepEqual(ledger.producer("q"), { lastSeq: 1, window: 1, runStart: 1, lastSeen: 200, lastLikes: 3 });
  assert.equal(ledger.producer("r"), undefined);
  assert.deepEqual(ledger.takeDirty(), new Set(["p", "q"]));
  // The undone seqs are new again, and count once.
  assert.deepEqual(batch(ledger, [like(7, "p", 3), like(1, "p", 4), like(2, "r", 1)], 500), [
    "accepted",
    "accepted",
    "accepted",
  ]);
  assert.equal(ledger.total, 28);
});

Deno.test("Ledger with a batch open never forgets a producer an earlier open batch touched to make room", () => {
  const ledger = new Ledger(0, [["a", { lastSeq: 1, lastSeen: 1 }], ["b", { lastSeq: 1, lastSeen: 2 }]], {
    maxProducers: 2,
    producerTtl: 5,
  });
  ledger.begin();
  // "a" is seen in the first batch, still first in the map until that batch commits.
  assert.equal(ledger.apply(like(1, "a", 2), 100), "accepted");
  ledger.begin();
  // Room is made from "b", unseen for the TTL, not from "a".
  assert.equal(ledger.apply(like(1, "c", 1), 100), "accepted");
  assert.deepEqual(ledger.changes().evicted, ["b"]);
  ledger.rollback();
  ledger.rollback();
  assert.deepEqual(ledger.producer("a"), { lastSeq: 1, window: 1, runStart: 1, lastSeen: 1, lastLikes: -1 });
  assert.deepEqual(ledger.producer("b"), { lastSeq: 1, window: 1, runStart: 1, lastSeen: 2, lastLikes: -1 });
  assert.equal(ledger.producer("c"), undefined);
});

Deno.test("Ledger.rollback() restores the total and every producer the batch touched", () => {
  const ledger = new Ledger(50, [["old", { lastSeq: 4, lastSeen: 100 }]]);
  ledger.begin();
  ledger.apply(like(5), 200);
  ledger.apply(like(6, "old", 5), 200);
  ledger.apply(like(6, "old", 6), 200);
  ledger.apply(like(7, "new", 1), 200);
  ledger.apply(like(7, "new", 1), 200);
  ledger.apply(like(2, "old", 1), 200);
  assert.equal(ledger.total, 74);
  ledger.rollback();
  assert.equal(ledger.total, 50);
  assert.deepEqual(ledger.producer("old"), { lastSeq: 4, window: 1, runStart: 4, lastSeen: 100, lastLikes: -1 });
  assert.equal(ledger.producer("new"), undefined);
  assert.equal(ledger.producerCount, 1);
  // The rolled-back sequence numbers count when they come again.
  assert.deepEqual(batch(ledger, [like(6, "old", 5), like(7, "new", 1)]), ["accepted", "accepted"]);
  assert.equal(ledger.total, 63);
});

Deno.test("Ledger.rollback() undoes a duplicate's refresh of last-seen time", () => {
  const ledger = new Ledger(0, [["p", { lastSeq: 3, lastSeen: 100 }]]);
  ledger.begin();
  assert.equal(ledger.apply(like(1, "p", 3), 900), "duplicate");
  ledger.rollback();
  assert.deepEqual(ledger.producer("p"), { lastSeq: 3, window: 1, runStart: 3, lastSeen: 100, lastLikes: -1 });
});

Deno.test("Ledger.changes() lists the new total and the producers touched, duplicates included", () => {
  const ledger = new Ledger(0, [["a", { lastSeq: 1, lastSeen: 1 }], ["b", { lastSeq: 1, lastSeen: 2 }]]);
  ledger.begin();
  ledger.apply(like(3), 10);
  ledger.apply(like(1, "a", 1), 10);
  ledger.apply(like(2, "c", 7), 10);
  const changes = ledger.changes();
  assert.equal(changes.total, 5);
  assert.deepEqual(
    new Map(changes.touched),
    new Map([["a", { lastSeq: 1, window: 1, runStart: 1, lastSeen: 10, lastLikes: -1 }], ["c", {
      lastSeq: 7,
      window: 1,
      runStart: 7,
      lastSeen: 10,
      lastLikes: 2,
    }]]),
  );
  assert.deepEqual(changes.evicted, []);
});

Deno.test("Ledger refuses a new producer with too many producers when the table is full of live ones", () => {
  const ledger = new Ledger(0, [], { maxProducers: 2, producerTtl: 1000 });
  assert.deepEqual(batch(ledger, [like(40, "victim", 1), like(1, "other", 1)], 10), ["accepted", "accepted"]);
  // A flood of fresh ids, each seen within the TTL of the victim: none gets in, nothing is forgotten.
  const flood = [];
  for (let i = 0; i < 1000; i++) flood.push(like(1, `evict${i}`, 1));
  assert.ok(batch(ledger, flood, 500).every((applied) => applied === "too many producers"));
  assert.equal(ledger.total, 41);
  assert.deepEqual(batch(ledger, [like(40, "victim", 1)], 600), ["duplicate"]);
  assert.equal(ledger.producerCount, 2);
});

Deno.test("Ledger makes room for a new producer by forgetting one unseen for the TTL, never a live one", () => {
  const ledger = new Ledger(0, [["old", { lastSeq: 1, lastSeen: 1 }], ["live", { lastSeq: 1, lastSeen: 900 }]], {
    maxProducers: 2,
    producerTtl: 1000,
  });
  ledger.begin();
  assert.equal(ledger.apply(like(1, "new", 1), 1500), "accepted");
  // Only "old" was unseen for the TTL; "live" was seen 600 ms ago.
  assert.equal(ledger.apply(like(1, "newer", 1), 1500), "too many producers");
  const changes = ledger.changes();
  assert.deepEqual(changes.evicted, ["old"]);
  ledger.commit(changes);
  assert.equal(ledger.producer("old"), undefined);
  assert.ok(ledger.producer("live"));
  assert.deepEqual(ledger.takeDirty(), new Set(["old", "new"]));
});

Deno.test("Ledger.rollback() brings back a producer the batch forgot to make room", () => {
  const ledger = new Ledger(0, [["a", { lastSeq: 1, lastSeen: 1 }]], { maxProducers: 1, producerTtl: 5 });
  ledger.begin();
  ledger.apply(like(1, "b", 1), 10);
  assert.deepEqual(ledger.changes().evicted, ["a"]);
  ledger.rollback();
  assert.deepEqual(ledger.producer("a"), { lastSeq: 1, window: 1, runStart: 1, lastSeen: 1, lastLikes: -1 });
  assert.equal(ledger.producer("b"), undefined);
  assert.equal(ledger.producerCount, 1);
});

Deno.test("Ledger answers a new producer over its gate's rate with too many new producers, and counts nothing", () => {
  const ledger = new Ledger();
  let left = 2;
  const gate = { admit: () => left-- > 0 };
  ledger.begin();
  const applied = ["a", "b", "c"].map((id) => ledger.apply(like(1, id, 1), 10, gate));
  // A known producer does not need the gate.
  applied.push(ledger.apply(like(1, "a", 2), 10, gate));
  ledger.commit(ledger.changes());
  assert.deepEqual(applied, ["accepted", "accepted", "too many new producers", "accepted"]);
  assert.equal(ledger.total, 3);
  assert.equal(ledger.producer("c"), undefined);
});

Deno.test("Ledger refuses the highest seq sent again with other likes as seq reused, and counts it never", () => {
  const ledger = new Ledger();
  assert.deepEqual(batch(ledger, [like(10, "reuse", 1)]), ["accepted"]);
  assert.deepEqual(batch(ledger, [like(40, "reuse", 1), like(10, "reuse", 1)]), ["seq reused", "duplicate"]);
  assert.equal(ledger.total, 10);
  // Within one batch too.
  assert.deepEqual(batch(ledger, [like(3, "reuse", 2), like(4, "reuse", 2)]), ["accepted", "seq reused"]);
  assert.equal(ledger.total, 13);
});

Deno.test("Ledger answers a duplicate as such when a checkpoint did not keep the likes of the highest seq", () => {
  const ledger = new Ledger(0, [["p", { lastSeq: 5, lastSeen: 1 }]]);
  assert.deepEqual(batch(ledger, [like(7, "p", 5)]), ["duplicate"]);
});

Deno.test("Ledger.expire() forgets producers not seen since the cutoff, whatever order they were stored in", () => {
  const ledger = new Ledger(0, [
    ["late", { lastSeq: 1, lastSeen: 300 }],
    ["early", { lastSeq: 1, lastSeen: 100 }],
    ["middle", { lastSeq: 1, lastSeen: 200 }],
  ]);
  assert.deepEqual(ledger.expire(250).sort(), ["early", "middle"]);
  assert.equal(ledger.producerCount, 1);
  assert.ok(ledger.producer("late"));
  assert.deepEqual(ledger.expire(250), []);
});

Deno.test("Ledger.expire() keeps a producer whose last-seen time a later batch refreshed", () => {
  const ledger = new Ledger(0, [["a", { lastSeq: 1, lastSeen: 100 }], ["b", { lastSeq: 1, lastSeen: 200 }]]);
  batch(ledger, [like(1, "a", 2)], 1000);
  assert.deepEqual(ledger.expire(500), ["b"]);
  assert.ok(ledger.producer("a"));
});
