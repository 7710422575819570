/**
 * Regression tests for the faults of issue 11 found in adversarial testing:
 * each runs the real programs and fails on the code as it stood before.
 */
import assert from "node:assert/strict";
import { audit } from "../../lib/tools/audit.ts";
import { startPrimary } from "../support/primary.ts";
import { freePort, spawnParent, untilAcked } from "../support/parent.ts";
import { isRunning, spawnLikesServer } from "../support/likes_server.ts";
import { tempDir } from "../support/temp.ts";
import { likesServerEntries, statusEntries, untilEntry } from "../support/logs.ts";
import type { LikesServerLogEntry } from "../../lib/formats/likes_server_log.ts";

const connectError = (e: LikesServerLogEntry) => e.kind === "send error" && e.phase === "connect";
import { exchange, readReplies, untilClosed } from "../support/client.ts";
import { fill, withTmpfs } from "../support/tmpfs.ts";
import { Requirement, requirement } from "../support/requirements.ts";

const FAST = ["--min-interval", "10ms", "--max-interval", "40ms"];

async function waitUntil(what: string, condition: () => boolean, deadline = 15_000): Promise<void> {
  const end = Date.now() + deadline;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Rejects when `promise` has not settled within `ms`. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout>;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms}ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const ROOT = await requirement("root");

ROOT.test({
  name: "a LikesServer retries a like answered 1 storage error, and it is counted once the disk has room",
  fn: () =>
    withTmpfs("256k", async (disk) => {
      const dir = await tempDir();
      const primary = await startPrimary({ dir, args: ["--http", "off", "--log", `${disk}/PrimaryLikesLog`] });
      try {
        const filler = await fill(disk);
        const { done } = spawnLikesServer([
          ...["--id", "0", "--port", String(primary.port), "--log-dir", dir, "--duration", "1500ms"],
          ...["--retry-for", "60s", "--max-likes", "5", ...FAST],
        ]);
        await untilEntry(
          `${dir}/LikesServer0`,
          likesServerEntries,
          (e) => e.kind === "send error" && e.phase === "reply" && e.message.includes('answered "1 storage error"'),
        );
        await Deno.remove(filler);
        const run = await within(60_000, "the LikesServer's end", done);
        assert.equal(run.code, 0, run.stderr);
        const entries = likesServerEntries(await Deno.readTextFile(`${dir}/LikesServer0`));
        assert.ok(entries.some((e) => e.kind === "send error" && /^retrying in \d+ms$/.test(e.next)));
        assert.ok(!entries.some((e) => e.kind === "unacknowledged"));
      } finally {
        await primary.stop();
      }
      const report = await audit(dir, 1, `${disk}/PrimaryLikesLog`);
      assert.ok(report.ok, JSON.stringify(report));
    }),
});

Deno.test("a LikesServer stopped by a signal while its like is unacknowledged exits 1", async () => {
  const dir = await tempDir();
  const { process, done } = spawnLikesServer([
    ...["--id", "0", "--port", String(freePort()), "--log-dir", dir, "--retry-for", "60s", ...FAST],
  ]);
  await untilEntry(`${dir}/LikesServer0`, likesServerEntries, connectError);
  process.kill("SIGTERM");
  const run = await within(30_000, "the LikesServer's end", done);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /gave up on message seq=1: stopped while failing/);
  const unacknowledged = likesServerEntries(await Deno.readTextFile(`${dir}/LikesServer0`))
    .filter((e) => e.kind === "unacknowledged");
  assert.deepEqual(unacknowledged.map((e) => [e.seq, e.reason]), [[1, {
    kind: "abandoned",
    why: "stopped while failing",
  }]]);
});

Deno.test("a LikesServer stopped by a signal with every like acknowledged exits 0", async () => {
  const primary = await startPrimary({ args: ["--http", "off"] });
  try {
    const { process, done } = spawnLikesServer(["--id", "0", "--port", String(primary.port), "--log-dir", primary.dir]);
    // At the default 1-5 s interval the signal nearly always falls between two sends.
    await untilAcked(primary.dir, 0);
    process.kill("SIGTERM");
    const run = await within(30_000, "the LikesServer's end", done);
    assert.equal(run.code, 0, run.stderr);
  } finally {
    await primary.stop();
  }
});

Deno.test("the parent reports as failed a LikesServer stopped while holding an unacknowledged like", async () => {
  const dir = await tempDir();
  const { process, done } = spawnParent(dir, [
    ...["--port", String(freePort()), "--servers", "2", "--stagger", "10ms", "--retry-for", "60s", ...FAST],
  ]);
  // Both hold a like they could not deliver when the stop comes.
  for (const id of [0, 1]) await untilEntry(`${dir}/LikesServer${id}`, likesServerEntries, connectError);
  process.kill("SIGTERM");
  const run = await within(30_000, "the parent's end", done);
  assert.equal(run.code, 1, run.status);
  const entries = statusEntries(run.status);
  assert.ok(entries.some((e) => e.kind === "child ended" && e.server === 0 && e.code === 1 && !e.success && !e.hung));
  assert.ok(entries.some((e) => e.kind === "parent finished" && e.succeeded === 0 && e.launched === 2));
});

Deno.test("LikesServers stop on their own when their parent is killed with SIGKILL", async () => {
  const primary = await startPrimary({ args: ["--http", "off"] });
  try {
    const { process, done } = spawnParent(primary.dir, [
      ...["--port", String(primary.port), "--servers", "2", "--stagger", "10ms", "--duration", "5m", ...FAST],
    ]);
    await untilAcked(primary.dir, 1);
    const status = statusEntries(await Deno.readTextFile(`${primary.dir}/ParentProcessStatus`));
    const pids = status.flatMap((e) => e.kind === "child started" && e.server < 10 ? [e.pid] : []);
    assert.equal(pids.length, 2);
    process.kill("SIGKILL");
    await done;
    await waitUntil("the orphaned LikesServers to stop", () => !pids.some(isRunning), 20_000);
    for (const id of [0, 1]) {
      const log = likesServerEntries(await Deno.readTextFile(`${primary.dir}/LikesServer${id}`));
      assert.ok(log.some((e) => e.kind === "parent gone"), JSON.stringify(log));
      assert.ok(log.some((e) => e.kind === "ended" && e.how !== "finished"), JSON.stringify(log));
    }
  } finally {
    await primary.stop();
  }
  assert.ok((await audit(primary.dir, 2)).ok);
});

Deno.test("a LikesServer started by hand keeps running when its stdin ends", async () => {
  const primary = await startPrimary({ args: ["--http", "off"] });
  try {
    // Stdin a pipe closed at once: without --parent-pipe it means nothing.
    const { process, done } = spawnLikesServer(
      ["--id", "0", "--port", String(primary.port), "--log-dir", primary.dir, "--duration", "1500ms", ...FAST],
      { stdin: "piped" },
    );
    await process.stdin.close();
    const run = await within(30_000, "the LikesServer's end", done);
    assert.equal(run.code, 0, run.stderr);
    const log = likesServerEntries(await Deno.readTextFile(`${primary.dir}/LikesServer0`));
    assert.ok(log.some((e) => e.kind === "ended" && e.how === "finished"), JSON.stringify(log));
  } finally {
    await primary.stop();
  }
});

Deno.test("a LikesServer with --parent-pipe stops when its stdin ends", async () => {
  const primary = await startPrimary({ args: ["--http", "off"] });
  try {
    const { process, done } = spawnLikesServer(
      ["--id", "0", "--port", String(primary.port), "--log-dir", primary.dir, "--parent-pipe", ...FAST],
      { stdin: "piped" },
    );
    await untilAcked(primary.dir, 0);
    await process.stdin.close();
    const run = await within(30_000, "the LikesServer's end", done);
    assert.equal(run.code, 0, run.stderr);
    const log = likesServerEntries(await Deno.readTextFile(`${primary.dir}/LikesServer0`));
    assert.ok(log.some((e) => e.kind === "parent gone"), JSON.stringify(log));
  } finally {
    await primary.stop();
  }
});

Deno.test("a second LikesServer with the same id and log dir refuses to start and leaves the first one's log", async () => {
  const primary = await startPrimary({ args: ["--http", "off"] });
  try {
    const args = ["--id", "3", "--port", String(primary.port), "--log-dir", primary.dir, ...FAST];
    const first = spawnLikesServer([...args, "--duration", "5m"]);
    await untilAcked(primary.dir, 3);
    const second = await within(30_000, "the second LikesServer's end", spawnLikesServer(args).done);
    assert.notEqual(second.code, 0);
    assert.match(
      second.stderr,
      /^likes_server: Cannot open log .*LikesServer3: .* in use by another process \(is another LikesServer3 running\?\)\n$/,
    );
    const log = likesServerEntries(await Deno.readTextFile(`${primary.dir}/LikesServer3`));
    assert.ok(
      log.some((e) => e.kind === "acked" && e.server === 3 && e.seq === 1),
      "the first one's log was not truncated",
    );
    first.process.kill("SIGTERM");
    assert.equal((await first.done).code, 0);
  } finally {
    await primary.stop();
  }
});

Deno.test("the parent kills a LikesServer silent for --hang-grace long before its final deadline, and counts it failed", async () => {
  const primary = await startPrimary({ args: ["--http", "off"] });
  const dir = primary.dir;
  let pid = 0;
  try {
    // A final deadline a minute away: only the missing heartbeats can end this run in seconds.
    const { process, done } = spawnParent(dir, [
      ...["--port", String(primary.port), "--servers", "1", "--duration", "60s", "--retry-for", "500ms"],
      ...["--reply-timeout", "200ms", "--hang-grace", "1s", "--heartbeat", "100ms", ...FAST],
    ]);
    await untilAcked(dir, 0);
    const status = statusEntries(await Deno.readTextFile(`${dir}/ParentProcessStatus`));
    pid = status.flatMap((e) => e.kind === "child started" && e.server === 0 ? [e.pid] : [])[0];
    // Alive well past the grace while it runs: its heartbeats keep it so.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    assert.ok(isRunning(pid), "a LikesServer that beats is not hung");
    const stopped = Date.now();
    Deno.kill(pid, "SIGSTOP");
    const run = await within(20_000, "the parent's end", done).catch((error) => {
      process.kill("SIGKILL");
      throw error;
    });
    const noticed = Date.now() - stopped;
    assert.ok(noticed < 8000, `noticed ${noticed}ms after the stop, not within the grace`);
    assert.equal(run.code, 1, run.status);
    const entries = statusEntries(run.status);
    assert.ok(entries.some((e) => e.kind === "child hung" && e.server === 0 && e.silent && e.ms === 1000), run.status);
    assert.match(run.status, /LikesServer0 hung: no sign of life for 1s, killing it/);
    assert.ok(
      entries.some((e) => e.kind === "child ended" && e.server === 0 && e.signal === "SIGKILL" && !e.success && e.hung),
    );
    assert.ok(entries.some((e) => e.kind === "parent finished" && e.succeeded === 0 && e.launched === 1));
    assert.doesNotMatch(run.status, /heartbeat/i, "heartbeats are not recorded as errors");
  } finally {
    if (pid && isRunning(pid)) Deno.kill(pid, "SIGKILL");
    await primary.stop();
  }
});

Deno.test("a path with a comma, which no grant can name, is a usage error in every program", async () => {
  const dir = await tempDir();
  const comma = `${dir}/a,b`;
  await Deno.mkdir(comma);
  const quick = ["--port", String(freePort()), "--duration", "200ms", "--retry-for", "100ms", ...FAST];
  const parent = await within(30_000, "the parent's end", spawnParent(comma, quick).done);
  assert.equal(parent.code, 2, parent.stderr);
  assert.match(parent.stderr, /^parent: Invalid value for --log-dir: ".*a,b" contains a comma.*\n$/);
  const child = await spawnLikesServer(["--id", "0", "--log-dir", comma, ...quick]).done;
  assert.equal(child.code, 2, child.stderr);
  assert.match(child.stderr, /^likes_server: Invalid value for --log-dir: .*comma/);
  for (const flag of ["--log", "--state"]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../../primary.ts", import.meta.url).pathname, flag, `${comma}/x`, "--port", "0"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 2, flag);
    assert.match(new TextDecoder().decode(out.stderr), new RegExp(`^primary: Invalid value for ${flag}: .*comma`));
  }
  // The audit too, with its task's grants: a usage line, not a grant command that could never work.
  const audit = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      "--allow-read=/tmp/PrimaryLikesLog",
      new URL("../../audit.ts", import.meta.url).pathname,
      "--log-dir",
      comma,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const auditErr = new TextDecoder().decode(audit.stderr);
  assert.equal(audit.code, 2, auditErr);
  assert.match(auditErr, /^audit: Invalid value for --log-dir: ".*a,b" contains a comma.*\n$/);
  assert.doesNotMatch(auditErr + new TextDecoder().decode(audit.stdout), /--allow-read=/);
});

/** An IPv4 address of this machine off loopback, or undefined. */
function ownAddress(): string | undefined {
  return Deno.networkInterfaces().find((i) => i.family === "IPv4" && !i.address.startsWith("127."))?.address;
}

/** Runs `fn` with `/etc/hosts` naming `name` as `address`; the line is removed afterwards. */
async function withHostsEntry(name: string, address: string, fn: () => Promise<void>): Promise<void> {
  const line = `${address} ${name}`;
  await Deno.writeTextFile("/etc/hosts", `${line}\n`, { append: true });
  try {
    await fn();
  } finally {
    const hosts = await Deno.readTextFile("/etc/hosts");
    await Deno.writeTextFile("/etc/hosts", hosts.split("\n").filter((l) => l !== line).join("\n"));
  }
}

const offLoopback = ownAddress();
// Root edits /etc/hosts; the name must resolve somewhere off loopback.
const HOSTS = ROOT.missing === undefined && offLoopback === undefined
  ? new Requirement("hosts", "this machine has no address off loopback", {})
  : new Requirement("hosts", ROOT.missing, {});

HOSTS.test({
  name: "primary refuses a loopback-looking --host name that resolves off loopback, without a token",
  fn: async () => {
    const name = `127.likes-test-${Deno.pid}.lan`;
    await withHostsEntry(name, offLoopback!, async () => {
      const dir = await tempDir();
      await assert.rejects(
        startPrimary({ dir, args: ["--host", name, "--http", "off"], env: { LIKES_TOKEN: "" } }),
        new RegExp(
          `primary: Refusing to listen on ${name.replaceAll(".", "\\.")} \\(${offLoopback}\\) without a token`,
        ),
      );
      assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing opened");
    });
  },
});

HOSTS.test({
  name: "primary listens without a token on a name that resolves to loopback",
  fn: async () => {
    const name = `127.likes-loop-${Deno.pid}.lan`;
    await withHostsEntry(name, "127.0.0.1", async () => {
      const primary = await startPrimary({ args: ["--host", name, "--http", "off"], env: { LIKES_TOKEN: "" } });
      assert.match(primary.output(), /ready: likes on 127\.0\.0\.1:/);
      assert.equal((await primary.stop()).code, 0);
    });
  },
});

Deno.test("the dashboard answers 421 to a Host that is not this machine (DNS rebinding)", async () => {
  const primary = await startPrimary();
  try {
    const status = async (host: string) => {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: primary.httpPort });
      await conn.write(
        new TextEncoder().encode(`GET /api/stats HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
      );
      const [line] = await readReplies(conn, 1, 10_000);
      conn.close();
      return line;
    };
    assert.match(await status("rebound.example.com"), /^HTTP\/1\.1 421 /);
    assert.match(await status(`rebound.example.com:${primary.httpPort}`), /^HTTP\/1\.1 421 /);
    assert.match(await status(`127.0.0.1:${primary.httpPort}`), /^HTTP\/1\.1 200 /);
    assert.match(await status(`localhost:${primary.httpPort}`), /^HTTP\/1\.1 200 /);
  } finally {
    await primary.stop();
  }
});

/** Opens `n` TCP connections to `port`, one after another; a flood leaves out those refused. */
async function openConnections(port: number, n: number, flood = false): Promise<Deno.TcpConn[]> {
  const conns: Deno.TcpConn[] = [];
  for (let i = 0; i < n; i++) {
    try {
      conns.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    } catch (error) {
      if (!flood) throw error;
    }
  }
  return conns;
}

function closeAll(conns: Deno.Conn[]): void {
  for (const conn of conns) {
    try {
      conn.close();
    } catch { /* closed already */ }
  }
}

const encoder = new TextEncoder();

Deno.test("the dashboard closes 3,000 idle HTTP connections, an idle keep-alive one and a request whose headers dribble on, but not a live stream", async () => {
  const primary = await startPrimary({
    args: ["--http-header-timeout", "500ms", "--http-idle-timeout", "500ms", "--http-max-connections", "64"],
  });
  const conns: Deno.Conn[] = [];
  const stream = new AbortController();
  try {
    const events = await fetch(`http://127.0.0.1:${primary.httpPort}/events`, { signal: stream.signal });
    const reader = events.body!.pipeThrough(new TextDecoderStream()).getReader();
    let received = 0;
    const reading = (async () => {
      while (!(await reader.read()).done) received++;
    })().catch(() => {});

    const keepAlive = await Deno.connect({ hostname: "127.0.0.1", port: primary.httpPort });
    conns.push(keepAlive);
    await keepAlive.write(encoder.encode("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    const [status] = await readReplies(keepAlive, 1, 10_000);
    assert.match(status, /^HTTP\/1\.1 200 /);

    const slow = await Deno.connect({ hostname: "127.0.0.1", port: primary.httpPort });
    conns.push(slow);
    await slow.write(encoder.encode("GET /api/stats HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
    let dribbling = true;
    const dribble = (async () => {
      for (let i = 0; dribbling; i++) {
        await new Promise((r) => setTimeout(r, 100));
        await slow.write(encoder.encode(`x-slow-${i}: 1\r\n`));
      }
    })().catch(() => {});

    const idle = await openConnections(primary.httpPort, 3000);
    conns.push(...idle);
    const closed = await Promise.all(
      [keepAlive, slow, ...idle].map((conn) => untilClosed(conn, 30_000).then((r) => r.closed)),
    );
    dribbling = false;
    await dribble;
    assert.equal(closed.filter((c) => !c).length, 0, "every idle or slow connection was closed by the primary");

    // The live stream is long-lived by design: still open, still sending.
    const before = received;
    await waitUntil("another live update after the timeouts", () => received > before);
    stream.abort();
    await reading;
  } finally {
    stream.abort();
    closeAll(conns);
    await primary.stop();
  }
});

Deno.test("the dashboard closes connections beyond its cap at once and serves again when they go", async () => {
  const primary = await startPrimary({ args: ["--http-max-connections", "8", "--http-header-timeout", "60s"] });
  const held: Deno.Conn[] = [];
  try {
    held.push(...await openConnections(primary.httpPort, 8));
    const extra = await openConnections(primary.httpPort, 20);
    // Far sooner than the header timeout: closed for the cap.
    const closed = await Promise.all(extra.map((conn) => untilClosed(conn, 10_000).then((r) => r.closed)));
    assert.equal(closed.filter((c) => !c).length, 0, "every connection past the cap was closed at once");
    closeAll(held);
    const deadline = Date.now() + 15_000;
    let status = 0;
    while (status !== 200) {
      assert.ok(Date.now() < deadline, "the dashboard never served again");
      await new Promise((r) => setTimeout(r, 100));
      status = await fetch(`http://127.0.0.1:${primary.httpPort}/healthz`).then(
        async (r) => (await r.body?.cancel(), r.status),
        () => 0,
      );
    }
  } finally {
    closeAll(held);
    await primary.stop();
  }
});

Deno.test("the likes port still takes producers while HTTP connections flood a tight descriptor limit", async () => {
  const primary = await startPrimary({ args: ["--http-max-connections", "16"] });
  const flood: Deno.Conn[] = [];
  // Stops the flood, a connect waiting out a full accept queue included.
  const stopFlood = new AbortController();
  try {
    const limit = await new Deno.Command("prlimit", {
      args: ["--pid", String(primary.process.pid), "--nofile=128:128"],
      stderr: "piped",
    }).output();
    assert.ok(limit.success, `prlimit: ${new TextDecoder().decode(limit.stderr)}`);
    // Far more than the descriptors the primary may hold, all held open, and
    // more keep coming while producers connect.
    const flooder = (async () => {
      while (!stopFlood.signal.aborted && flood.length < 2000) {
        try {
          flood.push(await Deno.connect({ hostname: "127.0.0.1", port: primary.httpPort, signal: stopFlood.signal }));
        } catch {
          await new Promise((r) => setTimeout(r, 10));
        }
      }
    })();
    await waitUntil("the flood under way", () => flood.length >= 300);
    for (let i = 1; i <= 20; i++) {
      assert.deepEqual(await exchange(primary.port, `LikesServer${i} ${i}\n`, 1, 10_000), ["0"], `LikesServer${i}`);
    }
    stopFlood.abort();
    await flooder;
    // The likes port never ran out of descriptors to accept producers with.
    assert.doesNotMatch(primary.output(), /Accept failed/);
  } finally {
    stopFlood.abort();
    closeAll(flood);
    await primary.stop();
  }
});
