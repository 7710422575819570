/**
 * A live primary against misuse that no crash produces: junk that would fill
 * the disk through the log, connections that never authenticate, tokens sent
 * where they could reach a log, and NULs before a message. Real sockets, a
 * real primary and its real log; figures are printed, limits asserted.
 */
import assert from "node:assert/strict";
import { setTimeout as delay } from "node:timers/promises";
import { type PrimaryProcess, startPrimary } from "../support/primary.ts";
import { exchange, readAll, readReplies, untilClosed } from "../support/client.ts";
import { closeQuietly, writeAll } from "../../lib/common/io.ts";
import { eventually } from "../support/eventually.ts";
import { primaryEntries } from "../support/logs.ts";
import type { InvalidLine, UnloggedLine } from "../../lib/formats/primary_log.ts";

const encoder = new TextEncoder();
const TOKEN = "s3cretTOKEN";

function connect(port: number, hostname = "127.0.0.1"): Promise<Deno.TcpConn> {
  return Deno.connect({ hostname, port });
}

async function stats(primary: PrimaryProcess): Promise<{ total: number; connectionsOpen: number }> {
  return await (await fetch(`http://127.0.0.1:${primary.httpPort}/api/stats`)).json();
}

/** Bytes of the log's lines about invalid data: each one logged, and the summaries of the rest. */
function invalidLogBytes(text: string): number {
  return text.split("\n").filter((line) => / Invalid data /.test(line)).reduce((sum, line) => sum + line.length + 1, 0);
}

/** Connects, sends `data`, closes at once without reading: what a junk flood does. */
async function sendAndClose(port: number, data: Uint8Array): Promise<void> {
  const conn = await connect(port);
  try {
    await writeAll(conn, data);
  } catch { /* the primary closed first */ }
  closeQuietly(conn);
}

/** Runs `attack` in `workers` loops until `ms` have passed; returns the bytes it sent. */
async function flood(ms: number, workers: number, attack: () => Promise<number>): Promise<number> {
  const until = Date.now() + ms;
  let sent = 0;
  await Promise.all(Array.from({ length: workers }, async () => {
    while (Date.now() < until) {
      const n = await attack();
      sent += n;
    }
  }));
  return sent;
}

/** Sends `count` likes with the token on one connection, one at a time; returns the replies. */
async function produce(port: number, count: number, server = 1): Promise<string[]> {
  const conn = await connect(port);
  try {
    await writeAll(conn, encoder.encode(`AUTH ${TOKEN}\n`));
    const replies = await readReplies(conn, 1);
    for (let i = 0; i < count; i++) {
      await writeAll(conn, encoder.encode(`LikesServer${server} 1\n`));
      replies.push(...await readReplies(conn, 1));
    }
    return replies;
  } finally {
    closeQuietly(conn);
  }
}

Deno.test("junk from connections that never authenticate grows the log by at most 5% of its bytes; likes beside it are all logged", async () => {
  const primary = await startPrimary({ flags: { token: TOKEN } });
  const junk = new Uint8Array(1020).fill(0xff);
  let sent = 0, replies: string[] = [];
  let before = 0;
  try {
    before = invalidLogBytes(await Deno.readTextFile(primary.log));
    const attacking = flood(3000, 20, async () => (await sendAndClose(primary.port, junk), junk.length));
    // Valid likes from the same address while it floods: never summarised.
    await delay(500);
    replies = await produce(primary.port, 50);
    sent = await attacking;
    await delay(1200);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const text = await Deno.readTextFile(primary.log);
  const grown = invalidLogBytes(text) - before;
  const entries = primaryEntries(primary.log);
  const summaries = entries.filter((e): e is UnloggedLine => e.kind === "unlogged");
  const logged = entries.filter((e): e is InvalidLine => e.kind === "invalid");
  const summarised = summaries.reduce((sum, e) => sum + e.count, 0);
  console.log(
    `junk that closes unauthenticated: ${(sent / 1e6).toFixed(2)} MB in (${sent / junk.length} connections), ` +
      `${(grown / 1e3).toFixed(1)} kB of log out (ratio ${(grown / sent).toFixed(4)}); ` +
      `${logged.length} lines logged, ${summarised} summarised in ${summaries.length} summaries`,
  );
  assert.ok(sent > 100 * junk.length, `only ${sent} bytes sent`);
  assert.ok(grown / sent <= 0.05, `the log grew by ${grown} bytes for ${sent} sent`);
  assert.deepEqual(replies, ["0 authenticated", ...Array(50).fill("0")]);
  assert.equal(entries.filter((e) => e.kind === "like").length, 50);
  assert.ok(summaries.length > 0 && summaries.every((e) => e.from === "127.0.0.1" && e.bytes > 0));
  // Before authenticating, data is never shown, only its length.
  for (const e of logged) assert.ok(e.data === undefined && e.length === junk.length, JSON.stringify(e));
  assert.deepEqual(entries.at(-1), { kind: "stopped", signal: "SIGTERM", total: 50 });
});

Deno.test("a flood of junk lines grows the log by at most 5% of its bytes; each logged line holds at most --max-logged-bytes of data", async () => {
  const primary = await startPrimary();
  // 64 lines of 1,000 bytes 0xff each (latin1: one byte per character).
  const chunk = Uint8Array.from(`${"\xff".repeat(1000)}\n`.repeat(64), (c) => c.charCodeAt(0));
  let sent = 0;
  let before = 0;
  try {
    before = invalidLogBytes(await Deno.readTextFile(primary.log));
    const conn = await connect(primary.port);
    const draining = readAll(conn, 30_000);
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      await writeAll(conn, chunk);
      sent += chunk.length;
    }
    await conn.closeWrite();
    const replies = (await draining).split("\n").slice(0, -1);
    assert.equal(replies.length, sent / 1001);
    assert.ok(replies.every((r) => r === "1 unknown message"));
    await delay(1200);
    assert.deepEqual(await exchange(primary.port, "LikesServer1 5\n", 1), ["0"]);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const grown = invalidLogBytes(await Deno.readTextFile(primary.log)) - before;
  const entries = primaryEntries(primary.log);
  const logged = entries.filter((e): e is InvalidLine => e.kind === "invalid");
  const summarised = entries.reduce((sum, e) => sum + (e.kind === "unlogged" ? e.count : 0), 0);
  console.log(
    `junk lines on one connection: ${(sent / 1e6).toFixed(2)} MB in, ${(grown / 1e3).toFixed(1)} kB of log out ` +
      `(ratio ${(grown / sent).toFixed(5)}); ${logged.length} lines logged, ${summarised} summarised`,
  );
  assert.ok(grown / sent <= 0.05, `the log grew by ${grown} bytes for ${sent} sent`);
  assert.equal(logged.length + summarised, sent / 1001);
  for (const e of logged) {
    assert.equal(e.length, 1000);
    assert.deepEqual(e.data, new Uint8Array(33).fill(0xff), "as many bytes as fit in 200 escaped characters");
  }
  assert.deepEqual(entries.at(-1), { kind: "stopped", signal: "SIGTERM", total: 5 });
});

Deno.test("a token sent without its newline, padded past --max-line or mistyped never reaches the log", async () => {
  const primary = await startPrimary({ flags: { token: TOKEN, http: "off", maxLine: 64 } });
  try {
    const attempts = [
      `AUTH ${TOKEN}`,
      `AUTH ${TOKEN}${" ".repeat(200)}\n`,
      `auth ${TOKEN}\n`,
      `\0\0AUTH ${TOKEN}`,
    ];
    for (const attempt of attempts) {
      const conn = await connect(primary.port);
      await writeAll(conn, encoder.encode(attempt));
      await delay(50);
      await conn.closeWrite();
      await untilClosed(conn);
    }
    // After authenticating too.
    const conn = await connect(primary.port);
    await writeAll(conn, encoder.encode(`AUTH ${TOKEN}\nAUTH ${TOKEN}x`));
    assert.deepEqual(await readReplies(conn, 1), ["0 authenticated"]);
    await conn.closeWrite();
    await untilClosed(conn);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const text = await Deno.readTextFile(primary.log);
  assert.equal(text.includes(TOKEN.slice(1)), false, text);
  assert.equal(primary.output().includes(TOKEN.slice(1)), false);
  const invalid = primaryEntries(primary.log).filter((e): e is InvalidLine => e.kind === "invalid");
  assert.deepEqual(invalid.map((e) => [e.data, e.length, e.reason]), [
    [undefined, 16, "incomplete"],
    [undefined, 216, "line too long"],
    [undefined, 16, "authentication required"],
    // The NULs before it are not part of it.
    [undefined, 16, "incomplete"],
    [undefined, 17, "incomplete"],
  ]);
});

Deno.test("NULs before a message are dropped and the message is answered and counted", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  try {
    assert.deepEqual(await exchange(primary.port, "\0\0\0LikesServer1 5\n", 1), ["0"]);
    const conn = await connect(primary.port);
    await writeAll(conn, encoder.encode("\0\0LikesServer2 7\0\0\0"));
    await conn.closeWrite();
    assert.equal(await readAll(conn), "0\0");
    conn.close();
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const entries = primaryEntries(primary.log);
  assert.ok(!entries.some((e) => e.kind === "invalid"), JSON.stringify(entries));
  assert.deepEqual(entries.at(-1), { kind: "stopped", signal: "SIGTERM", total: 12 });
});

Deno.test("a producer with the token gets a slot while idle connections that never authenticate take every other", async () => {
  const maxConnections = 1000;
  const primary = await startPrimary({ flags: { token: TOKEN, maxConnections } });
  const idle = new Set<Deno.TcpConn>();
  const stop = { done: false };
  let refused = 0;
  try {
    // The attack: 2 × --max-connections idle connections, each reopened a second after the primary closes it.
    const attacker = async () => {
      while (!stop.done) {
        const conn = await connect(primary.port).catch(() => undefined);
        if (conn === undefined) continue;
        idle.add(conn);
        const { text } = await untilClosed(conn, 60_000);
        if (text === "1 too many connections\n") refused++;
        idle.delete(conn);
        await delay(1000);
      }
    };
    const attackers = Array.from({ length: 2 * maxConnections }, attacker);
    await eventually(
      "the attack to fill the primary",
      async () => (await stats(primary)).connectionsOpen >= maxConnections / 2,
      30_000,
    );
    // Producers that authenticated stay; each new one gets its slot while the attack runs.
    const producers: Deno.TcpConn[] = [];
    for (let i = 0; i < 40; i++) {
      const conn = await connect(primary.port);
      await writeAll(conn, encoder.encode(`AUTH ${TOKEN}\nLikesServer1 1\n`));
      assert.deepEqual(await readReplies(conn, 2), ["0 authenticated", "0"], `producer ${i}`);
      producers.push(conn);
    }
    // Still connected and served after the attack churned through the unauthenticated share.
    for (const conn of producers) {
      await writeAll(conn, encoder.encode("LikesServer1 1\n"));
      assert.deepEqual(await readReplies(conn, 1), ["0"]);
    }
    const open = (await stats(primary)).connectionsOpen;
    console.log(`unauthenticated attack: ${refused} attacker connections made room or were refused; ${open} open`);
    assert.ok(open <= maxConnections, `${open} open`);
    assert.ok(refused > 0);
    stop.done = true;
    for (const conn of [...idle, ...producers]) closeQuietly(conn);
    await Promise.all(attackers);
  } finally {
    stop.done = true;
    for (const conn of idle) closeQuietly(conn);
    assert.equal((await primary.stop()).code, 0);
  }
  assert.deepEqual(primaryEntries(primary.log).at(-1), { kind: "stopped", signal: "SIGTERM", total: 80 });
});

Deno.test("a connection that does not authenticate within --auth-timeout is told so and closed; an authenticated one stays", async () => {
  const primary = await startPrimary({ flags: { token: TOKEN, http: "off", authTimeout: 500 } });
  try {
    const authenticated = await connect(primary.port);
    await writeAll(authenticated, encoder.encode(`AUTH ${TOKEN}\n`));
    assert.deepEqual(await readReplies(authenticated, 1), ["0 authenticated"]);
    const started = Date.now();
    const silent = await connect(primary.port);
    assert.deepEqual(await untilClosed(silent, 5000), { text: "1 authentication timeout\n", closed: true });
    const took = Date.now() - started;
    assert.ok(took >= 500 && took < 3000, `closed after ${took} ms`);
    await writeAll(authenticated, encoder.encode("LikesServer1 3\n"));
    assert.deepEqual(await readReplies(authenticated, 1), ["0"]);
    closeQuietly(authenticated);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const entries = primaryEntries(primary.log);
  assert.equal(entries.filter((e) => e.kind === "invalid" && e.reason === "authentication timeout").length, 1);
  assert.deepEqual(entries.at(-1), { kind: "stopped", signal: "SIGTERM", total: 3 });
});

const offLoopback = Deno.networkInterfaces().find((i) => i.family === "IPv4" && !i.address.startsWith("127."))?.address;

Deno.test({
  name: "--max-connections-per-address caps one address off loopback, and never loopback",
  // Needs an address of this machine off loopback to connect from.
  ignore: offLoopback === undefined,
  fn: async () => {
    const primary = await startPrimary({
      flags: { host: "0.0.0.0", token: TOKEN, http: "off", maxConnectionsPerAddress: 3 },
    });
    const conns: Deno.TcpConn[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const conn = await connect(primary.port, offLoopback);
        await writeAll(conn, encoder.encode(`AUTH ${TOKEN}\n`));
        assert.deepEqual(await readReplies(conn, 1), ["0 authenticated"]);
        conns.push(conn);
      }
      assert.deepEqual(await authFrom(primary.port, offLoopback!), ["1 too many connections"]);
      for (let i = 0; i < 5; i++) {
        const conn = await connect(primary.port);
        await writeAll(conn, encoder.encode(`AUTH ${TOKEN}\n`));
        assert.deepEqual(await readReplies(conn, 1), ["0 authenticated"]);
        conns.push(conn);
      }
      closeQuietly(conns.shift()!);
      await eventually("a slot of that address to free", async () => {
        const replies = await authFrom(primary.port, offLoopback!);
        return replies[0] === "0 authenticated";
      });
    } finally {
      for (const conn of conns) closeQuietly(conn);
      assert.equal((await primary.stop()).code, 0);
    }
  },
});

/** One AUTH exchange from `hostname`. */
async function authFrom(port: number, hostname: string): Promise<string[]> {
  const conn = await connect(port, hostname);
  try {
    await writeAll(conn, encoder.encode(`AUTH ${TOKEN}\n`));
    return await readReplies(conn, 1);
  } finally {
    closeQuietly(conn);
  }
}
