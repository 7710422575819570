import assert from "node:assert/strict";
import type { PrimaryLogEntry } from "../../lib/formats/primary_log.ts";
import { primaryEntries } from "../support/logs.ts";
import {
  type PrimaryProcess,
  runPrimaryToExit,
  startPrimary,
  storedCheckpoint,
  storedTotal,
} from "../support/primary.ts";
import { exchange, pipeline, readReplies } from "../support/client.ts";
import { primarySpecs } from "../../lib/primary/options.ts";
import { tempDir } from "../support/temp.ts";
import { toFlags } from "../../lib/common/cli.ts";

const ROOT = new URL("../../", import.meta.url);
const encoder = new TextEncoder();

function logLines(path: string): string[] {
  return Deno.readTextFileSync(path).split("\n").slice(0, -1);
}

/** The last `Total` in the log and the sum of the likes it counted. */
function logTotals(entries: PrimaryLogEntry[]): { last: number; sum: number } {
  let last = 0, sum = 0;
  for (const entry of entries) {
    if (entry.kind === "like" && !entry.duplicate) {
      sum += entry.likes;
      last = entry.total;
      assert.equal(entry.total, sum, `running total in ${JSON.stringify(entry)}`);
    }
  }
  return { last, sum };
}

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  deadline = 5000,
): Promise<T> {
  const started = Date.now();
  while (true) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() - started > deadline) throw new Error(`Timed out after ${deadline}ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function openConnections(primary: PrimaryProcess): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${primary.httpPort}/api/stats`);
  return (await response.json()).connectionsOpen;
}

const latin1 = (bytes: Uint8Array | undefined) => bytes && String.fromCharCode(...bytes);

Deno.test("primary counts valid likes, rejects invalid ones and logs both", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  try {
    const replies = await exchange(primary.port, "LikesServer3 23\nLikesServer3 43\nhello\nLikesServer1 5\n", 4);
    assert.deepEqual(replies, ["0", "1 likes above maximum", "1 unknown message", "0"]);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const entries = primaryEntries(primary.log).filter((e) => e.kind === "like" || e.kind === "invalid");
  assert.deepEqual(entries.map((e) => e.kind === "invalid" ? { ...e, from: "" } : e), [
    { kind: "like", server: 3, likes: 23, duplicate: false, total: 23 },
    { kind: "invalid", data: encoder.encode("LikesServer3 43"), reason: "likes above maximum", from: "" },
    { kind: "invalid", data: encoder.encode("hello"), reason: "unknown message", from: "" },
    { kind: "like", server: 1, likes: 5, duplicate: false, total: 28 },
  ]);
});

Deno.test("primary logs invalid data escaped byte for byte, counts none of it, and keeps the connection", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  const hostile = [
    new Uint8Array([...encoder.encode("LikesServer1 5"), 0x1b, ...encoder.encode("[2J")]),
    new Uint8Array([0xff, 0xfe, 0x22, 0x5c, 0x00, 0x0d]),
    encoder.encode("LikesServer1 -4"),
    encoder.encode("LikesServer1 5 producer"),
  ];
  try {
    const data = new Uint8Array([...hostile.flatMap((line) => [...line, 0x0a]), ...encoder.encode("LikesServer1 2\n")]);
    assert.deepEqual(await exchange(primary.port, data, 5), [
      "1 likes not an integer",
      "1 unknown message",
      "1 negative likes",
      "1 missing sequence number",
      "0",
    ]);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  for (const line of logLines(primary.log)) assert.match(line, /^[\x20-\x7e]*$/, "printable ASCII only");
  const entries = primaryEntries(primary.log);
  const invalid = entries.flatMap((e) => e.kind === "invalid" ? [e.data] : []);
  assert.deepEqual(invalid, hostile);
  assert.deepEqual(logTotals(entries), { last: 2, sum: 2 });
});

Deno.test("primary answers a line over --max-line, logs its head, then closes the connection", async () => {
  const primary = await startPrimary({ flags: { http: "off", maxLine: 32 } });
  try {
    const replies = await exchange(primary.port, `LikesServer1 1\n${"X".repeat(100)}\nLikesServer1 2\n`, 3);
    assert.deepEqual(replies, ["0", "1 line too long"]);
    // Other connections are served as before.
    assert.deepEqual(await exchange(primary.port, "LikesServer1 4\n", 1), ["0"]);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const entries = primaryEntries(primary.log);
  const tooLong = entries.filter((e) => e.kind === "invalid" && e.reason === "line too long");
  assert.deepEqual(tooLong.map((e) => e.kind === "invalid" && e.data), [encoder.encode("X".repeat(32))]);
  assert.deepEqual(logTotals(entries), { last: 5, sum: 5 });
});

Deno.test("primary answers thousands of pipelined lines in the order they were sent", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  const lines: string[] = [];
  const expected: string[] = [];
  let total = 0;
  for (let i = 0; i < 3000; i++) {
    if (i % 7 === 3) {
      lines.push(`LikesServer${i % 10} ${43 + i}`);
      expected.push("1 likes above maximum");
    } else if (i % 11 === 5) {
      lines.push(`LikesServer2 1 p ${i}`);
      lines.push(`LikesServer2 1 p ${i}`);
      expected.push("0", "0 duplicate");
      total += 1;
    } else {
      lines.push(`LikesServer${i % 10} ${i % 43}`);
      expected.push("0");
      total += i % 43;
    }
  }
  try {
    assert.deepEqual(await exchange(primary.port, lines.join("\n") + "\n", expected.length), expected);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  assert.deepEqual(logTotals(primaryEntries(primary.log)), { last: total, sum: total });
  assert.equal(storedTotal(primary.state), total);
});

Deno.test("primary has a like in its log before it acknowledges it", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  try {
    for (let i = 1; i <= 5; i++) {
      assert.deepEqual(await exchange(primary.port, `LikesServer7 ${i}\n`, 1), ["0"]);
      // No waiting: the line must already be there when the reply arrives.
      assert.deepEqual(primaryEntries(primary.log).at(-1), {
        kind: "like",
        server: 7,
        likes: i,
        duplicate: false,
        total: (i * (i + 1)) / 2,
      });
    }
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`primary on ${signal} answers what it received, logs every acknowledged like, ends with Stopped, exits 0`, async () => {
    const primary = await startPrimary({ flags: { http: "off" } });
    const lines = Array.from({ length: 6000 }, (_, i) => `LikesServer4 ${(i % 5) + 1} stop-${signal} ${i + 1}`);
    let stopped: Promise<Deno.CommandStatus> | undefined;
    const replies = await pipeline(primary.port, lines, (count) => {
      // Stop while the client is still sending; a signal is sent once (a second one would kill).
      if (count >= 500 && !stopped) stopped = primary.stop(signal);
    });
    const status = await (stopped ?? primary.stop(signal));
    assert.equal(status.code, 0, primary.output());
    assert.ok(replies.length >= 500);
    assert.ok(replies.every((reply) => reply === "0"), "no reply other than 0");

    const log = primaryEntries(primary.log);
    const { last, sum } = logTotals(log);
    assert.equal(last, sum);
    assert.deepEqual(log.at(-1), { kind: "stopped", signal, total: last });
    assert.equal(storedTotal(primary.state), last);
    assert.match(primary.output(), new RegExp(`stopped by ${signal}: total ${last}\\n`));
    const logged = new Map<number, number>();
    for (const entry of log) {
      if (entry.kind === "like" && !entry.duplicate) logged.set(entry.seq!, (logged.get(entry.seq!) ?? 0) + 1);
    }
    for (let seq = 1; seq <= replies.length; seq++) assert.equal(logged.get(seq), 1, `acknowledged seq ${seq}`);
    // And the other way round: every like it counted was answered before it exited.
    assert.equal(logged.size, replies.length);
  });
}

Deno.test("primary sent SIGTERM the moment it prints its ready line still stops cleanly", async () => {
  // startPrimary() polls for the ready line; this reacts to it at once, as a supervisor would.
  const once = async () => {
    const dir = await tempDir();
    try {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          ...["run", "-A", new URL("primary.ts", ROOT).pathname],
          ...toFlags(primarySpecs, { port: 0, http: "off", log: `${dir}/log`, state: `${dir}/state.db` }),
        ],
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const deadline = setTimeout(() => child.kill("SIGKILL"), 15_000);
      let text = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        if (!text.includes("ready") && (text += chunk).includes("ready")) child.kill("SIGTERM");
        else text += chunk;
      }
      const { code } = await child.status;
      clearTimeout(deadline);
      assert.equal(code, 0, text);
      assert.deepEqual(primaryEntries(`${dir}/log`).at(-1), { kind: "stopped", signal: "SIGTERM", total: 0 });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  };
  for (let round = 0; round < 2; round++) await Promise.all(Array.from({ length: 6 }, once));
});

Deno.test("primary restarted on its state continues from the stored total and says so", async () => {
  const first = await startPrimary({ flags: { http: "off" } });
  try {
    assert.deepEqual(await exchange(first.port, "LikesServer1 20\nLikesServer2 10\n", 2), ["0", "0"]);
  } finally {
    assert.equal((await first.stop()).code, 0);
  }
  const second = await startPrimary({ dir: first.dir, flags: { http: "off" } });
  try {
    assert.equal(second.total, 30);
    assert.deepEqual(await exchange(second.port, "LikesServer1 1\n", 1), ["0"]);
  } finally {
    assert.equal((await second.stop()).code, 0);
  }
  const entries = primaryEntries(first.log);
  // The first start found nothing to recover; the second recovered the first's total.
  assert.deepEqual(entries.filter((e) => e.kind === "new" || e.kind === "recovered"), [
    { kind: "new", state: first.state },
    { kind: "recovered", total: 30, state: second.state },
  ]);
  assert.ok(
    entries.some((e) =>
      e.kind === "event" && /^Replayed checkpoint at line \d+, then 0 log lines in \d+ ms$/.test(e.text)
    ),
    JSON.stringify(entries),
  );
  assert.deepEqual(entries.at(-2), { kind: "like", server: 1, likes: 1, duplicate: false, total: 31 });
  assert.equal(storedTotal(first.state), 31);
});

Deno.test("primary with --reset starts from zero on purpose and says so", async () => {
  const first = await startPrimary({ flags: { http: "off" } });
  try {
    assert.deepEqual(await exchange(first.port, "LikesServer1 20\nLikesServer1 3 p 1\n", 2), ["0", "0"]);
  } finally {
    assert.equal((await first.stop()).code, 0);
  }
  const second = await startPrimary({ dir: first.dir, flags: { http: "off", reset: true } });
  try {
    assert.equal(second.total, 0);
    // The reset also forgets which (producer, seq) were applied.
    assert.deepEqual(await exchange(second.port, "LikesServer1 3 p 1\n", 1), ["0"]);
  } finally {
    assert.equal((await second.stop()).code, 0);
  }
  const entries = primaryEntries(first.log);
  assert.ok(entries.some((e) => e.kind === "reset" && e.state === first.state));
  assert.deepEqual(entries.at(-2), {
    kind: "like",
    server: 1,
    likes: 3,
    duplicate: false,
    total: 3,
    producer: "p",
    seq: 1,
  });
  assert.equal(storedTotal(first.state), 3);
});

Deno.test("primary whose checkpoint is gone rebuilds the state from the whole log and says so", async () => {
  const first = await startPrimary({ args: ["--http", "off"] });
  try {
    assert.deepEqual(await exchange(first.port, "LikesServer1 20 p 1\n", 1), ["0"]);
  } finally {
    assert.equal((await first.stop()).code, 0);
  }
  for (const suffix of ["", "-wal", "-shm"]) await Deno.remove(first.state + suffix).catch(() => {});
  const log = Deno.readFileSync(first.log);
  const second = await startPrimary({ dir: first.dir, args: ["--http", "off"] });
  try {
    assert.equal(second.total, 20);
    assert.deepEqual(await exchange(second.port, "LikesServer1 20 p 1\n", 1), ["0 duplicate"]);
  } finally {
    assert.equal((await second.stop()).code, 0);
  }
  assert.match(
    second.output(),
    /primary: The checkpoint .* holds no checkpoint .*; rebuilt the state from the whole log/,
  );
  const text = Deno.readFileSync(first.log);
  assert.deepEqual(text.subarray(0, log.length), log, "the log is kept and only appended to");
  assert.equal(storedTotal(first.state), 20);
});

Deno.test("primary empties a checkpoint that is not a database, rebuilds from the log, and says so", async () => {
  const dir = await tempDir();
  try {
    const first = await startPrimary({ dir, args: ["--http", "off"] });
    assert.deepEqual(await exchange(first.port, "LikesServer1 7\n", 1), ["0"]);
    assert.equal((await first.stop()).code, 0);
    for (const suffix of ["-wal", "-shm"]) await Deno.remove(first.state + suffix).catch(() => {});
    Deno.writeFileSync(first.state, encoder.encode("definitely not SQLite\n".repeat(300)));
    const second = await startPrimary({ dir, args: ["--http", "off"] });
    assert.equal(second.total, 7);
    assert.equal((await second.stop()).code, 0);
    assert.match(
      second.output(),
      /The checkpoint .*PrimaryLikes\.db was not a readable database and was emptied: .*not a database/,
    );
    assert.match(Deno.readTextFileSync(first.log), /was not a readable database and was emptied/);
    assert.equal(storedTotal(first.state), 7);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("primary refuses a state path it cannot write: a directory there, or a file as its parent", async () => {
  const dir = await tempDir();
  try {
    Deno.mkdirSync(`${dir}/state.db`);
    let result = await runPrimaryToExit({ state: `${dir}/state.db`, log: `${dir}/log` });
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `primary: Cannot open state file ${dir}/state.db: ${dir}/state.db is not a regular file\n`,
    );
    Deno.writeTextFileSync(`${dir}/file`, "");
    result = await runPrimaryToExit({ state: `${dir}/file/state.db`, log: `${dir}/log` });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /^primary: Cannot open state file .*\/file\/state\.db: Not a directory[^\n]*\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("primary refuses a log path it cannot open, with a clear error", async () => {
  const dir = await tempDir();
  try {
    Deno.mkdirSync(`${dir}/log`);
    const { code, stderr } = await runPrimaryToExit({ state: `${dir}/state.db`, log: `${dir}/log` });
    assert.equal(code, 1);
    assert.equal(stderr, `primary: Cannot open log ${dir}/log: ${dir}/log is not a regular file\n`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("primary exits 1 with one clear line when its likes or dashboard port is taken", async () => {
  const dir = await tempDir();
  const taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const port = taken.addr.port;
    const files = { state: `${dir}/state.db`, log: `${dir}/log` };
    let result = await runPrimaryToExit({ ...files, port });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`^primary: Cannot listen on 127\\.0\\.0\\.1:${port}: Address already in use[^\\n]*\\n$`),
    );
    result = await runPrimaryToExit({ ...files, http: `127.0.0.1:${port}` });
    assert.equal(result.code, 1);
    assert.match(
      result.stderr,
      new RegExp(`^primary: Cannot listen on 127\\.0\\.0\\.1:${port}: Address already in use[^\\n]*\\n$`),
    );
  } finally {
    taken.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a second primary on a state in use exits 1 with a clear message and touches nothing", async () => {
  const first = await startPrimary({ flags: { http: "off" } });
  try {
    assert.deepEqual(await exchange(first.port, "LikesServer1 2\n", 1), ["0"]);
    const logBefore = Deno.readTextFileSync(first.log);
    for (const reset of [false, true]) {
      const { code, stderr } = await runPrimaryToExit({ state: first.state, log: first.log, reset });
      assert.equal(code, 1);
      assert.equal(
        stderr,
        `primary: Cannot open log ${first.log}: ${first.log} is in use by another process (is another primary running?)\n`,
      );
    }
    assert.equal(Deno.readTextFileSync(first.log), logBefore);
    assert.deepEqual(await exchange(first.port, "LikesServer1 3\n", 1), ["0"]);
  } finally {
    assert.equal((await first.stop()).code, 0);
  }
  assert.equal(storedTotal(first.state), 5);
});

Deno.test("a client that disconnects in the middle of a line has that line logged as incomplete, not counted", async () => {
  const primary = await startPrimary();
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: primary.port });
    await conn.write(encoder.encode("LikesServer1 5\nLikesServer1 7"));
    assert.deepEqual(await readReplies(conn, 1), ["0"]);
    await conn.write(encoder.encode(" p-half 1"));
    conn.close();
    await until("the primary to see the disconnect", async () => (await openConnections(primary)) === 0 || undefined);
    assert.deepEqual(await exchange(primary.port, "LikesServer1 1\n", 1), ["0"]);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const entries = primaryEntries(primary.log);
  const likes = entries.filter((e) => e.kind === "like");
  assert.deepEqual(likes.map((e) => e.likes), [5, 1], "half line never counted");
  assert.ok(
    entries.some((e) =>
      e.kind === "invalid" && latin1(e.data) === "LikesServer1 7 p-half 1" && e.reason === "incomplete"
    ),
    "half line logged as incomplete",
  );
  assert.deepEqual(logTotals(likes), { last: 6, sum: 6 });
  assert.equal(storedTotal(primary.state), 6);
});

Deno.test("a client that disconnects before reading its reply is counted once, and its retry is a duplicate", async () => {
  const primary = await startPrimary({ flags: { http: "off" } });
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: primary.port });
    await conn.write(encoder.encode("LikesServer2 3 gone-1 1\nLikesServer2 4 gone-1 2\n"));
    conn.close();
    await until(
      "the likes in the log",
      () =>
        primaryEntries(primary.log).some((e) => e.kind === "like" && e.producer === "gone-1" && e.seq === 2) ||
        undefined,
    );
    assert.deepEqual(await exchange(primary.port, "LikesServer2 3 gone-1 1\nLikesServer2 4 gone-1 2\n", 2), [
      "0 duplicate",
      "0 duplicate",
    ]);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const likes = primaryEntries(primary.log).filter((e) => e.kind === "like");
  assert.deepEqual(likes.map((e) => e.duplicate), [false, false, true, true]);
  assert.deepEqual(logTotals(likes), { last: 7, sum: 7 });
});

Deno.test("primary forgets producers past --producer-ttl at start-up, in the state file too", async () => {
  const first = await startPrimary({ flags: { http: "off" } });
  try {
    assert.deepEqual(await exchange(first.port, "LikesServer1 1 old-a 1\nLikesServer1 1 old-b 1\n", 2), ["0", "0"]);
  } finally {
    assert.equal((await first.stop()).code, 0);
  }
  await new Promise((resolve) => setTimeout(resolve, 5));
  const second = await startPrimary({ dir: first.dir, flags: { http: "off", producerTtl: 1 } });
  assert.equal((await second.stop()).code, 0);
  const checkpoint = storedCheckpoint(first.state);
  assert.deepEqual(checkpoint.producers, []);
  assert.equal(checkpoint.total, 2);
});

Deno.test("primary keeps at most --max-producers producers in its state, refusing new ones while all are live", async () => {
  const primary = await startPrimary({ flags: { http: "off", maxProducers: 3 } });
  try {
    for (let i = 1; i <= 6; i++) {
      assert.deepEqual(await exchange(primary.port, `LikesServer1 1 many-${i} 1\n`, 1), [
        i <= 3 ? "0" : "1 too many producers",
      ]);
    }
    // The first are remembered: none was unseen for the TTL.
    assert.deepEqual(await exchange(primary.port, "LikesServer1 1 many-1 1\n", 1), ["0 duplicate"]);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  assert.deepEqual(storedCheckpoint(primary.state).producers.map(([id]) => id).sort(), ["many-1", "many-2", "many-3"]);
});

Deno.test("a first start says it started a new log; a restart says what it replayed and the total it recovered", async () => {
  const first = await startPrimary();
  assert.deepEqual(await pipeline(first.port, ["LikesServer1 7"]), ["0"]);
  assert.equal((await first.stop()).code, 0);
  const again = await startPrimary({ dir: first.dir });
  assert.equal((await again.stop()).code, 0);
  const kinds = primaryEntries(first.log).map((entry) =>
    entry.kind === "event" ? entry.text.replace(/\d+ ms$/, "N ms") : entry.kind
  );
  assert.deepEqual(kinds, [
    "new",
    "like",
    "stopped",
    "Replayed checkpoint at line 3, then 0 log lines in N ms",
    "recovered",
    "stopped",
  ]);
  const entries = primaryEntries(first.log);
  assert.deepEqual(entries[0], { kind: "new", state: first.state });
  assert.deepEqual(entries[4], { kind: "recovered", total: 7, state: first.state });
});
