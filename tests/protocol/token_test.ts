import assert from "node:assert/strict";
import { authorizationToken, tokenCheck } from "../../lib/protocol/token.ts";

Deno.test("tokenCheck() accepts exactly the token, as text or bytes", () => {
  const matches = tokenCheck("s3cret");
  assert.equal(matches("s3cret"), true);
  assert.equal(matches(new TextEncoder().encode("s3cret")), true);
  for (const wrong of ["", "s3cre", "s3cret ", "S3cret"]) assert.equal(matches(wrong), false, wrong);
});

Deno.test("authorizationToken() reads a Bearer token and a Basic password, and nothing else", () => {
  assert.equal(authorizationToken("Bearer abc"), "abc");
  assert.equal(authorizationToken("bearer  abc "), "abc");
  assert.equal(authorizationToken(`Basic ${btoa("user:pa:ss")}`), "pa:ss");
  for (const header of [null, "", "Bearer", "Digest abc", `Basic ${btoa("nocolon")}`, "Basic !!!"]) {
    assert.equal(authorizationToken(header), undefined, String(header));
  }
});
