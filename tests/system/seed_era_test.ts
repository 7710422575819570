/**
 * Seed-era programs (written against the original assignment, mostly in C)
 * against ours, both ways: model clients against our primary, our parent in
 * `--protocol plain` against model primaries. Real processes and sockets on
 * loopback; every wait has a deadline.
 */
import assert from "node:assert/strict";
import { startPrimary } from "../support/primary.ts";
import net from "node:net";
import { readAll } from "../support/client.ts";
import { eventually } from "../support/eventually.ts";
import { parseExposition } from "../support/prometheus.ts";
import {
  buildSeedClient,
  paddedBuffer,
  readReply,
  runCSeedClient,
  runSeedClient,
  SEED_CLIENT_KINDS,
  type SeedClientKind,
  type SeedReply,
  writeAll,
} from "../support/seed_clients.ts";
import {
  SEED_PRIMARY_KINDS,
  type SeedPrimary,
  startResettingPrimary,
  startSeedPrimary,
} from "../support/seed_primaries.ts";
import { FAST, type ParentRun, spawnParent } from "../support/parent.ts";
import type { ParentOptions } from "../../lib/supervisor/options.ts";
import type { LikesServerLogEntry } from "../../lib/formats/likes_server_log.ts";
import { tempDir } from "../support/temp.ts";
import { requirement } from "../support/requirements.ts";
import { isDeepStrictEqual } from "node:util";
import { likesServerEntries, primaryEntries, statusEntries } from "../support/logs.ts";
import type { InvalidLine, LikeLine, PrimaryLogEntry } from "../../lib/formats/primary_log.ts";
import type { StatusLogEntry } from "../../lib/formats/status_log.ts";

const decoder = new TextDecoder();

/** A like counted without producer and seq, as a seed-era client's is. */
function like(server: number, likes: number, total: number): LikeLine {
  return { kind: "like", server, likes, duplicate: false, total };
}

/** The Invalid data entries holding exactly `data`, for `reason`, from a loopback client. */
function invalid(entries: PrimaryLogEntry[], data: string, reason: string): InvalidLine[] {
  return entries.filter((e): e is InvalidLine =>
    e.kind === "invalid" && e.data !== undefined && decoder.decode(e.data) === data && e.reason === reason &&
    /^127\.0\.0\.1:\d+$/.test(e.from)
  );
}

/** True when LikesServer`server` ended with status 1, a failure. */
function failed(status: StatusLogEntry[], server: number): boolean {
  return status.some((e) => e.kind === "child ended" && e.server === server && e.code === 1 && !e.success && !e.hung);
}

/** What each model client sends: valid likes in seed-era spellings and spacing, and two invalid ones. */
const MESSAGES = [
  "LikesServer1 5",
  "LikeServer2 7",
  "likeServer3  11",
  "LikesServer4\t2 \t",
  "LikesServer1 99",
  "LikeServer1 -3",
];
const VALID_LIKES = 5 + 7 + 11 + 2;
const EXPECTED = ["0\0", "0\0", "0\0", "0\0", "1 likes above maximum\0", "1 negative likes\0"];

async function stats(httpPort: number): Promise<{ total: number }> {
  return await (await fetch(`http://127.0.0.1:${httpPort}/api/stats`)).json();
}

function checkReplies(kind: string, replies: SeedReply[]): void {
  assert.deepEqual(replies.map((r) => r.reply), EXPECTED, kind);
  for (const { ms } of replies) assert.ok(ms < 1000, `${kind}: a reply took ${ms} ms`);
}

/** Runs every client model against one primary, checking replies, total and log. */
async function clientsAgainstPrimary(
  args: string[],
  run: (kind: SeedClientKind, port: number) => Promise<SeedReply[]>,
): Promise<void> {
  const primary = await startPrimary({ args });
  let expectedTotal = 0;
  try {
    for (const kind of SEED_CLIENT_KINDS) {
      checkReplies(kind, await run(kind, primary.port));
      expectedTotal += VALID_LIKES;
      // Counted exactly: the padding's valid-looking message never is.
      assert.equal((await stats(primary.httpPort)).total, expectedTotal, kind);
    }
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const entries = primaryEntries(primary.log);
  assert.deepEqual(entries.at(-1), { kind: "stopped", signal: "SIGTERM", total: expectedTotal });
  // Logged under the canonical name, whatever the client's spelling.
  const counted = (server: number, likes: number) =>
    entries.filter((e) =>
      e.kind === "like" && e.server === server && e.likes === likes && !e.duplicate && !e.outOfOrder
    )
      .length;
  assert.equal(counted(2, 7), SEED_CLIENT_KINDS.length);
  assert.equal(counted(3, 11), SEED_CLIENT_KINDS.length);
  assert.equal(invalid(entries, "LikesServer1 99", "likes above maximum").length, SEED_CLIENT_KINDS.length);
  assert.equal(invalid(entries, "LikeServer1 -3", "negative likes").length, SEED_CLIENT_KINDS.length);
  assert.ok(!entries.some((e) => e.kind === "like" && e.server === 9 && e.likes === 40));
  for (const e of entries) {
    if (e.kind === "invalid") {
      assert.doesNotMatch(decoder.decode(e.data), /LikesServer9 40|GARBAGE|JUNK/);
      assert.notEqual(e.reason, "incomplete");
    }
  }
}

Deno.test("seed-era clients (no newline, NUL-padded buffers, half-close) are answered within a second and counted exactly", async () => {
  // The default --quiet-end: a client that sends no newline waits 200 ms for its answer.
  await clientsAgainstPrimary([], (kind, port) => runSeedClient(kind, port, MESSAGES));
});

Deno.test("seed-era clients are answered as fast as --quiet-end allows when it is shortened", async () => {
  await clientsAgainstPrimary(["--quiet-end", "20ms"], (kind, port) => runSeedClient(kind, port, MESSAGES));
});

(await requirement("cc")).test({
  name: "seed-era clients in C are answered within a second and counted exactly",
  fn: async () => {
    const binary = await buildSeedClient(await tempDir());
    await clientsAgainstPrimary([], (kind, port) => runCSeedClient(binary, kind, port, MESSAGES));
  },
});

/** Uninitialised-looking bytes where a later read of the buffer starts: junk, a newline, a valid-looking message. */
const TAIL = Uint8Array.from("\x7fjunk\nLikesServer1 5\n", (c) => c.charCodeAt(0));

/**
 * Sends `LikesServer3 23` in a padded buffer of `size` bytes whose later
 * reads begin with TAIL, in `writes` (sent with a pause between them, before
 * the reply is read), then a second padded message; checks the replies,
 * the total, the log and the padding metric.
 */
async function paddingAcrossReads(size: number, writes: number[][]): Promise<void> {
  const primary = await startPrimary();
  const first = paddedBuffer("LikesServer3 23", size);
  for (const [start] of writes.slice(1)) first.set(TAIL, start);
  // Where the primary's growing read buffer (1, 2, 4 KiB) cuts a buffer sent at once.
  for (const cut of [1024, 3072]) if (cut < size) first.set(TAIL, cut);
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: primary.port });
    for (const [i, [start, end]] of writes.entries()) {
      if (i > 0) await new Promise((r) => setTimeout(r, 100));
      await writeAll(conn, first.subarray(start, end));
    }
    assert.equal(await readReply(conn, 5000), "0\0");
    // The client's next message, after the reply: padding ends there.
    await writeAll(conn, paddedBuffer("LikesServer2 7"));
    assert.equal(await readReply(conn, 5000), "0\0");
    await conn.closeWrite();
    // No stray reply to anything in the padding.
    assert.equal(await readAll(conn), "");
    conn.close();
    const metrics = parseExposition(await (await fetch(`http://127.0.0.1:${primary.httpPort}/metrics`)).text());
    assert.equal(metrics.value("likes_padding_bytes_total"), size - 16 + 1024 - 15);
    assert.equal(metrics.value("likes_incomplete_messages_total"), 0);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const entries = primaryEntries(primary.log);
  assert.ok(!entries.some((e) => e.kind === "invalid" || (e.kind === "like" && e.server === 1 && e.likes === 5)));
  const at23 = entries.findIndex((e) => isDeepStrictEqual(e, like(3, 23, 23)));
  assert.ok(
    at23 >= 0 && entries.slice(at23 + 1).some((e) => isDeepStrictEqual(e, like(2, 7, 30))),
    JSON.stringify(entries),
  );
  assert.deepEqual(entries.at(-1), { kind: "stopped", signal: "SIGTERM", total: 30 });
}

Deno.test("the padding of a 1024-byte buffer sent in two writes is dropped, tail and all, until the next message", async () => {
  await paddingAcrossReads(1024, [[0, 512], [512, 1024]]);
});

Deno.test("the padding of a 4096-byte buffer is dropped across the reads it takes, until the next message", async () => {
  await paddingAcrossReads(4096, [[0, 4096]]);
});

Deno.test("with --quiet-end off, a newline-less message waits for its NUL or EOF", async () => {
  const primary = await startPrimary({ args: ["--quiet-end", "off", "--http", "off"] });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: primary.port });
    await conn.write(new TextEncoder().encode("LikesServer1 5"));
    const buffer = new Uint8Array(64);
    const reading = conn.read(buffer);
    const early = await Promise.race([reading, new Promise((r) => setTimeout(() => r("waiting"), 500))]);
    assert.equal(early, "waiting");
    await conn.closeWrite();
    const n = await reading;
    assert.equal(new TextDecoder().decode(buffer.subarray(0, n ?? 0)), "0\0");
    conn.close();
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const entries = primaryEntries(primary.log);
  assert.ok(entries.slice(0, -1).some((e) => isDeepStrictEqual(e, like(1, 5, 5))), JSON.stringify(entries));
  assert.deepEqual(entries.at(-1), { kind: "stopped", signal: "SIGTERM", total: 5 });
});

Deno.test("a reset connection never completes a seed-era message; a clean half-close does", async () => {
  // No quiet period: only the end of the connection can end the message.
  const primary = await startPrimary({ args: ["--quiet-end", "off"] });
  const metric = async (name: string) =>
    parseExposition(await (await fetch(`http://127.0.0.1:${primary.httpPort}/metrics`)).text()).value(name);
  try {
    const socket = net.connect(primary.port, "127.0.0.1");
    await new Promise((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    await new Promise<void>((resolve, reject) => socket.write("LikesServer3 23", (e) => e ? reject(e) : resolve()));
    // Let the primary read the bytes first, so that they are held when the reset comes.
    await new Promise((r) => setTimeout(r, 100));
    // SO_LINGER 0 and close: a RST, not a FIN.
    socket.resetAndDestroy();
    await eventually("the reset to be noticed", async () => await metric("likes_incomplete_messages_total") === 1);
    assert.equal((await stats(primary.httpPort)).total, 0);

    const conn = await Deno.connect({ hostname: "127.0.0.1", port: primary.port });
    await writeAll(conn, new TextEncoder().encode("LikesServer3 23"));
    await conn.closeWrite();
    assert.equal(await readAll(conn), "0\0");
    conn.close();
    assert.equal((await stats(primary.httpPort)).total, 23);
    assert.equal(await metric("likes_incomplete_messages_total"), 1);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const entries = primaryEntries(primary.log);
  assert.equal(invalid(entries, "LikesServer3 23", "incomplete").length, 1);
  assert.equal(entries.filter((e) => isDeepStrictEqual(e, like(3, 23, 23))).length, 1);
  assert.deepEqual(entries.at(-1), { kind: "stopped", signal: "SIGTERM", total: 23 });
});

Deno.test("a dribbled message is never ended by a quiet period, and is logged as incomplete when it idles out", async () => {
  const primary = await startPrimary({ args: ["--quiet-end", "20ms", "--idle-timeout", "1s", "--http", "off"] });
  const encoder = new TextEncoder();
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: primary.port });
    for (const part of ["LikesServer1", " 4"]) {
      await conn.write(encoder.encode(part));
      await new Promise((r) => setTimeout(r, 150));
    }
    // Whole, but sent in two bursts: a dribble, not a seed-era send. Never answered; cut off when idle.
    const buffer = new Uint8Array(64);
    const timer = setTimeout(() => conn.close(), 10_000);
    assert.equal(await conn.read(buffer), null);
    clearTimeout(timer);
    conn.close();
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const entries = primaryEntries(primary.log);
  assert.ok(invalid(entries, "LikesServer1 4", "incomplete").length > 0, JSON.stringify(entries));
  assert.deepEqual(entries.at(-1), { kind: "stopped", signal: "SIGTERM", total: 0 });
});

for (const kind of SEED_PRIMARY_KINDS) {
  Deno.test(`our parent in plain mode against a seed-era primary that answers ${kind}: every LikesServer exits 0, totals agree`, async () => {
    const model = startSeedPrimary(kind);
    const logDir = await tempDir();
    try {
      const { done } = spawnParent(logDir, {
        ...FAST,
        servers: 3,
        protocol: "plain",
        port: model.port,
        replyTimeout: 2000,
      });
      const run = await done;
      assert.equal(run.code, 0, run.status + run.stderr);
      const cleanEnds = statusEntries(run.status)
        .filter((e) => e.kind === "child ended" && e.server < 10 && e.code === 0 && e.success && !e.hung);
      assert.equal(cleanEnds.length, 3, run.status);
      let answered = 0;
      let sent = 0;
      for (let id = 0; id < 3; id++) {
        for (const e of likesServerEntries(await Deno.readTextFile(`${logDir}/LikesServer${id}`))) {
          if (e.kind !== "answered") continue;
          answered += e.likes;
          sent++;
          // Logged as received, up to its end, and not interpreted.
          assert.ok(["ACK", "1", "Received likes count", "Likes received", "0"].includes(e.reply), e.reply);
        }
      }
      assert.ok(sent > 0, "some likes were sent");
      assert.equal(model.messages(), sent, "one message per like: no retries, no idempotent fields");
      assert.equal(model.total(), answered);
      // One connection per LikesServer, a new one only after the primary closed the last.
      assert.equal(model.connections(), kind === "once" ? sent : 3);
    } finally {
      await model.close();
    }
  });
}

Deno.test("in plain mode a connection reset before the reply is a failure: logged unknown, exit 1, not retried", async () => {
  const model = await startResettingPrimary();
  const logDir = await tempDir();
  try {
    const { done } = spawnParent(logDir, {
      ...FAST,
      servers: 1,
      protocol: "plain",
      port: model.port,
      replyTimeout: 5000,
    });
    const run = await done;
    assert.equal(run.code, 1, run.status + run.stderr);
    const status = statusEntries(run.status);
    assert.ok(
      status.some((e) =>
        e.kind === "child error" && e.server === 0 &&
        /^error: message seq=1 may or may not have been counted: .*reset/.test(e.text)
      ),
      run.status,
    );
    assert.ok(failed(status, 0), run.status);
    const log = likesServerEntries(await Deno.readTextFile(`${logDir}/LikesServer0`));
    assert.ok(log.some((e) => e.kind === "unknown" && e.server === 0 && e.seq === 1 && e.why.includes("reset")));
    assert.ok(!log.some((e) => e.kind === "answered" || e.kind === "acked"), JSON.stringify(log));
    assert.equal(model.messages(), 1, "sent once: the primary may have counted it");
  } finally {
    await model.close();
  }
});

Deno.test("in the default protocol a LikesServer stops at a reply that is not 0 or 1, without retrying", async () => {
  const model = startSeedPrimary("ack");
  const logDir = await tempDir();
  try {
    const { done } = spawnParent(logDir, { ...FAST, servers: 1, port: model.port });
    const run = await done;
    assert.equal(run.code, 1);
    const status = statusEntries(run.status);
    assert.ok(
      status.some((e) =>
        e.kind === "child error" && e.server === 0 &&
        /^error: 127\.0\.0\.1:\d+ answered "ACK", not 0 or 1: .*--protocol plain\)$/.test(e.text)
      ),
      run.status,
    );
    assert.ok(failed(status, 0), run.status);
    assert.equal(model.messages(), 1, "the like was sent once: it may have been counted");
  } finally {
    await model.close();
  }
});

/** What a parent run left: each LikesServer's log entries, and the likes they record as answered or acknowledged. */
async function parentRunAgainst(
  model: SeedPrimary,
  flags: Partial<ParentOptions>,
): Promise<{ run: ParentRun; logs: LikesServerLogEntry[][]; counted: number; sent: number }> {
  const logDir = await tempDir();
  const servers = flags.servers ?? 1;
  const run = await spawnParent(logDir, { ...FAST, port: model.port, ...flags, servers }).done;
  const logs: LikesServerLogEntry[][] = [];
  let counted = 0;
  let sent = 0;
  for (let id = 0; id < servers; id++) {
    const log = likesServerEntries(await Deno.readTextFile(`${logDir}/LikesServer${id}`));
    logs.push(log);
    for (const e of log) {
      if (e.kind === "answered" || e.kind === "acked") counted += e.likes;
      if (e.kind === "ended") sent += e.sent;
    }
  }
  return { run, logs, counted, sent };
}

/** Checks that every one of `servers` LikesServers exited 0. */
function allExitedZero(run: ParentRun, servers: number): void {
  assert.equal(run.code, 0, run.status + run.stderr);
  const clean = statusEntries(run.status).filter((e) => e.kind === "child ended" && e.code === 0 && e.success);
  assert.equal(clean.length, servers, run.status);
}

Deno.test("our parent in plain mode against a primary that serves exactly ten connections and answers a bare 1: all exit 0, totals agree", async () => {
  const model = startSeedPrimary("bare", { connections: 10 });
  try {
    // The timeout of the report: a bare 1 must not wait for it, nor be taken for no reply.
    const { run, logs, counted, sent } = await parentRunAgainst(model, {
      servers: 10,
      protocol: "plain",
      replyTimeout: 1000,
    });
    allExitedZero(run, 10);
    assert.equal(model.connections(), 10, "one connection per LikesServer for its whole run");
    assert.ok(sent >= 10, `every LikesServer sent: ${sent}`);
    assert.equal(model.messages(), sent, "nothing resent");
    assert.equal(model.total(), counted);
    for (const log of logs) {
      for (const e of log) if (e.kind === "answered") assert.equal(e.reply, "1");
      assert.ok(!log.some((e) => e.kind === "unknown" || e.kind === "send error"), JSON.stringify(log));
    }
  } finally {
    await model.close();
  }
});

Deno.test("in the default protocol a bare 0 on a kept connection acknowledges the like: nothing is resent", async () => {
  const zero = startSeedPrimary("zero");
  try {
    const { run, logs, counted, sent } = await parentRunAgainst(zero, { servers: 2, replyTimeout: 1000 });
    allExitedZero(run, 2);
    assert.ok(sent > 0);
    assert.equal(zero.messages(), sent, "each like sent once: the primary has no dedupe");
    assert.equal(zero.total(), counted);
    assert.equal(zero.connections(), 2);
    for (const log of logs) assert.ok(!log.some((e) => e.kind === "send error"), JSON.stringify(log));
  } finally {
    await zero.close();
  }
});

for (const protocol of ["idempotent", "plain"] as const) {
  Deno.test(`in ${protocol} mode a reply 0\\0a\\0 in a fixed buffer is 0: the bytes after its NUL are discarded and logged, never read as the next reply`, async () => {
    const model = startSeedPrimary("cstring");
    try {
      const { run, logs, counted, sent } = await parentRunAgainst(model, { servers: 2, protocol });
      allExitedZero(run, 2);
      assert.ok(sent > 1, "more than one message per LikesServer, so that leftovers could be misread");
      assert.equal(model.messages(), sent);
      assert.equal(model.total(), counted);
      for (const log of logs) {
        const replies = log.filter((e) => e.kind === "acked" || e.kind === "answered");
        for (const e of replies) if (e.kind === "answered") assert.equal(e.reply, "0");
        // Six leftover bytes (`a\0%s %`) per reply, logged once before the next message or the end.
        const discarded = log.filter((e) => e.kind === "discarded");
        assert.equal(discarded.length, replies.length, JSON.stringify(log));
        for (const e of discarded) assert.equal(e.kind === "discarded" && e.bytes, 6);
        assert.ok(!log.some((e) => e.kind === "unacknowledged" || e.kind === "send error"), JSON.stringify(log));
      }
    } finally {
      await model.close();
    }
  });
}

Deno.test("with --connect-per-message a LikesServer opens a connection for each message", async () => {
  const model = startSeedPrimary("ack");
  try {
    const { run, sent } = await parentRunAgainst(model, { servers: 2, protocol: "plain", connectPerMessage: true });
    allExitedZero(run, 2);
    assert.ok(sent > 2);
    assert.equal(model.connections(), sent);
    assert.equal(model.messages(), sent);
  } finally {
    await model.close();
  }
});

Deno.test("a seed-era connection's like count may have leading zeros; a newline connection's may not", async () => {
  const primary = await startPrimary({ args: ["--quiet-end", "50ms"] });
  const encoder = new TextEncoder();
  try {
    const replies: string[] = [];
    for (
      const bytes of [
        paddedBuffer("LikeServer9 06"),
        encoder.encode("LikesServer9 007"),
        encoder.encode("LikeServer9 06\n"),
      ]
    ) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: primary.port });
      await writeAll(conn, bytes);
      replies.push(await readReply(conn, 5000));
      conn.close();
    }
    assert.deepEqual(replies, ["0\0", "0\0", "1 likes not an integer\n"]);
    assert.equal((await stats(primary.httpPort)).total, 13);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const entries = primaryEntries(primary.log);
  assert.ok(entries.some((e) => isDeepStrictEqual(e, like(9, 6, 6))), JSON.stringify(entries));
  assert.ok(entries.some((e) => isDeepStrictEqual(e, like(9, 7, 13))), JSON.stringify(entries));
  assert.equal(invalid(entries, "LikeServer9 06", "likes not an integer").length, 1);
});
