import assert from "node:assert/strict";
import { isLoopbackAddress } from "../../lib/primary/options.ts";

Deno.test("isLoopbackAddress() takes 127.0.0.0/8 and ::1 only, whatever a name looked like", () => {
  for (const address of ["127.0.0.1", "127.255.0.9", "::1", "[::1]", "::ffff:127.0.0.1"]) {
    assert.ok(isLoopbackAddress(address), address);
  }
  for (const address of ["0.0.0.0", "192.0.2.2", "10.127.0.1", "::", "fe80::1", "127.lan", "::ffff:10.0.0.1"]) {
    assert.equal(isLoopbackAddress(address), false, address);
  }
});
