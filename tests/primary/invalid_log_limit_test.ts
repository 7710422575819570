import assert from "node:assert/strict";
import { InvalidLogLimit } from "../../lib/primary/invalid_log_limit.ts";

Deno.test("InvalidLogLimit logs the first N invalid messages of an address each second and summarises the rest", () => {
  const limit = new InvalidLogLimit(3);
  const admitted = Array.from({ length: 10 }, (_, i) => limit.admit("10.0.0.1", 100 + i));
  assert.deepEqual(admitted, [true, true, true, false, false, false, false, false, false, false]);
  // Another address has its own allowance.
  assert.equal(limit.admit("10.0.0.2", 5), true);
  assert.deepEqual(limit.flush(), [{
    kind: "unlogged",
    from: "10.0.0.1",
    count: 7,
    bytes: 103 + 104 + 105 + 106 + 107 + 108 + 109,
  }]);
  // A new second, a new allowance; nothing left to summarise.
  assert.equal(limit.admit("10.0.0.1", 1), true);
  assert.deepEqual(limit.flush(), []);
  assert.equal(limit.tracked, 0);
});

Deno.test("InvalidLogLimit of 0 logs nothing and summarises everything", () => {
  const limit = new InvalidLogLimit(0);
  assert.equal(limit.admit("::1", 7), false);
  assert.deepEqual(limit.flush(), [{ kind: "unlogged", from: "::1", count: 1, bytes: 7 }]);
});

Deno.test("InvalidLogLimit rejects a rate that is not a non-negative integer", () => {
  for (const rate of [-1, 1.5, NaN]) {
    assert.throws(() => new InvalidLogLimit(rate), RangeError);
  }
});
