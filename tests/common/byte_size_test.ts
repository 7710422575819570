import assert from "node:assert/strict";
import fc from "fast-check";
import { formatByteSize, parseByteSize } from "../../lib/common/byte_size.ts";

Deno.test("parseByteSize() reads bytes, k, M and G as powers of 1024, and off as 0", () => {
  assert.equal(parseByteSize("512"), 512);
  assert.equal(parseByteSize("64k"), 65536);
  assert.equal(parseByteSize("1M"), 1 << 20);
  assert.equal(parseByteSize("1G"), 2 ** 30);
  assert.equal(parseByteSize("off"), 0);
  for (const bad of ["", "0", "1.5M", "1T", "-1", "1 M", "M"]) assert.throws(() => parseByteSize(bad), RangeError, bad);
});

Deno.test("formatByteSize() gives a text parseByteSize() reads back as the same size", () => {
  fc.assert(fc.property(fc.nat({ max: 2 ** 40 }), (bytes) => {
    assert.equal(parseByteSize(formatByteSize(bytes)), bytes);
  }));
});
