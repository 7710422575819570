import assert from "node:assert/strict";
import { isRetryable, rejectionReason } from "../../lib/protocol/replies.ts";

Deno.test("isRetryable() retries a storage error and a full primary, nothing that the same line would get again", () => {
  assert.ok(isRetryable("storage error"));
  assert.ok(isRetryable("too many connections"));
  for (const reason of ["out of order", "bad token", "authentication required", "likes above maximum", "whatever"]) {
    assert.equal(isRetryable(reason), false, reason);
  }
});

Deno.test("rejectionReason() reads the reason of a 1 reply only", () => {
  assert.equal(rejectionReason("1 storage error"), "storage error");
  assert.equal(rejectionReason("0 duplicate"), undefined);
  assert.equal(rejectionReason("1"), undefined);
});
