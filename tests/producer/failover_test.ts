import assert from "node:assert/strict";
import fc from "fast-check";
import { Failover, formatPrimary, parsePrimaries, type PrimaryAddress } from "../../lib/producer/failover.ts";

Deno.test("parsePrimaries() reads host:port lists, IPv6 in brackets", () => {
  assert.deepEqual(parsePrimaries("127.0.0.1:4242,[::1]:4243, likes.example:7"), [
    { host: "127.0.0.1", port: 4242 },
    { host: "::1", port: 4243 },
    { host: "likes.example", port: 7 },
  ]);
  assert.deepEqual(parsePrimaries("localhost:1"), [{ host: "localhost", port: 1 }]);
});

Deno.test("parsePrimaries() refuses empty lists and entries, bad ports, bare IPv6 and repeats, saying why", () => {
  const cases: [string, RegExp][] = [
    ["", /empty list/],
    ["a:1,", /Expected HOST:PORT, got ""/],
    ["a", /Expected HOST:PORT, got "a"/],
    [":1", /Expected HOST:PORT/],
    ["a:0", /0 is outside 1\.\.65535/],
    ["a:65536", /outside 1\.\.65535/],
    ["a:x", /Not an integer: "x"/],
    ["::1:4242", /IPv6 addresses go in brackets/],
    ["[a]:1", /Brackets are for IPv6/],
    ["a b:1", /Not a host name/],
    ["a:1,a:1", /a:1 is listed twice/],
    ["[::1]:1,[::1]:1", /\[::1\]:1 is listed twice/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parsePrimaries(text), (error) => {
      assert.ok(error instanceof RangeError, text);
      assert.match(error.message, /^Invalid --primaries/, text);
      assert.match(error.message, message, text);
      return true;
    });
  }
});

Deno.test("formatPrimary() writes what parsePrimaries() reads", () => {
  const text = "127.0.0.1:4242,[::1]:4243";
  assert.equal(parsePrimaries(text).map(formatPrimary).join(","), text);
});

const primaries = (count: number): PrimaryAddress[] =>
  Array.from({ length: count }, (_, i) => ({ host: "127.0.0.1", port: 4000 + i }));

Deno.test("Failover spreads LikesServers over the primaries by id", () => {
  const list = primaries(3);
  assert.deepEqual([0, 1, 2, 3, 4].map((id) => new Failover(list, id).current.port), [4000, 4001, 4002, 4000, 4001]);
});

Deno.test("Failover moves to the next primary on failure, wrapping around", () => {
  const failover = new Failover(primaries(3), 2);
  assert.deepEqual([failover.next(), failover.next(), failover.next()].map((p) => p.port), [4000, 4001, 4002]);
  const alone = new Failover(primaries(1), 5);
  assert.equal(alone.next().port, 4000);
});

Deno.test("Failover refuses no primaries and a bad LikesServer id", () => {
  assert.throws(() => new Failover([], 0), /no primaries given/);
  assert.throws(() => new Failover(primaries(2), -1), RangeError);
  assert.throws(() => new Failover(primaries(2), 1.5), RangeError);
});

Deno.test("Failover tries every primary before any twice, from any start", () => {
  fc.assert(fc.property(fc.integer({ min: 1, max: 20 }), fc.nat({ max: 9999 }), (count, id) => {
    const failover = new Failover(primaries(count), id);
    const tried = [failover.current.port];
    for (let i = 1; i < count; i++) tried.push(failover.next().port);
    assert.equal(new Set(tried).size, count);
    // And then it starts the same round again.
    assert.equal(failover.next().port, tried[0]);
  }));
});
