import assert from "node:assert/strict";
import { DEFAULT_MATRIX, formatMatrix, parseMatrix } from "../../lib/bench/run.ts";

Deno.test("parseMatrix() reads connections × pipeline cells separated by commas", () => {
  assert.deepEqual(parseMatrix("1x1, 10×16,50x32"), [
    { connections: 1, pipeline: 1 },
    { connections: 10, pipeline: 16 },
    { connections: 50, pipeline: 32 },
  ]);
  assert.deepEqual(parseMatrix("none"), []);
});

Deno.test("parseMatrix() refuses cells that are not two positive integers", () => {
  for (const text of ["", "10", "0x1", "1x0", "1x1,", "axb", "1x1x1", "-1x2"]) {
    assert.throws(() => parseMatrix(text), RangeError, text);
  }
});

Deno.test("formatMatrix() writes what parseMatrix() reads, and the default is the issue's matrix", () => {
  assert.equal(formatMatrix(DEFAULT_MATRIX), "1x1,10x1,50x1,10x16,50x32");
  assert.deepEqual(parseMatrix(formatMatrix(DEFAULT_MATRIX)), DEFAULT_MATRIX);
  assert.equal(formatMatrix([]), "none");
});
