import assert from "node:assert/strict";
import { parseFlags } from "../../lib/common/cli.ts";
import { likesServerDefaults, likesServerSpecs } from "../../lib/producer/options.ts";
import {
  childFlags,
  hangDeadline,
  parentDefaults,
  parentFlags,
  parentSpecs,
  silenceLimit,
} from "../../lib/supervisor/options.ts";

Deno.test("childFlags() gives a LikesServer every setting of the parent, which it parses back unchanged", () => {
  const parent = parseFlags(
    [
      ...["--servers", "3", "--stagger", "50ms", "--duration", "90s", "--min-interval", "20ms"],
      ...["--max-interval", "1.5s", "--max-likes", "7", "--host", "::1", "--port", "5000", "--log-dir", "/var/x"],
      ...["--retry-for", "2m", "--reply-timeout", "250ms"],
    ],
    parentSpecs,
    parentDefaults,
  )!;
  const child = parseFlags(childFlags(2, parent, 1234), likesServerSpecs, likesServerDefaults)!;
  const { servers: _servers, stagger: _stagger, hangGrace: _hangGrace, ...passedOn } = parent;
  // --parent-pipe: the child stops when the parent, which holds its stdin, is gone.
  assert.deepEqual(child, { ...passedOn, id: 2, seed: 1234, parentPipe: true });
});

Deno.test("childFlags() passes --primaries on to a LikesServer, which parses it back unchanged", () => {
  const parent = parseFlags(["--primaries", "127.0.0.1:4242,[::1]:5000,h.example:7"], parentSpecs, parentDefaults)!;
  const flags = childFlags(1, parent, undefined);
  assert.ok(flags.includes("--primaries=127.0.0.1:4242,[::1]:5000,h.example:7"), flags.join(" "));
  const child = parseFlags(flags, likesServerSpecs, likesServerDefaults)!;
  assert.deepEqual(child.primaries, [
    { host: "127.0.0.1", port: 4242 },
    { host: "::1", port: 5000 },
    { host: "h.example", port: 7 },
  ]);
  assert.ok(!childFlags(1, parentDefaults, undefined).some((flag) => flag.startsWith("--primaries")));
});

Deno.test("childFlags() passes --reply-quiet and --connect-per-message on to a LikesServer, which parses them back", () => {
  const parent = parseFlags(["--reply-quiet", "20ms", "--connect-per-message"], parentSpecs, parentDefaults)!;
  const flags = childFlags(3, parent, undefined);
  assert.ok(flags.includes("--reply-quiet=20ms") && flags.includes("--connect-per-message"), flags.join(" "));
  const child = parseFlags(flags, likesServerSpecs, likesServerDefaults)!;
  assert.equal(child.replyQuiet, 20);
  assert.equal(child.connectPerMessage, true);
  const byDefault = parseFlags(childFlags(3, parentDefaults, undefined), likesServerSpecs, likesServerDefaults)!;
  assert.equal(byDefault.replyQuiet, 50);
  assert.equal(byDefault.connectPerMessage, false);
});

Deno.test("childFlags() leaves out the seed when the parent has none", () => {
  const flags = childFlags(0, parentDefaults, undefined);
  assert.ok(!flags.some((flag) => flag.startsWith("--seed")), flags.join(" "));
  assert.equal(flags[0], "--id=0");
  const child = parseFlags(flags, likesServerSpecs, likesServerDefaults)!;
  assert.equal(child.duration, 300_000);
  assert.equal(child.seed, undefined);
});

Deno.test("parentFlags() starts a parent with the same options it was given", () => {
  const options = { ...parentDefaults, servers: 4, stagger: 250, duration: 20_000, seed: 9, hangGrace: 1500 };
  assert.deepEqual(parseFlags(parentFlags(options), parentSpecs, parentDefaults), options);
});

Deno.test("hangDeadline() is duration plus retry budget plus grace, the grace at least twice the reply timeout", () => {
  const base = { duration: 10_000, retryFor: 5000, replyTimeout: 1000 };
  assert.equal(hangDeadline({ ...base, hangGrace: 3000 }), 18_000);
  assert.equal(hangDeadline({ ...base, hangGrace: 500 }), 17_000);
});

Deno.test("silenceLimit() is the hang grace, never less than two heartbeats", () => {
  assert.equal(silenceLimit(parentDefaults), 30_000);
  assert.equal(silenceLimit({ hangGrace: 1000, heartbeat: 100 }), 1000);
  assert.equal(silenceLimit({ hangGrace: 1000, heartbeat: 800 }), 1600);
});

Deno.test("the parent passes --heartbeat on to every LikesServer", () => {
  const flags = childFlags(3, { ...parentDefaults, heartbeat: 250 }, undefined);
  assert.equal(parseFlags(flags, likesServerSpecs, likesServerDefaults)?.heartbeat, 250);
});
