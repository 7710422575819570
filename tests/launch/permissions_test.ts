import assert from "node:assert/strict";
import {
  auditGrants,
  benchGrants,
  demoGrants,
  launchArgs,
  likesServerGrants,
  netAddress,
  parentGrants,
  permissionFlags,
  primaryGrants,
  taskCommand,
} from "../../lib/launch/permissions.ts";
import { DEFAULT_WORK_DIR } from "../../lib/bench/run.ts";
import { primaryDefaults } from "../../lib/primary/options.ts";
import { parentDefaults } from "../../lib/supervisor/options.ts";
import { auditDefaults } from "../../lib/tools/audit_options.ts";
import { tempDir } from "../support/temp.ts";
import { GRANTED_ROTATED_NAMES } from "../../lib/formats/file_names.ts";

const config = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
const tasks: Record<string, string> = config.tasks;

/** A grant is over-broad when it has no list of what it allows. */
function broadGrants(command: string): string[] {
  return command.split(/\s+/).filter((word) =>
    /^(-A|--allow-all|--allow-(net|read|write|run|env|ffi|sys|import))$/.test(word) ||
    /^--allow-(read|write)=(\/|\.|~|\/tmp\/?)(,|$)/.test(word)
  );
}

Deno.test("no task but test grants all permissions or an unscoped one", () => {
  for (const [name, command] of Object.entries(tasks)) {
    if (name === "test") continue;
    assert.deepEqual(broadGrants(command), [], `task ${name}: ${command}`);
  }
});

Deno.test("broadGrants() catches the grants that would leak", () => {
  assert.deepEqual(broadGrants("deno run -A x.ts"), ["-A"]);
  assert.deepEqual(broadGrants("deno run --allow-net x.ts"), ["--allow-net"]);
  assert.deepEqual(broadGrants("deno run --allow-write=/tmp x.ts"), ["--allow-write=/tmp"]);
  assert.deepEqual(broadGrants("deno run --allow-read=/tmp/a,/ x.ts"), []);
});

Deno.test("the primary, parent, demo, demo:redis, audit and bench tasks are the computed least-privilege commands", () => {
  assert.equal(tasks.primary, taskCommand("primary.ts", primaryGrants(primaryDefaults)));
  assert.equal(tasks.parent, taskCommand("parent.ts", parentGrants(parentDefaults)));
  assert.equal(tasks.demo, taskCommand("demo.ts", demoGrants({ http: primaryDefaults.http, logDir: "/tmp" })));
  assert.equal(
    tasks["demo:redis"],
    taskCommand("demo.ts", demoGrants({ http: primaryDefaults.http, logDir: "/tmp", redis: true }), ["--redis"]),
  );
  assert.equal(tasks.audit, taskCommand("audit.ts", auditGrants(auditDefaults)));
  assert.equal(tasks.bench, taskCommand("bench.ts", benchGrants({ workDir: DEFAULT_WORK_DIR })));
});

Deno.test("benchGrants() reaches only 127.0.0.1, reads and writes only its work dir, runs deno, redis-server, cc and its own built client", () => {
  const flags = permissionFlags(benchGrants({ workDir: "/srv/bench" }));
  assert.deepEqual(flags, [
    "--allow-net=127.0.0.1",
    "--allow-read=/srv/bench",
    "--allow-write=/srv/bench",
    "--allow-sys=cpus,osRelease",
    "--allow-run=deno,redis-server,cc,/srv/bench/load_client",
  ]);
  assert.deepEqual(broadGrants(flags.join(" ")), []);
});

Deno.test("primaryGrants() on ephemeral ports for both sides is one net grant", () => {
  const grants = primaryGrants({ host: "127.0.0.1", port: 0, http: "127.0.0.1:0", log: "/w/log", state: "/w/db" });
  assert.deepEqual(grants.net, ["127.0.0.1:0"]);
});

Deno.test("primaryGrants() on Redis adds net to exactly the Redis address, and no state file", () => {
  const flags = { ...primaryDefaults, port: 5000, http: "off", log: "/srv/log", state: "/srv/db", logKeep: 0 };
  assert.deepEqual(permissionFlags(primaryGrants({ ...flags, store: "redis://10.0.0.7:6380/2" })), [
    "--allow-net=127.0.0.1:5000,10.0.0.7:6380",
    "--allow-read=/srv/log,/srv/log.1",
    "--allow-write=/srv/log,/srv/log.1",
    "--allow-env=LIKES_TOKEN",
  ]);
  assert.deepEqual(primaryGrants({ ...flags, store: "redis://[::1]:6379" }).net, ["127.0.0.1:5000", "[::1]:6379"]);
  assert.deepEqual(primaryGrants({ ...flags, store: "embedded" }), primaryGrants(flags));
});

Deno.test("primaryGrants() allows exactly its addresses and files, with the rotated files --log-keep allows", () => {
  const flags = { ...primaryDefaults, port: 5000, http: "off", log: "/srv/log", state: "/var/db", logKeep: 2 };
  assert.deepEqual(permissionFlags(primaryGrants(flags)), [
    "--allow-net=127.0.0.1:5000",
    "--allow-read=/srv/log,/srv/log.1,/srv/log.2,/srv/log.3,/var/db",
    "--allow-write=/srv/log,/srv/log.1,/srv/log.2,/srv/log.3,/var/db",
    "--allow-env=LIKES_TOKEN",
  ]);
});

Deno.test("primaryGrants() with every rotated file kept grants a bounded set of rotated names, never the directory", () => {
  const flags = { ...primaryDefaults, port: 5000, http: "off", log: "/tmp/log", state: "/tmp/db" };
  const write = primaryGrants(flags).write!;
  assert.equal(write.length, 2 + GRANTED_ROTATED_NAMES);
  assert.deepEqual(write.slice(0, 3), ["/tmp/log", "/tmp/log.1", "/tmp/log.2"]);
  assert.ok(!write.includes("/tmp"));
});

Deno.test("a LikesServer may reach only the primary and write only its own log", () => {
  const flags = permissionFlags(likesServerGrants(7, { host: "::1", port: 4242, logDir: "/var/likes" }));
  assert.deepEqual(flags, [
    "--allow-net=[::1]:4242",
    "--allow-read=/var/likes/LikesServer7",
    "--allow-write=/var/likes/LikesServer7",
    "--allow-env=LIKES_TOKEN",
  ]);
  assert.equal(netAddress("127.0.0.1", 1), "127.0.0.1:1");
});

Deno.test("a LikesServer given --primaries may reach every listed primary, and not --host/--port", () => {
  const grants = likesServerGrants(3, {
    host: "127.0.0.1",
    port: 4242,
    primaries: [{ host: "127.0.0.1", port: 5001 }, { host: "::1", port: 5002 }],
    logDir: "/d",
  });
  assert.deepEqual(grants.net, ["127.0.0.1:5001", "[::1]:5002"]);
});

Deno.test("auditGrants() reads every listed primary log and its rotated files, and reaches the Redis only when given", () => {
  const grants = auditGrants({ logDir: "/d", servers: 1, primaryLog: ["/a/Log", "/b/Log"] });
  assert.deepEqual(grants.read!.filter((path) => !/\.\d+$/.test(path)), ["/a/Log", "/b/Log", "/d/LikesServer0"]);
  assert.ok(grants.read!.includes("/a/Log.1") && grants.read!.includes(`/b/Log.${GRANTED_ROTATED_NAMES}`));
  const withStore = auditGrants({ logDir: "/d", servers: 0, store: { host: "::1", port: 6379 } });
  assert.deepEqual(withStore.net, ["[::1]:6379"]);
});

Deno.test("launchArgs() pins the project config and uses absolute script paths", () => {
  const args = launchArgs("likes_server.ts", likesServerGrants(0, { host: "127.0.0.1", port: 1, logDir: "/d" }), [
    "--id",
    "0",
  ]);
  assert.equal(args[0], "run");
  assert.match(args.find((a) => a.startsWith("--config="))!, /\/deno\.json$/);
  assert.ok(args.some((a) => a.endsWith("/likes_server.ts") && a.startsWith("/")));
  assert.deepEqual(args.slice(-2), ["--id", "0"]);
  assert.deepEqual(broadGrants(args.join(" ")), []);
  assert.deepEqual(broadGrants(launchArgs("primary.ts", "all").join(" ")), ["-A"]);
});

Deno.test("a LikesServer without permission to reach the primary fails with exit 1", async () => {
  const dir = await tempDir();
  const args = launchArgs(
    "likes_server.ts",
    likesServerGrants(1, { host: "127.0.0.1", port: 1, logDir: dir }),
    [
      "--id",
      "1",
      "--port",
      "2",
      "--log-dir",
      dir,
      "--duration",
      "1s",
      "--min-interval",
      "1ms",
      "--max-interval",
      "1ms",
    ],
  );
  const out = await new Deno.Command(Deno.execPath(), { args, stdout: "null", stderr: "piped" }).output();
  assert.equal(out.code, 1);
  assert.match(new TextDecoder().decode(out.stderr), /Requires net access to "127\.0\.0\.1:2"|NotCapable/);
});
