import assert from "node:assert/strict";
import { startPrimary } from "../support/primary.ts";
import { freePort } from "../support/parent.ts";
import { tempDir } from "../support/temp.ts";
import { eventually } from "../support/eventually.ts";
import { likesServerEntries, primaryEntries } from "../support/logs.ts";
import { toFlags } from "../../lib/common/cli.ts";
import { type LikesServerOptions, likesServerSpecs } from "../../lib/producer/options.ts";

const SCRIPT = new URL("../../likes_server.ts", import.meta.url).pathname;

/** Runs likes_server.ts with these settings, or raw arguments for bad input. */
async function runLikesServer(flags: Partial<LikesServerOptions> | string[], env?: Record<string, string>) {
  const args = Array.isArray(flags) ? flags : toFlags(likesServerSpecs, flags);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, ...args],
    stdout: "piped",
    stderr: "piped",
    env,
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: new TextDecoder().decode(out.stderr) };
}

const FAST = { duration: 600, minInterval: 10, maxInterval: 40 };

Deno.test("a LikesServer logs each like it sent with the primary's answer", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  try {
    const run = await runLikesServer({ id: 4, port: primary.port, logDir: primary.dir, ...FAST });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "");
  } finally {
    await primary.stop();
  }
  const log = likesServerEntries(await Deno.readTextFile(`${primary.dir}/LikesServer4`));
  const started = log[0];
  assert.ok(started.kind === "started", JSON.stringify(started));
  assert.equal(started.server, 4);
  assert.match(started.producer, /^LikesServer4-[0-9a-f-]{36}$/);
  assert.equal(started.primary, `127.0.0.1:${primary.port}`);
  const sent = log.slice(1, -1);
  assert.ok(sent.length > 3, JSON.stringify(log));
  let likes = 0;
  sent.forEach((entry, i) => {
    assert.ok(entry.kind === "acked" && entry.server === 4 && entry.seq === i + 1, JSON.stringify(entry));
    assert.ok(entry.likes >= 0 && entry.likes <= 42, JSON.stringify(entry));
    likes += entry.likes;
  });
  const n = sent.length;
  assert.deepEqual(log.at(-1), { kind: "ended", server: 4, how: "finished", sent: n, acked: n, likes });
});

Deno.test("the same --seed makes the same choices", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  const likes: number[][] = [];
  try {
    for (const id of [1, 2]) {
      const flags = { id, port: primary.port, logDir: primary.dir, seed: 99, ...FAST };
      assert.equal((await runLikesServer(flags)).code, 0);
      const log = likesServerEntries(await Deno.readTextFile(`${primary.dir}/LikesServer${id}`));
      likes.push(log.flatMap((e) => e.kind === "acked" ? [e.likes] : []));
    }
  } finally {
    await primary.stop();
  }
  const n = Math.min(likes[0].length, likes[1].length);
  assert.ok(n > 3);
  assert.deepEqual(likes[0].slice(0, n), likes[1].slice(0, n));
});

Deno.test("a LikesServer retries until the primary comes up, then succeeds", async () => {
  const port = freePort();
  const dir = await tempDir();
  const run = runLikesServer({ id: 0, port, logDir: dir, retryFor: 20_000, ...FAST });
  await new Promise((r) => setTimeout(r, 400));
  const primary = await startPrimary({ dir, port, flags: { http: "off" } });
  try {
    const result = await run;
    assert.equal(result.code, 0, result.stderr);
    // Each failure was reported to stderr (for the parent) and logged.
    assert.match(result.stderr, /connect error: Cannot connect to 127\.0\.0\.1:\d+: .*retrying in \d+ms/);
    const log = likesServerEntries(await Deno.readTextFile(`${dir}/LikesServer0`));
    assert.ok(log.some((e) => e.kind === "send error" && e.phase === "connect"), JSON.stringify(log));
    assert.ok(log.some((e) => e.kind === "acked" && e.seq === 1), JSON.stringify(log));
  } finally {
    await primary.stop();
  }
});

Deno.test("a LikesServer sends the token from LIKES_TOKEN, and gives up at once on a wrong one", async () => {
  const primary = await startPrimary({ flags: { http: "off", token: "s3cret" } });
  try {
    const flags = { port: primary.port, logDir: primary.dir, ...FAST };
    const good = await runLikesServer({ id: 1, ...flags }, { LIKES_TOKEN: "s3cret" });
    assert.equal(good.code, 0, good.stderr);
    const bad = await runLikesServer({ id: 2, ...flags }, { LIKES_TOKEN: "wrong" });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /refused the token: "1 bad token"/);
    const log = likesServerEntries(await Deno.readTextFile(`${primary.dir}/LikesServer2`));
    assert.ok(
      log.some((e) =>
        e.kind === "unacknowledged" && e.seq === 1 && e.reason.kind === "abandoned" &&
        e.reason.why === "cannot be retried"
      ),
      JSON.stringify(log),
    );
  } finally {
    await primary.stop();
  }
  const counted = primaryEntries(primary.log).flatMap((e) => e.kind === "like" ? [e.server] : []);
  assert.ok(counted.includes(1));
  assert.ok(!counted.includes(2));
  assert.doesNotMatch(await Deno.readTextFile(primary.log), /wrong/, "the token is never logged");
});

Deno.test("a LikesServer rejects bad flags with exit code 2", async () => {
  for (const args of [[], ["--id", "x"], ["--id", "1", "--min-interval", "2s", "--max-interval", "1s"]]) {
    const run = await runLikesServer(args);
    assert.equal(run.code, 2, args.join(" "));
    assert.match(run.stderr, /^likes_server: .+\n$/);
  }
  const help = await runLikesServer(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--max-likes N\s+Most likes in one message \(default: 42\)/);
  assert.match(help.stdout, /--duration DURATION\s+.*\(default: 5m\)/);
});

Deno.test("in plain mode a LikesServer never retries a sent message: no reply is an unknown outcome and a failure", async () => {
  // A peer that reads and never answers.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const received: string[] = [];
  const conns: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      conns.push(conn);
      const buffer = new Uint8Array(1024);
      conn.read(buffer).then((n) => received.push(new TextDecoder().decode(buffer.subarray(0, n ?? 0))), () => {});
    }
  })().catch(() => {});
  const dir = await tempDir();
  try {
    const run = await runLikesServer({
      id: 2,
      port: listener.addr.port,
      logDir: dir,
      ...FAST,
      protocol: "plain",
      replyTimeout: 300,
    });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /error: message seq=1 may or may not have been counted: /);
    assert.equal(received.length, 1, "sent once, never retried");
    assert.match(received[0], /^LikesServer2 \d+\n$/);
    const log = likesServerEntries(await Deno.readTextFile(`${dir}/LikesServer2`));
    assert.ok(log.some((e) => e.kind === "unknown" && e.server === 2 && e.seq === 1), JSON.stringify(log));
  } finally {
    listener.close();
    for (const conn of conns) conn.close();
    await serving;
  }
});

Deno.test("in plain mode a LikesServer retries a message whose connection could not be made", async () => {
  const port = freePort();
  const dir = await tempDir();
  const running = runLikesServer([
    ...["--id", "3", "--port", String(port), "--log-dir", dir, "--duration", "3s", "--min-interval", "10ms"],
    ...["--max-interval", "10ms", "--protocol", "plain"],
  ]);
  // Only once it has failed to connect does the primary appear.
  await eventually("a connect error in the LikesServer's log", async () => {
    const log = await Deno.readTextFile(`${dir}/LikesServer3`).catch(() => "");
    return likesServerEntries(log).some((e) => e.kind === "send error" && e.phase === "connect");
  });
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const serving = (async () => {
    for await (const conn of listener) {
      const buffer = new Uint8Array(1024);
      await conn.read(buffer).catch(() => null);
      await conn.write(new TextEncoder().encode("Likes received")).catch(() => 0);
      conn.close();
    }
  })().catch(() => {});
  try {
    const run = await running;
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, /connect error: .*retrying/);
    const log = likesServerEntries(await Deno.readTextFile(`${dir}/LikesServer3`));
    assert.ok(
      log.some((e) => e.kind === "answered" && e.server === 3 && e.reply === "Likes received" && e.seq === 1),
      JSON.stringify(log),
    );
  } finally {
    listener.close();
    await serving;
  }
});
