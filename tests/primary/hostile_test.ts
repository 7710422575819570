/**
 * A live primary against hostile clients: connection limits, slowloris,
 * clients that never read, tokens, and attacks on its files. Loopback only;
 * every wait has a deadline; timings are printed, never asserted.
 */
import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { type PrimaryProcess, startPrimary } from "../support/primary.ts";
import { exchange, readReplies, untilClosed } from "../support/client.ts";
import { tempDir } from "../support/temp.ts";
import { abortable, closeQuietly, isTimeout, writeAll } from "../../lib/common/io.ts";
import { escapeBytes } from "../../lib/common/escape.ts";
import { eventually } from "../support/eventually.ts";
import { primaryEntries } from "../support/logs.ts";
import type { InvalidLine, PrimaryLogEntry } from "../../lib/formats/primary_log.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function invalidEntries(entries: PrimaryLogEntry[]): InvalidLine[] {
  return entries.filter((e): e is InvalidLine => e.kind === "invalid");
}

function connect(port: number): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname: "127.0.0.1", port });
}

function send(conn: Deno.Conn, data: string | Uint8Array): Promise<void> {
  return writeAll(conn, typeof data === "string" ? encoder.encode(data) : data);
}

async function stats(primary: PrimaryProcess): Promise<{ total: number; connectionsOpen: number }> {
  const response = await fetch(`http://127.0.0.1:${primary.httpPort}/api/stats`);
  return await response.json();
}

/** Rejects if `promise` has not settled within `ms`, so that a stuck server fails the test instead of hanging it. */
async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  try {
    return await abortable(promise, AbortSignal.timeout(ms));
  } catch (error) {
    throw isTimeout(error) ? new Error(`${what} did not finish within ${ms} ms`) : error;
  }
}

function percentiles(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))].toFixed(2);
  return `p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${sorted[sorted.length - 1].toFixed(2)} ms`;
}

/** Sends `count` likes one at a time on one connection; returns each round trip in ms. */
async function produce(port: number, count: number, line: string): Promise<number[]> {
  const conn = await connect(port);
  const latencies: number[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      await send(conn, line);
      assert.deepEqual(await readReplies(conn, 1), ["0"], `reply to message ${i}`);
      latencies.push(performance.now() - started);
    }
  } finally {
    conn.close();
  }
  return latencies;
}

function vmRssKb(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${pid}/status`));
  return match ? Number(match[1]) : NaN;
}

Deno.test("primary refuses connections beyond --max-connections with a reply, then serves again", async () => {
  const primary = await startPrimary({ flags: { maxConnections: 5, http: "off" } });
  const conns: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      const conn = await connect(primary.port);
      conns.push(conn);
      await send(conn, "LikesServer1 1\n");
      assert.deepEqual(await readReplies(conn, 1), ["0"]);
    }
    const sixth = await connect(primary.port);
    await send(sixth, "LikesServer1 40\n").catch(() => {});
    assert.deepEqual(await untilClosed(sixth), { text: "1 too many connections\n", closed: true });

    conns.shift()!.close();
    // The server notices the close asynchronously: until then it still refuses.
    let replies: string[] = [];
    await eventually("a free connection slot", async () => {
      replies = await exchange(primary.port, "LikesServer1 1\n", 1);
      if (replies[0] === "1 too many connections") return false;
      return true;
    });
    assert.deepEqual(replies, ["0"]);
  } finally {
    for (const conn of conns) conn.close();
    assert.equal((await primary.stop()).code, 0);
  }
  // Six likes of 1; the refused connection's 40 was never read.
  assert.deepEqual(primaryEntries(primary.log).at(-1), { kind: "stopped", signal: "SIGTERM", total: 6 });
});

Deno.test("a megabyte line is answered `1 line too long` and closes its connection; lines before it count", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  const long = new Uint8Array(1 << 20).fill(0x41);
  long.set([0x00, 0xff, 0x0d, 0x22, 0x5c], 10);
  try {
    const conn = await connect(primary.port);
    const writing = (async () => {
      await send(conn, "LikesServer1 1\nLikesServer1 2\r\n");
      await send(conn, long);
      await send(conn, "\nLikesServer1 40\n");
    })().catch(() => {/* the primary closed without reading the rest */});
    const { text, closed } = await untilClosed(conn);
    await writing;
    assert.deepEqual({ text, closed }, { text: "0\n0\n1 line too long\n", closed: true });
    assert.deepEqual(await exchange(primary.port, "LikesServer1 3\n", 1), ["0"]);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const entries = primaryEntries(primary.log);
  assert.deepEqual(entries.at(-1), { kind: "stopped", signal: "SIGTERM", total: 6 });
  // Only the start of the line is logged, escaped (so it parses back) within --max-logged-bytes,
  // with the bytes of it received: at least --max-line.
  const tooLong = invalidEntries(entries).filter((e) =>
    e.reason === "line too long" && e.from.startsWith("127.0.0.1:")
  );
  assert.equal(tooLong.length, 1, JSON.stringify(tooLong).slice(0, 300));
  const [{ data, length }] = tooLong;
  assert.ok(data !== undefined && data.length > 150 && escapeBytes(data).length - 2 <= 200, `${data?.length} bytes`);
  assert.deepEqual(data, long.subarray(0, data.length));
  assert.ok(length !== undefined && length > 1024, `length ${length}`);
});

Deno.test("primary closes a connection that sends no complete line within --idle-timeout", async () => {
  const primary = await startPrimary({ flags: { idleTimeout: 1000, http: "off" } });
  try {
    // A slowloris that never finishes its line, and a slow producer that finishes one every 200 ms.
    const dribbler = await connect(primary.port);
    const talker = await connect(primary.port);
    const started = Date.now();
    const closedAt = untilClosed(dribbler).then((result) => ({ ...result, ms: Date.now() - started }));
    let dribbled = 0;
    const dribbling = (async () => {
      while (dribbled < 100) {
        try {
          await dribbler.write(encoder.encode("x"));
        } catch {
          return;
        }
        dribbled++;
        await delay(100);
      }
    })();
    const talked: string[] = [];
    for (let i = 0; i < 10; i++) {
      await send(talker, "LikesServer2 1\n");
      talked.push(...await readReplies(talker, 1));
      await delay(200);
    }
    const closed = await closedAt;
    await dribbling;
    console.log(`idle dribbler closed after ${closed.ms} ms and ${dribbled} bytes (--idle-timeout 1s)`);
    assert.deepEqual(closed, { text: "", closed: true, ms: closed.ms });
    assert.ok(dribbled < 100, "the dribbler was cut off before it gave up");
    assert.deepEqual(talked, Array(10).fill("0"));
    talker.close();
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const entries = primaryEntries(primary.log);
  assert.deepEqual(entries.at(-1), { kind: "stopped", signal: "SIGTERM", total: 10 });
  // The dribbled bytes never counted, but are not dropped silently either.
  const invalid = invalidEntries(entries);
  assert.equal(invalid.length, 1, JSON.stringify(entries));
  assert.match(decoder.decode(invalid[0].data), /^x+$/);
  assert.equal(invalid[0].reason, "incomplete");
  assert.match(invalid[0].from, /^127\.0\.0\.1:\d+$/);
});

Deno.test("a thousand slowloris connections do not stop a producer from being answered", async () => {
  // Framing by the bytes alone: on a loaded machine a dribbler may pause past the quiet period,
  // which would end its newline-less message early (as it should, for a seed-era client).
  const primary = await startPrimary({ flags: { quietEnd: 0 } });
  const loris = 1000;
  const messages = 200;
  const conns: Deno.TcpConn[] = [];
  const stop = { done: false };
  try {
    const baseline = await produce(primary.port, messages, "LikesServer1 2\n");

    for (let i = 0; i < loris; i++) conns.push(await connect(primary.port));
    await eventually(`${loris} open connections`, async () => (await stats(primary)).connectionsOpen >= loris);
    // Half dribble valid likes a byte every 100 ms, half a line that never ends, a byte every 100-1000 ms.
    const valid = encoder.encode("LikesServer7 1\n");
    const completed = new Array(loris).fill(0);
    const dribbleStart = Date.now();
    const dribblers = conns.map(async (conn, i) => {
      let sent = 0;
      while (!stop.done) {
        await send(conn, i % 2 === 0 ? valid.subarray(sent % valid.length, sent % valid.length + 1) : "z");
        sent++;
        if (i % 2 === 0 && sent % valid.length === 0) completed[i]++;
        await delay(i % 2 === 0 ? 100 : 100 + Math.random() * 900);
      }
      // Half-close: the server answers what it read, drops the unfinished line and closes.
      await conn.closeWrite();
      const { text, closed } = await untilClosed(conn);
      assert.ok(closed);
      assert.equal(text, "0\n".repeat(completed[i]));
    });

    await delay(1000);
    const during = await withDeadline(produce(primary.port, messages, "LikesServer1 2\n"), 60_000, "the producer");
    // Long enough for each valid dribbler to finish a line or two.
    await delay(Math.max(0, 2500 - (Date.now() - dribbleStart)));
    stop.done = true;
    await Promise.all(dribblers);
    const dribbledLikes = completed.reduce((a, b) => a + b, 0);
    console.log(`${messages} sequential likes alone: ${percentiles(baseline)}`);
    console.log(`${messages} sequential likes beside ${loris} slowloris: ${percentiles(during)}`);
    console.log(`slowloris likes completed byte by byte: ${dribbledLikes}`);

    assert.equal((await stats(primary)).total, 2 * messages * 2 + dribbledLikes);
  } finally {
    stop.done = true;
    assert.equal((await primary.stop()).code, 0);
  }
  // Unfinished lines were never complete messages: not counted, only logged as incomplete.
  for (const invalid of invalidEntries(primaryEntries(primary.log))) {
    assert.ok(invalid.data !== undefined && !invalid.data.includes(0x22), JSON.stringify(invalid));
    assert.equal(invalid.reason, "incomplete");
  }
});

Deno.test("a client that never reads its replies is cut off after --write-timeout; others are served", async () => {
  const primary = await startPrimary({ flags: { writeTimeout: 2000 } });
  try {
    // Replies longer than the requests: the cheapest way to fill the server's send buffer.
    assert.deepEqual(await exchange(primary.port, "AUTH anything\n", 1), ["0 authenticated"]);
    assert.deepEqual(await exchange(primary.port, "LikesServer1 1\n".repeat(10), 10), Array(10).fill("0"));

    const rssBefore = vmRssKb(primary.process.pid);
    const hog = await connect(primary.port);
    const chunk = encoder.encode("AUTH x\n".repeat(10_000));
    let sent = 0;
    let lastProgress = Date.now();
    const started = Date.now();
    const hogging = (async () => {
      // Bounded: 700 MB would be far more than any socket buffer holds.
      while (sent < 100_000_000) {
        try {
          await send(hog, chunk);
        } catch (error) {
          return error as Error;
        }
        sent += chunk.length;
        lastProgress = Date.now();
      }
      return undefined;
    })();
    // Half a second without progress: the primary has stopped reading it, stuck writing replies.
    await eventually("the hog's writes to block", () => Promise.resolve(Date.now() - lastProgress > 500), 30_000);
    const rssBlocked = vmRssKb(primary.process.pid);
    // While the hog is stuck, another producer is answered.
    let hogCut = false;
    hogging.then(() => hogCut = true);
    const otherStarted = performance.now();
    assert.deepEqual(await exchange(primary.port, "LikesServer2 5\n", 1), ["0"]);
    const otherMs = performance.now() - otherStarted;
    const servedBeside = !hogCut;

    const outcome = await withDeadline(hogging, 30_000, "cutting off the never-reading client");
    assert.ok(outcome instanceof Error, "the hog wrote 100 MB unhindered");
    const rssAfter = vmRssKb(primary.process.pid);
    console.log(
      `never-reading client: sent ${(sent / 1e6).toFixed(1)} MB before blocking, cut off after ` +
        `${Date.now() - started} ms (${outcome.name}); another producer answered in ${otherMs.toFixed(2)} ms ` +
        `${servedBeside ? "while the hog was still connected" : "after the hog was cut off"}; ` +
        `primary VmRSS ${rssBefore} kB before, ${rssBlocked} kB while blocked, ${rssAfter} kB after`,
    );
    // Very generous: what matters is that the server stopped reading the hog, not the exact figure.
    assert.ok(rssBlocked - rssBefore < 256 * 1024, `VmRSS grew by ${rssBlocked - rssBefore} kB`);
    closeQuietly(hog);
    await eventually("the hog's connection to be gone", async () => (await stats(primary)).connectionsOpen === 0);
    assert.deepEqual(await exchange(primary.port, "LikesServer2 5\n", 1), ["0"]);
    assert.equal((await stats(primary)).total, 20);

    // A second hog at shutdown: SIGTERM waits for it at most --write-timeout, then exits cleanly.
    const hog2 = await connect(primary.port);
    let progress2 = Date.now();
    const hogging2 = (async () => {
      for (let i = 0; i < 10_000 && await send(hog2, chunk).then(() => true, () => false); i++) progress2 = Date.now();
    })();
    await eventually("the second hog's writes to block", () => Promise.resolve(Date.now() - progress2 > 500), 30_000);
    const stopping = performance.now();
    assert.equal((await withDeadline(primary.stop(), 30_000, "stopping beside a never-reading client")).code, 0);
    console.log(`SIGTERM beside a never-reading client took ${(performance.now() - stopping).toFixed(0)} ms`);
    await hogging2;
    closeQuietly(hog2);
  } finally {
    await primary.stop();
  }
  assert.deepEqual(primaryEntries(primary.log).at(-1), { kind: "stopped", signal: "SIGTERM", total: 20 });
});

Deno.test("primary answers a chunk of more lines than --max-unanswered in order", async () => {
  const primary = await startPrimary({ flags: { maxUnanswered: 3, http: "off" } });
  const lines = Array.from({ length: 10 }, (_, i) => i % 4 === 3 ? "oops\n" : `LikesServer1 ${i}\n`);
  try {
    assert.deepEqual(
      await exchange(primary.port, lines.join(""), 10),
      lines.map((l) => l === "oops\n" ? "1 unknown message" : "0"),
    );
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  assert.deepEqual(primaryEntries(primary.log).at(-1), { kind: "stopped", signal: "SIGTERM", total: 35 });
});

Deno.test("with --token, a client must authenticate first; a wrong token is refused, logged and never shown", async () => {
  const primary = await startPrimary({ flags: { token: "s3cret", http: "off" } });
  try {
    let conn = await connect(primary.port);
    await send(conn, "LikesServer1 5\nLikesServer1 5\n");
    assert.deepEqual(await untilClosed(conn), { text: "1 authentication required\n", closed: true });

    for (const attempt of ["guess-XYZZY", "s3cre", "s3cret ", "s3cretx", "S3CRET"]) {
      conn = await connect(primary.port);
      await send(conn, `AUTH ${attempt}\nLikesServer1 5\n`);
      assert.deepEqual(await untilClosed(conn), { text: "1 bad token\n", closed: true }, attempt);
    }

    assert.deepEqual(await exchange(primary.port, "AUTH s3cret\nLikesServer1 5\nLikesServer2 3\n", 3), [
      "0 authenticated",
      "0",
      "0",
    ]);
    assert.deepEqual(await exchange(primary.port, "AUTH s3cret\r\nLikesServer1 1\r\n", 2), ["0 authenticated", "0"]);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const log = await Deno.readTextFile(primary.log);
  const entries = primaryEntries(primary.log);
  assert.deepEqual(entries.at(-1), { kind: "stopped", signal: "SIGTERM", total: 9 });
  const refused = (reason: string) =>
    invalidEntries(entries).filter((e) =>
      e.data === undefined && e.reason === reason && /^127\.0\.0\.1:\d+$/.test(e.from)
    );
  assert.equal(refused("bad token").length, 5);
  assert.equal(refused("authentication required").length, 1);
  for (const secret of ["XYZZY", "s3cre", "S3CRET"]) {
    assert.equal(log.includes(secret), false, `the log shows ${secret}`);
    assert.equal(primary.output().includes(secret), false, `the output shows ${secret}`);
  }
});

Deno.test("LIKES_TOKEN in the environment sets the token", async () => {
  const primary = await startPrimary({ flags: { http: "off" }, env: { LIKES_TOKEN: "from-env" } });
  try {
    assert.deepEqual(await exchange(primary.port, "LikesServer1 5\n", 1), ["1 authentication required"]);
    assert.deepEqual(await exchange(primary.port, "AUTH from-env\nLikesServer1 4\n", 2), ["0 authenticated", "0"]);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  assert.deepEqual(primaryEntries(primary.log).at(-1), { kind: "stopped", signal: "SIGTERM", total: 4 });
});

Deno.test("primary refuses to listen off loopback without a token, before opening any file", async () => {
  const dir = await tempDir();
  await assert.rejects(
    startPrimary({ dir, flags: { host: "0.0.0.0", http: "off" }, env: { LIKES_TOKEN: "" } }),
    /exited before ready: primary: Refusing to listen on 0\.0\.0\.0 without a token: set --token or LIKES_TOKEN, or pass --insecure/,
  );
  assert.deepEqual([...Deno.readDirSync(dir)], []);
});

Deno.test("primary rejects an empty --token, which no client could ever match", async () => {
  const dir = await tempDir();
  await assert.rejects(
    startPrimary({ dir, args: ["--host", "0.0.0.0", "--http", "off", "--token", ""] }),
    /exited before ready: primary: Invalid value for --token: The token must not be empty/,
  );
  assert.deepEqual([...Deno.readDirSync(dir)], []);
});

Deno.test("primary listens off loopback without a token when given --insecure", async () => {
  // Bound to all addresses for a moment; the test talks to it on loopback only.
  const primary = await startPrimary({
    flags: { host: "0.0.0.0", insecure: true, http: "off" },
    env: { LIKES_TOKEN: "" },
  });
  try {
    assert.match(primary.output(), /ready: likes on 0\.0\.0\.0:/);
    assert.deepEqual(await exchange(primary.port, "LikesServer1 3\n", 1), ["0"]);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
});

Deno.test("primary creates its log and state owner-only", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  try {
    assert.deepEqual(await exchange(primary.port, "LikesServer1 3\nbad\n", 2), ["0", "1 unknown message"]);
    for (const entry of Deno.readDirSync(primary.dir)) {
      // The state's WAL and shared-memory files hold the same data as the state.
      const mode = Deno.statSync(`${primary.dir}/${entry.name}`).mode! & 0o777;
      assert.equal(mode.toString(8), "600", entry.name);
    }
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  for (const path of [primary.log, primary.state]) {
    assert.equal((Deno.statSync(path).mode! & 0o777).toString(8), "600", path);
  }
});

for (const file of ["PrimaryLikesLog", "PrimaryLikes.db"]) {
  Deno.test(`primary refuses to follow a symlink planted at its ${file}`, async () => {
    const dir = await tempDir();
    // One link to a file the attacker wants overwritten, one dangling (to have a file created).
    await Deno.writeTextFile(`${dir}/victim`, "precious\n");
    await Deno.symlink(`${dir}/victim`, `${dir}/${file}`);
    await assert.rejects(startPrimary({ dir, flags: { http: "off" } }), /refusing to follow a symlink/);
    assert.equal(await Deno.readTextFile(`${dir}/victim`), "precious\n");

    await Deno.remove(`${dir}/${file}`);
    await Deno.symlink(`${dir}/planted`, `${dir}/${file}`);
    await assert.rejects(startPrimary({ dir, flags: { http: "off" } }), /refusing to follow a symlink/);
    await assert.rejects(Deno.lstat(`${dir}/planted`), Deno.errors.NotFound);
  });
}

Deno.test("a symlink planted at the state's WAL is never written through", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/victim`, "precious\n");
  let primary = await startPrimary({ dir, flags: { http: "off" } });
  assert.deepEqual(await exchange(primary.port, "LikesServer1 3\n", 1), ["0"]);
  assert.equal((await primary.stop()).code, 0);

  // Planted between two runs, when the WAL has been checkpointed away. SQLite
  // either replaces the link with its own file or refuses to open: both are safe.
  await Deno.remove(`${dir}/PrimaryLikes.db-wal`).catch(() => {});
  await Deno.symlink(`${dir}/victim`, `${dir}/PrimaryLikes.db-wal`);
  try {
    primary = await startPrimary({ dir, flags: { http: "off" } });
    assert.deepEqual(await exchange(primary.port, "LikesServer1 3\n", 1), ["0"]);
    assert.equal((await primary.stop()).code, 0);
  } catch (error) {
    assert.match((error as Error).message, /Cannot open state file/);
  }
  assert.equal(await Deno.readTextFile(`${dir}/victim`), "precious\n");
});

Deno.test("primary refuses a log that has another hard link, and leaves the linked file alone", async () => {
  const dir = await tempDir();
  await Deno.writeTextFile(`${dir}/victim`, "precious\n");
  await Deno.link(`${dir}/victim`, `${dir}/PrimaryLikesLog`);
  await assert.rejects(
    startPrimary({ dir, flags: { http: "off", reset: true } }),
    /refusing .*PrimaryLikesLog: it has 2 hard links/,
  );
  assert.equal(await Deno.readTextFile(`${dir}/victim`), "precious\n");
});

Deno.test("a second primary on the same log, even with its own state, is refused", async () => {
  const first = await startPrimary({ flags: { http: "off" } });
  try {
    assert.deepEqual(await exchange(first.port, "LikesServer1 5\n", 1), ["0"]);
    const before = await Deno.readFile(first.log);
    await assert.rejects(
      startPrimary({ dir: first.dir, flags: { http: "off", reset: true, state: `${first.dir}/other.db` } }),
      /PrimaryLikesLog is in use by another process/,
    );
    assert.deepEqual(await Deno.readFile(first.log), before);
  } finally {
    assert.equal((await first.stop()).code, 0);
  }
});

Deno.test("a refused client that keeps sending still gets its reply, then the end of the connection", async () => {
  const primary = await startPrimary({ flags: { http: "off", token: "s3cret" } });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: primary.port });
    // The wrong token and, behind it, far more input than the server will ever read.
    const junk = new TextEncoder().encode("AUTH wrong\n" + "LikesServer1 5\n".repeat(20_000));
    const writing = conn.write(junk).catch(() => 0);
    const replies = await readReplies(conn, 2, 10_000);
    assert.deepEqual(replies, ["1 bad token"]);
    await writing;
    conn.close();
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  assert.ok(!primaryEntries(primary.log).some((e) => e.kind === "like" && e.server === 1 && e.likes === 5));
});

Deno.test("a flood that exhausts the primary's file descriptors takes down neither it nor its dashboard", async () => {
  const dir = await tempDir();
  const script = new URL("../../primary.ts", import.meta.url).pathname;
  const command = `ulimit -n 150 && exec "$0" run -A ${script} --port 0 --http 127.0.0.1:0 ` +
    `--log ${dir}/PrimaryLikesLog --state ${dir}/PrimaryLikes.db`;
  const child = new Deno.Command("sh", { args: ["-c", command, Deno.execPath()], stdout: "piped", stderr: "piped" })
    .spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  const deadline = Date.now() + 15_000;
  let ready: RegExpExecArray | null = null;
  while (!(ready = /likes on [^\s]+:(\d+), dashboard http:\/\/[^\s]+:(\d+)\//.exec(out))) {
    assert.ok(Date.now() < deadline, `no ready line: ${out}`);
    const next = await reader.read();
    if (next.done) break;
    out += next.value;
  }
  const [port, httpPort] = [Number(ready![1]), Number(ready![2])];
  const flood: Deno.TcpConn[] = [];
  try {
    for (let i = 0; i < 300; i++) flood.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    // The dashboard cannot be served now (no descriptor to accept with)...
    await fetch(`http://127.0.0.1:${httpPort}/healthz`, { signal: AbortSignal.timeout(500) }).then(
      (response) => response.body?.cancel(),
      () => {},
    );
  } finally {
    for (const conn of flood) conn.close();
  }
  // ...but once the flood is gone both sides serve again.
  let status = 0;
  while (status !== 200) {
    assert.ok(Date.now() < deadline + 15_000, "the dashboard never came back");
    await new Promise((r) => setTimeout(r, 200));
    status = await fetch(`http://127.0.0.1:${httpPort}/healthz`).then(
      async (r) => (await r.body?.cancel(), r.status),
      () => 0,
    );
  }
  assert.deepEqual(await exchange(port, "LikesServer1 7\n", 1), ["0"]);
  child.kill("SIGTERM");
  assert.equal((await child.status).code, 0);
  await reader.cancel();
  const stderr = new TextDecoder().decode(await new Response(child.stderr).arrayBuffer());
  assert.match(stderr, /Accept failed, retrying every 100ms: Too many open files/);
  assert.equal(stderr.match(/Accept failed/g)?.length, 1, "said once per burst");
});

Deno.test("primary refuses to serve the dashboard off loopback without a token, before opening any file", async () => {
  const dir = await tempDir();
  await assert.rejects(
    startPrimary({ dir, flags: { http: "0.0.0.0:0" }, env: { LIKES_TOKEN: "" } }),
    /exited before ready: primary: Refusing to serve the dashboard on 0\.0\.0\.0 without a token/,
  );
  assert.deepEqual([...Deno.readDirSync(dir)], []);
});

Deno.test("the dashboard off loopback answers only requests that present the token, whatever their Host", async () => {
  // Bound to all addresses for a moment; the test talks to it on loopback only.
  const primary = await startPrimary({ flags: { http: "0.0.0.0:0", token: "s3cretTOKEN" } });
  try {
    const get = async (path: string, headers: Record<string, string> = {}) => {
      const response = await fetch(`http://127.0.0.1:${primary.httpPort}${path}`, { headers });
      await response.body?.cancel();
      return response.status;
    };
    for (const path of ["/", "/api/stats", "/metrics", "/healthz", "/events"]) {
      assert.equal(await get(path, { host: "localhost" }), 401, path);
    }
    assert.equal(await get("/api/stats", { authorization: "Bearer nope" }), 401);
    assert.equal(await get("/api/stats", { authorization: "Bearer s3cretTOKEN" }), 200);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
});

Deno.test("the dashboard on loopback needs no token, even when the likes port has one", async () => {
  const primary = await startPrimary({ flags: { token: "s3cretTOKEN" } });
  try {
    const response = await fetch(`http://127.0.0.1:${primary.httpPort}/api/stats`);
    await response.body?.cancel();
    assert.equal(response.status, 200);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
});
