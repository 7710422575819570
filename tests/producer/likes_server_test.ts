import assert from "node:assert/strict";
import { startPrimary } from "../support/primary.ts";
import { freePort } from "../support/parent.ts";
import { tempDir } from "../support/temp.ts";
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
  const log = await Deno.readTextFile(`${primary.dir}/LikesServer4`);
  const lines = log.trimEnd().split("\n");
  assert.match(
    lines[0],
    /^\S+Z LikesServer4 started producer=LikesServer4-[0-9a-f-]{36} pid=\d+ primary=127\.0\.0\.1:\d+$/,
  );
  const sent = lines.slice(1, -1);
  assert.ok(sent.length > 3, log);
  sent.forEach((line, i) =>
    assert.match(line, new RegExp(`^\\S+Z LikesServer4 (\\d|[1-3]\\d|4[0-2]) 0 seq=${i + 1}$`))
  );
  assert.match(lines.at(-1)!, /LikesServer4 finished: sent \d+ acked \d+ likes \d+$/);
});

Deno.test("the same --seed makes the same choices", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  const likes: string[][] = [];
  try {
    for (const id of [1, 2]) {
      const flags = { id, port: primary.port, logDir: primary.dir, seed: 99, ...FAST };
      assert.equal((await runLikesServer(flags)).code, 0);
      const log = await Deno.readTextFile(`${primary.dir}/LikesServer${id}`);
      likes.push([...log.matchAll(/LikesServer\d (\d+) 0 seq=/g)].map((m) => m[1]));
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
    const log = await Deno.readTextFile(`${dir}/LikesServer0`);
    assert.match(log, /LikesServer0 connect error: /);
    assert.match(log, /LikesServer0 \d+ 0 seq=1\n/);
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
    assert.match(await Deno.readTextFile(`${primary.dir}/LikesServer2`), /unacknowledged seq=1 \(cannot be retried\)/);
  } finally {
    await primary.stop();
  }
  const log = await Deno.readTextFile(primary.log);
  assert.match(log, /LikesServer1 \d+ Total/);
  assert.doesNotMatch(log, /LikesServer2 \d+ Total/);
  assert.doesNotMatch(log, /wrong/);
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
