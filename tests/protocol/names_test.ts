import assert from "node:assert/strict";
import { likesServerName, MAX_SERVER_ID, parseLikesServerName } from "../../lib/protocol/names.ts";

Deno.test("likesServerName() builds LikesServer<N> and parseLikesServerName() reads it back", () => {
  for (const id of [0, 7, MAX_SERVER_ID]) {
    assert.equal(likesServerName(id), `LikesServer${id}`);
    assert.equal(parseLikesServerName(likesServerName(id)), id);
  }
});

Deno.test("likesServerName() rejects an id outside 0..MAX_SERVER_ID", () => {
  for (const id of [-1, 1.5, MAX_SERVER_ID + 1, NaN]) {
    assert.throws(() => likesServerName(id), { name: "RangeError", message: /^Not a LikesServer id/ });
  }
});

Deno.test("parseLikesServerName() refuses what is not exactly LikesServer<N> in range", () => {
  for (
    const name of ["LikesServer", "LikesServer01", "LikesServer-1", "likesserver1", `LikesServer${MAX_SERVER_ID + 1}`]
  ) {
    assert.equal(parseLikesServerName(name), undefined, name);
  }
});
