import assert from "node:assert/strict";
import { generateLoad } from "../../lib/bench/load_generator.ts";
import { startPrimary } from "../support/primary.ts";
import { primaryEntries } from "../support/logs.ts";
import type { LikeLine } from "../../lib/formats/primary_log.ts";

Deno.test("generateLoad() sends each producer's likes with seq 1, 2, 3... and counts the acknowledged ones", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  const edges: string[] = [];
  let load;
  try {
    load = await generateLoad(primary.port, {
      connections: 3,
      pipeline: 4,
      durationMs: 300,
      warmupMs: 100,
      producerPrefix: "lg-",
      onWindow: (edge) => edges.push(edge),
    });
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  assert.deepEqual(edges, ["start", "end"]);
  assert.ok(load.acknowledged > 0);
  assert.equal(load.rejected, 0);
  assert.equal(load.unanswered, 0);
  assert.equal(load.histogram.count, load.acknowledged);
  assert.equal(load.seconds, 0.3);
  // Every line was a new (producer, seq): the primary counted each one, none as a duplicate.
  const entries = primaryEntries(primary.log);
  assert.ok(!entries.some((e) => e.kind === "like" && e.duplicate));
  const likes = entries.filter((e): e is LikeLine =>
    e.kind === "like" && e.server === 1 && e.likes === 1 && !e.outOfOrder && /^lg-[0-2]$/.test(e.producer ?? "")
  );
  assert.ok(likes.length >= load.acknowledged);
  for (const producer of ["lg-0", "lg-1", "lg-2"]) {
    const seqs = likes.filter((l) => l.producer === producer).map((l) => l.seq);
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1), `${producer} sent seq 1, 2, 3... in order`);
  }
});

Deno.test("generateLoad() counts replies other than 0 as rejected, not acknowledged", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  let load;
  try {
    load = await generateLoad(primary.port, { connections: 2, pipeline: 2, durationMs: 200, warmupMs: 0, likes: 43 });
  } finally {
    await primary.stop();
  }
  assert.equal(load.acknowledged, 0);
  assert.ok(load.rejected > 0);
  assert.equal(load.firstRejection, "1 likes above maximum");
  assert.equal(load.histogram.count, 0);
});

Deno.test("generateLoad() refuses nonsense options", async () => {
  await assert.rejects(generateLoad(1, { connections: 0 }), RangeError);
  await assert.rejects(generateLoad(1, { pipeline: 1.5 }), RangeError);
  await assert.rejects(generateLoad(1, { warmupMs: -1 }), RangeError);
});

Deno.test("generateLoad() spreads its connections over several ports in turn", async () => {
  const [a, b] = [await startPrimary({ flags: { http: "off" } }), await startPrimary({ flags: { http: "off" } })];
  let load;
  try {
    load = await generateLoad([a.port, b.port], {
      connections: 3,
      durationMs: 200,
      warmupMs: 50,
      producerPrefix: "sp-",
    });
  } finally {
    assert.equal((await a.stop()).code, 0);
    assert.equal((await b.stop()).code, 0);
  }
  assert.ok(load.acknowledged > 0);
  assert.equal(load.rejected, 0);
  const producers = (log: string) =>
    [...new Set(primaryEntries(log).flatMap((e) => e.kind === "like" && e.producer ? [e.producer] : []))].sort();
  assert.deepEqual(producers(a.log), ["sp-0", "sp-2"]);
  assert.deepEqual(producers(b.log), ["sp-1"]);
});

Deno.test("generateLoad() refuses an empty list of ports", async () => {
  await assert.rejects(generateLoad([], { durationMs: 10 }), /no port to load/);
});
