import assert from "node:assert/strict";
import { createRandom, deriveSeed, randomInt } from "../../lib/common/random.ts";
import { backoffDelay } from "../../lib/common/backoff.ts";

Deno.test("createRandom() with a seed repeats its sequence", () => {
  const a = createRandom(42);
  const b = createRandom(42);
  const c = createRandom(43);
  const seqA = Array.from({ length: 20 }, a);
  assert.deepEqual(seqA, Array.from({ length: 20 }, b));
  assert.notDeepEqual(seqA, Array.from({ length: 20 }, c));
  assert.ok(seqA.every((x) => x >= 0 && x < 1));
});

Deno.test("randomInt() covers both ends of its range and nothing outside", () => {
  const random = createRandom(1);
  const seen = new Set<number>();
  for (let i = 0; i < 5000; i++) seen.add(randomInt(random, 0, 42));
  assert.equal(seen.size, 43);
  assert.equal(Math.min(...seen), 0);
  assert.equal(Math.max(...seen), 42);
  assert.throws(() => randomInt(random, 5, 4), RangeError);
});

Deno.test("deriveSeed() gives each child its own seed", () => {
  const seeds = new Set(Array.from({ length: 10 }, (_, i) => deriveSeed(7, i)));
  assert.equal(seeds.size, 10);
  assert.equal(deriveSeed(7, 3), deriveSeed(7, 3));
});

Deno.test("backoffDelay() grows exponentially up to the cap, with full jitter", () => {
  const top = () => 0.999999;
  assert.equal(backoffDelay(0, top), 99);
  assert.equal(backoffDelay(1, top), 199);
  assert.equal(backoffDelay(3, top), 799);
  assert.equal(backoffDelay(10, top), 4999);
  assert.equal(backoffDelay(1000, top), 4999);
  assert.equal(backoffDelay(5, () => 0), 0);
  assert.equal(backoffDelay(2, () => 0.5, { base: 10, cap: 1000 }), 20);
  assert.throws(() => backoffDelay(-1, top), RangeError);
});
