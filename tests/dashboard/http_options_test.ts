import assert from "node:assert/strict";
import { HTTP_DEFAULTS, httpLimits } from "../../lib/dashboard/http_options.ts";

Deno.test("httpLimits() applies the defaults to the limits not given", () => {
  assert.deepEqual(httpLimits(), HTTP_DEFAULTS);
  assert.deepEqual(httpLimits({ maxConnections: 5 }), { ...HTTP_DEFAULTS, maxConnections: 5 });
});

Deno.test("httpLimits() refuses a limit that is not a positive integer", () => {
  for (const options of [{ maxStreams: 0 }, { headerTimeout: 1.5 }, { probeInterval: -1 }]) {
    assert.throws(() => httpLimits(options), {
      name: "RangeError",
      message: /^Cannot start the HTTP server: \w+ must be a positive integer, got /,
    });
  }
});
