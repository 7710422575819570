import assert from "node:assert/strict";
import { startPrimary } from "./support/primary.ts";
import { exchange } from "./support/client.ts";

Deno.test("primary counts valid likes, rejects invalid ones and logs both", async () => {
  const primary = await startPrimary({ args: ["--http", "off"] });
  try {
    const replies = await exchange(primary.port, "LikesServer3 23\nLikesServer3 43\nhello\nLikesServer1 5\n", 4);
    assert.deepEqual(replies, ["0", "1 likes above maximum", "1 unknown message", "0"]);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const log = await Deno.readTextFile(primary.log);
  assert.match(log, / LikesServer3 23 Total 23\n/);
  assert.match(log, / Invalid data "LikesServer3 43" \(likes above maximum\)/);
  assert.match(log, / LikesServer1 5 Total 28\n/);
});
