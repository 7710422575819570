import assert from "node:assert/strict";
import { isLoopbackAddress, primaryDefaults, primarySpecs } from "../../lib/primary/options.ts";
import { primaryIdOf } from "../../lib/primary/backend/open.ts";
import { parseFlags, toFlags, UsageError } from "../../lib/common/cli.ts";

Deno.test("isLoopbackAddress() takes 127.0.0.0/8 and ::1 only, whatever a name looked like", () => {
  for (const address of ["127.0.0.1", "127.255.0.9", "::1", "[::1]", "::ffff:127.0.0.1"]) {
    assert.ok(isLoopbackAddress(address), address);
  }
  for (const address of ["0.0.0.0", "192.0.2.2", "10.127.0.1", "::", "fe80::1", "127.lan", "::ffff:10.0.0.1"]) {
    assert.equal(isLoopbackAddress(address), false, address);
  }
});

Deno.test("--store takes embedded or redis://HOST:PORT[/DB], and refuses anything else", () => {
  const store = (text: string) => parseFlags([`--store=${text}`], primarySpecs, primaryDefaults)!.store;
  assert.equal(parseFlags([], primarySpecs, primaryDefaults)!.store, "embedded");
  assert.equal(store("embedded"), "embedded");
  assert.equal(store("redis://127.0.0.1:6379/2"), "redis://127.0.0.1:6379/2");
  for (const bad of ["redis://127.0.0.1", "http://h:1", "sqlite", ""]) {
    assert.throws(() => store(bad), UsageError, bad);
  }
});

Deno.test("--primary-id defaults to the likes address and is required with --port 0", () => {
  assert.equal(primaryIdOf({ host: "127.0.0.1", port: 4242, primaryId: undefined }), "127.0.0.1:4242");
  assert.equal(primaryIdOf({ host: "127.0.0.1", port: 0, primaryId: "east-1" }), "east-1");
  assert.throws(() => primaryIdOf({ host: "127.0.0.1", port: 0, primaryId: undefined }), /needs --primary-id/);
  for (const bad of ["", "a b", "é", "x".repeat(129)]) {
    assert.throws(() => parseFlags([`--primary-id=${bad}`], primarySpecs, primaryDefaults), UsageError, bad);
  }
});

Deno.test("the Redis flags read back through toFlags()", () => {
  const options = {
    ...primaryDefaults,
    store: "redis://[::1]:7000",
    primaryId: "p-1",
    allowVolatileStore: true,
    redisTimeout: 250,
    redisLease: 3000,
    redisInFlight: 4,
  };
  assert.deepEqual(parseFlags(toFlags(primarySpecs, options), primarySpecs, primaryDefaults), options);
});
