import assert from "node:assert/strict";
import {
  DEFAULT_LOG_DIR,
  DEFAULT_PRIMARY_LOG,
  DEFAULT_PRIMARY_STATE,
  likesServerLogPath,
  primaryLogPath,
  primaryStatePath,
  statusLogPath,
} from "../../lib/formats/file_names.ts";

Deno.test("file names are the mission's: PrimaryLikesLog, ParentProcessStatus and LikesServer<N> in /tmp", () => {
  assert.equal(DEFAULT_LOG_DIR, "/tmp");
  assert.equal(DEFAULT_PRIMARY_LOG, "/tmp/PrimaryLikesLog");
  assert.equal(DEFAULT_PRIMARY_STATE, "/tmp/PrimaryLikes.db");
  assert.equal(statusLogPath("/var/likes"), "/var/likes/ParentProcessStatus");
  assert.equal(likesServerLogPath("/var/likes", 7), "/var/likes/LikesServer7");
});

Deno.test("file names of one of several primaries carry its number", () => {
  assert.equal(primaryLogPath("/d", 0), "/d/PrimaryLikesLog0");
  assert.equal(primaryStatePath("/d", 3), "/d/PrimaryLikes3.db");
  assert.throws(() => primaryLogPath("/d", -1), { name: "RangeError", message: /^Not a primary instance number/ });
});

Deno.test("likesServerLogPath() refuses an id that names no LikesServer", () => {
  assert.throws(() => likesServerLogPath("/d", 10_000), { name: "RangeError", message: /^Not a LikesServer id/ });
});
