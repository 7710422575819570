/**
 * Crash recovery of the primary alone: kill -9 in the middle of heavy
 * pipelined traffic, then restart on the same log and state and check that
 * both agree with each other and with what clients were told.
 */
import assert from "node:assert/strict";
import { parsePrimaryLog } from "../../../../lib/formats/primary_log.ts";
import type { PrimaryOptions } from "../../../../lib/primary/options.ts";
import {
  type PrimaryProcess,
  runPrimaryToExit,
  startPrimary,
  storedCheckpoint,
  storedTotal,
} from "../../../support/primary.ts";
import { parseExposition } from "../../../support/prometheus.ts";
import { tempDir } from "../../../support/temp.ts";
import { LikesLog } from "../../../../lib/primary/likes_log.ts";
import { Store } from "../../../../lib/primary/backend/embedded/store.ts";
import { recover } from "../../../../lib/primary/backend/embedded/replay.ts";
import type { ProducerState } from "../../../../lib/primary/ledger.ts";
import { exchange, pipeline } from "../../../support/client.ts";
import { DatabaseSync } from "node:sqlite";

const encoder = new TextEncoder();

interface Audit {
  /** The last `Total` logged. */
  last: number;
  /** Sum of the likes of every accepted line. */
  sum: number;
  /** How many times each `producer/seq` was accepted. */
  accepted: Map<string, number>;
  lines: string[];
}

/** Reads the log back; every accepted line's Total must be the previous one plus its likes. */
function audit(path: string): Audit {
  const text = Deno.readTextFileSync(path);
  assert.ok(text === "" || text.endsWith("\n"), "the log ends with a whole line");
  const lines = text.split("\n").slice(0, -1);
  let last = 0, sum = 0;
  const accepted = new Map<string, number>();
  // parsePrimaryLog() throws on a line that does not start with a time.
  for (const { entry } of parsePrimaryLog(text)) {
    if (entry.kind !== "like") continue;
    if (entry.duplicate) {
      assert.equal(entry.total, sum, JSON.stringify(entry));
      continue;
    }
    sum += entry.likes;
    assert.equal(entry.total, sum, `running total of ${JSON.stringify(entry)}`);
    last = entry.total;
    if (entry.producer !== undefined) {
      const key = `${entry.producer}/${entry.seq}`;
      accepted.set(key, (accepted.get(key) ?? 0) + 1);
    }
  }
  return { last, sum, accepted, lines };
}

function likesOf(producer: number, seq: number): number {
  return ((seq * 7 + producer) % 42) + 1;
}

function messages(producer: number, from: number, to: number): string[] {
  const lines: string[] = [];
  for (let seq = from; seq <= to; seq++) {
    lines.push(`LikesServer${producer} ${likesOf(producer, seq)} crash-${producer} ${seq}`);
  }
  return lines;
}

/**
 * Several clients pipeline idempotent likes; the primary is SIGKILLed once each
 * client has a tenth of its likes acknowledged. After a restart, log and state must agree
 * and hold every acknowledged like once; resending the rest counts each once.
 */
async function killAndResend(
  flags: Partial<PrimaryOptions>,
  producers: number,
  perProducer: number,
  beforeKill?: (primary: PrimaryProcess) => Promise<void>,
): Promise<void> {
  const first = await startPrimary({ flags: { http: "off", ...flags } });
  let killed: Promise<Deno.CommandStatus> | undefined;
  const counts = new Array(producers).fill(0);
  const acked = await Promise.all(
    counts.map((_, p) =>
      pipeline(first.port, messages(p, 1, perProducer), (count) => {
        counts[p] = count;
        // Once every client is under way, so that the kill cuts into all of them.
        if (!killed && Math.min(...counts) >= perProducer / 10) {
          killed = (beforeKill?.(first) ?? Promise.resolve()).then(() => first.stop("SIGKILL"));
        }
      })
    ),
  );
  const status = await (killed ?? first.stop("SIGKILL"));
  assert.equal(status.signal, "SIGKILL");
  for (const replies of acked) assert.ok(replies.every((reply) => reply === "0"), "only 0 before the kill");

  const second = await startPrimary({ dir: first.dir, flags: { http: "off", ...flags } });
  let resentReplies: string[][];
  try {
    const recovered = audit(second.log);
    assert.equal(second.total, recovered.last, "state total == last Total in the log");
    assert.equal(recovered.last, recovered.sum);
    assert.ok(
      recovered.lines.some((line) => line.endsWith(` Recovered total ${recovered.last} from ${second.state}`)),
    );
    for (const [key, times] of recovered.accepted) assert.equal(times, 1, `${key} logged once`);
    for (const [p, replies] of acked.entries()) {
      for (let seq = 1; seq <= replies.length; seq++) {
        assert.equal(recovered.accepted.get(`crash-${p}/${seq}`), 1, `acknowledged crash-${p}/${seq} is in the log`);
      }
    }

    // Resend everything unacknowledged, same (producer, seq): what was committed
    // without its reply reaching the client is a duplicate, the rest is new.
    resentReplies = await Promise.all(
      acked.map((replies, p) => pipeline(second.port, messages(p, replies.length + 1, perProducer))),
    );
    for (const [p, replies] of resentReplies.entries()) {
      const from = acked[p].length + 1;
      assert.equal(replies.length, perProducer - acked[p].length);
      for (const [i, reply] of replies.entries()) {
        const logged = recovered.accepted.has(`crash-${p}/${from + i}`);
        assert.equal(reply, logged ? "0 duplicate" : "0", `crash-${p}/${from + i}`);
      }
    }
  } finally {
    assert.equal((await second.stop()).code, 0);
  }

  const final = audit(second.log);
  let expected = 0;
  for (let p = 0; p < producers; p++) {
    for (let seq = 1; seq <= perProducer; seq++) {
      assert.equal(final.accepted.get(`crash-${p}/${seq}`), 1, `crash-${p}/${seq} counted exactly once`);
      expected += likesOf(p, seq);
    }
  }
  assert.equal(final.sum, expected);
  assert.equal(final.last, expected);
  assert.equal(storedTotal(second.state), expected);
}

Deno.test("after kill -9 under pipelined load, log and state agree and a resend counts everything exactly once", async () => {
  await killAndResend({}, 3, 4000);
});

Deno.test("with --durability fsync, kill -9 under load loses no acknowledged like and double-counts none", async () => {
  await killAndResend({ durability: "fsync", syncOn: "loop" }, 2, 1500);
});

Deno.test("with --durability fsync, kill -9 while syncs are pipelined (batches written behind a running sync) loses no acknowledged like and double-counts none", async () => {
  let behind = 0;
  await killAndResend(
    // No commit delay: a sync starts with the first chunk, and the other connections' land behind it.
    { durability: "fsync", syncOn: "thread", commitDelay: 0, http: "127.0.0.1:0" },
    8,
    // Enough that the load still runs when pipelining shows, on a machine busy with other tests.
    8000,
    async (primary) => {
      // The kill waits (load still running) until a batch was written behind a running sync, with a deadline.
      const deadline = Date.now() + 10_000;
      while (behind === 0 && Date.now() < deadline) {
        const response = await fetch(`http://127.0.0.1:${primary.httpPort}/metrics`, {
          signal: AbortSignal.timeout(5000),
        });
        behind = parseExposition(await response.text()).value("likes_batches_written_behind_sync_total");
        if (behind === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      }
    },
  );
  assert.ok(behind > 0, "batches were written behind a running sync before the kill");
});

/** The state a replay of a copy of `log` from scratch gives: what every start-up must agree with. */
async function scratchReplay(log: string): Promise<{ total: number; producers: string[] }> {
  const dir = await tempDir();
  await Deno.copyFile(log, `${dir}/log`);
  const copy = LikesLog.open(`${dir}/log`);
  const store = Store.open(`${dir}/state.db`);
  try {
    const state = recover(copy, store, false);
    return { total: state.total, producers: describe([...state.producers]) };
  } finally {
    store.close();
    copy.close();
  }
}

function describe(producers: [string, Omit<ProducerState, "lastLikes">][]): string[] {
  return producers.map(([id, s]) => `${id} ${s.lastSeq} ${s.window.toString(2)} ${s.runStart} ${s.lastSeen}`).sort();
}

const UNTRUSTED: [string, (state: string, earlier: string, other: string) => void, RegExp][] = [
  [
    "restored from earlier",
    (state, earlier) => Deno.copyFileSync(earlier, state),
    / Replayed checkpoint at line/,
  ],
  ["deleted", (state) => Deno.removeSync(state), /holds no checkpoint.*rebuilt the state from the whole log/],
  ["emptied", (state) => Deno.truncateSync(state, 0), /holds no checkpoint.*rebuilt the state from the whole log/],
  [
    "truncated",
    (state) => Deno.truncateSync(state, 1000),
    /(not a readable database and was emptied|is damaged|cannot be read|holds no checkpoint).*/,
  ],
  [
    "taken from another log",
    (state, _, other) => Deno.copyFileSync(other, state),
    /was taken from another log; rebuilt/,
  ],
];

for (const durability of ["normal", "fsync"]) {
  for (const [what, spoil, says] of UNTRUSTED) {
    Deno.test(`${durability}: a checkpoint ${what} gives the state of a replay from scratch, and retries are duplicates`, async () => {
      const args = ["--http", "off", "--durability", durability];
      // Another log's checkpoint, shorter than ours.
      const other = await startPrimary({ args });
      await exchange(other.port, "LikesServer9 1 zz 1\n", 1);
      assert.equal((await other.stop()).code, 0);

      const first = await startPrimary({ args });
      assert.deepEqual(await pipeline(first.port, messages(1, 1, 50)), new Array(50).fill("0"));
      assert.equal((await first.stop()).code, 0);
      const earlier = `${first.dir}/earlier.db`;
      Deno.copyFileSync(first.state, earlier);
      const again = await startPrimary({ dir: first.dir, args });
      assert.deepEqual(await pipeline(again.port, messages(1, 51, 100)), new Array(50).fill("0"));
      assert.deepEqual(await pipeline(again.port, messages(2, 1, 30)), new Array(30).fill("0"));
      // Killed, so that the checkpoint also lags the log.
      assert.equal((await again.stop("SIGKILL")).signal, "SIGKILL");
      for (const suffix of ["-wal", "-shm"]) await Deno.remove(first.state + suffix).catch(() => {});
      spoil(first.state, earlier, other.state);

      const expected = await scratchReplay(first.log);
      const second = await startPrimary({ dir: first.dir, args });
      try {
        assert.equal(second.total, expected.total);
        assert.match(Deno.readTextFileSync(first.log), says);
        // Every acknowledged like is in, once: a retry of any is a duplicate.
        assert.deepEqual(await pipeline(second.port, messages(1, 1, 100)), new Array(100).fill("0 duplicate"));
        assert.deepEqual(await pipeline(second.port, messages(2, 28, 30)), new Array(3).fill("0 duplicate"));
      } finally {
        assert.equal((await second.stop()).code, 0);
      }
      let sum = 0;
      for (let seq = 1; seq <= 100; seq++) sum += likesOf(1, seq);
      for (let seq = 1; seq <= 30; seq++) sum += likesOf(2, seq);
      assert.equal(expected.total, sum);
      const after = await scratchReplay(first.log);
      const checkpoint = storedCheckpoint(first.state);
      assert.equal(checkpoint.total, after.total);
      assert.deepEqual(describe(checkpoint.producers), after.producers);
    });
  }
}

Deno.test("a torn last line is cut and logged with its size; whole lines after the checkpoint are kept and counted", async () => {
  const first = await startPrimary({ args: ["--http", "off"] });
  assert.deepEqual(await exchange(first.port, "LikesServer1 10\nLikesServer2 5 cut 1\n", 2), ["0", "0"]);
  assert.equal((await first.stop("SIGKILL")).signal, "SIGKILL");
  // What a crash leaves: a whole line written (acknowledged or not) and a torn one (never acknowledged).
  const whole = "2030-01-01T00:00:00.000Z LikesServer1 42 Total 57 producer=cut seq=2\n";
  const torn = "2030-01-01T00:00:00.000Z LikesServer2 7 Tot";
  const committed = Deno.readTextFileSync(first.log) + whole;
  Deno.writeTextFileSync(first.log, whole + torn, { append: true });

  const second = await startPrimary({ dir: first.dir, flags: { http: "off" } });
  try {
    assert.equal(second.total, 57);
    assert.deepEqual(await exchange(second.port, "LikesServer2 42 cut 2\nLikesServer3 1\n", 2), ["0 duplicate", "0"]);
  } finally {
    assert.equal((await second.stop()).code, 0);
  }
  const text = Deno.readTextFileSync(first.log);
  assert.ok(text.startsWith(committed), "every whole line is kept byte for byte");
  assert.match(
    text.slice(committed.length).split("\n")[0],
    new RegExp(`^\\S+ Removed a torn last line of ${encoder.encode(torn).length} bytes `),
  );
  assert.match(second.output(), /Removed a torn last line/);
  const final = audit(first.log);
  assert.equal(final.last, 58);
  assert.equal(storedTotal(first.state), 58);
});

Deno.test("a log line that does not replay stops start-up with its line number, and nothing is changed", async () => {
  const first = await startPrimary({ args: ["--http", "off"] });
  assert.deepEqual(await exchange(first.port, "LikesServer1 10\n", 1), ["0"]);
  assert.equal((await first.stop()).code, 0);
  const lines = Deno.readTextFileSync(first.log).split("\n");
  const likeLine = lines.findIndex((line) => line.includes("LikesServer1 10 Total 10"));
  for (
    const [bad, reason] of [["LikesServer1 10 Total 11", /its Total 11 is not 0 \+ 10/], [
      "LikesServer1 x Total 10",
      /its like count is not a number/,
    ]] as const
  ) {
    const spoiled = [...lines];
    spoiled[likeLine] = spoiled[likeLine].replace("LikesServer1 10 Total 10", bad);
    Deno.writeTextFileSync(first.log, spoiled.join("\n"));
    // Without a checkpoint, so that the whole log is replayed.
    Deno.removeSync(first.state);
    const before = Deno.readFileSync(first.log);
    const { code, stderr } = await runPrimaryToExit(["--log", first.log, "--state", first.state]);
    assert.equal(code, 1);
    assert.match(
      stderr,
      new RegExp(`^primary: Cannot replay .*: line ${likeLine + 1} does not replay, ${reason.source}`),
    );
    assert.match(stderr, /--reset/);
    assert.deepEqual(Deno.readFileSync(first.log), before);
  }
});

Deno.test("a checkpoint beyond the log's end stops start-up; --reset starts over, and the reset replays", async () => {
  const first = await startPrimary({ args: ["--http", "off"] });
  assert.deepEqual(await exchange(first.port, "LikesServer1 10 p 1\n", 1), ["0"]);
  assert.equal((await first.stop()).code, 0);
  const text = Deno.readTextFileSync(first.log);
  Deno.writeTextFileSync(first.log, text.slice(0, text.indexOf("\n") + 1));
  const { code, stderr } = await runPrimaryToExit(["--log", first.log, "--state", first.state]);
  assert.equal(code, 1);
  assert.match(
    stderr,
    /^primary: Cannot start: the checkpoint .* accounts for \d+ bytes of log \(total 10\), but .* has only \d+: the log was truncated, replaced or lost\. .*--reset/,
  );

  const reset = await startPrimary({ dir: first.dir, args: ["--http", "off", "--reset"] });
  try {
    assert.equal(reset.total, 0);
    assert.deepEqual(await exchange(reset.port, "LikesServer1 3 p 1\n", 1), ["0"]);
  } finally {
    assert.equal((await reset.stop()).code, 0);
  }
  // From scratch, the replay honours the reset line: total 3, not 13.
  Deno.removeSync(first.state);
  const again = await startPrimary({ dir: first.dir, args: ["--http", "off"] });
  assert.equal(again.total, 3);
  assert.equal((await again.stop()).code, 0);
});

Deno.test("a log deleted while in use is noticed, recreated whole from the open file, and said so", async () => {
  const primary = await startPrimary({ args: ["--log-check-every", "50ms"] });
  try {
    assert.deepEqual(await exchange(primary.port, "LikesServer1 4 d 1\n", 1), ["0"]);
    const before = Deno.readTextFileSync(primary.log);
    Deno.removeSync(primary.log);
    const deadline = Date.now() + 10_000;
    while (!/was deleted while in use/.test(primary.output())) {
      assert.ok(Date.now() < deadline, `not noticed: ${primary.output()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.deepEqual(await exchange(primary.port, "LikesServer1 5 d 2\n", 1), ["0"]);
    const text = Deno.readTextFileSync(primary.log);
    assert.ok(text.startsWith(before), "the history is back at the path");
    assert.match(
      text,
      /The log .* was deleted while in use; recreated it from the open file \(\d+ bytes\): no line lost\n/,
    );
    assert.equal(await fetch(`http://127.0.0.1:${primary.httpPort}/healthz`).then((r) => r.status), 200);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  const again = await startPrimary({ dir: primary.dir, args: ["--http", "off"] });
  assert.equal(again.total, 9);
  assert.equal((await again.stop()).code, 0);
});

Deno.test("a log replaced by another file while in use refuses likes and fails /healthz until the path is free", async () => {
  const primary = await startPrimary({ args: ["--log-check-every", "50ms"] });
  try {
    assert.deepEqual(await exchange(primary.port, "LikesServer1 4 r 1\n", 1), ["0"]);
    Deno.renameSync(primary.log, `${primary.log}.moved`);
    Deno.writeTextFileSync(primary.log, "someone else's file\n");
    const deadline = Date.now() + 10_000;
    let health = await fetch(`http://127.0.0.1:${primary.httpPort}/healthz`).then((r) => r.text());
    while (!health.includes("was replaced by another file")) {
      assert.ok(Date.now() < deadline, health);
      await new Promise((resolve) => setTimeout(resolve, 50));
      health = await fetch(`http://127.0.0.1:${primary.httpPort}/healthz`).then((r) => r.text());
    }
    assert.deepEqual(await exchange(primary.port, "LikesServer1 5 r 2\n", 1), ["1 storage error"]);
    assert.equal(Deno.readTextFileSync(primary.log), "someone else's file\n", "never written to");
    // Our file is still linked (as .moved): with the path free, the log goes on there, continuing it.
    Deno.removeSync(primary.log);
    while (!/was moved away/.test(primary.output())) {
      assert.ok(Date.now() < deadline, primary.output());
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.deepEqual(await exchange(primary.port, "LikesServer1 5 r 2\n", 1), ["0"]);
  } finally {
    assert.equal((await primary.stop()).code, 0);
  }
  assert.match(Deno.readTextFileSync(primary.log).split("\n")[0], /Continues log [0-9a-f]{64} at total 4$/);
  const again = await startPrimary({ dir: primary.dir, args: ["--http", "off"] });
  assert.equal(again.total, 9);
  assert.equal((await again.stop()).code, 0);
});

Deno.test("a seq never counted is answered `1 out of order`, never `0 duplicate`, also after a restart", async () => {
  const first = await startPrimary({ args: ["--http", "off"] });
  assert.deepEqual(await exchange(first.port, "LikesServer1 1 o 1\nLikesServer1 2 o 3\nLikesServer1 4 o 2\n", 3), [
    "0",
    "0",
    "1 out of order",
  ]);
  assert.equal((await first.stop("SIGKILL")).signal, "SIGKILL");
  const second = await startPrimary({ dir: first.dir, args: ["--http", "off"] });
  try {
    assert.equal(second.total, 3);
    assert.deepEqual(await exchange(second.port, "LikesServer1 4 o 2\nLikesServer1 2 o 3\n", 2), [
      "1 out of order",
      "0 duplicate",
    ]);
  } finally {
    assert.equal((await second.stop()).code, 0);
  }
});

/** The lines of `text` saying a checkpoint was not trusted. */
function distrustLines(text: string): string[] {
  return text.split("\n").filter((line) => /The checkpoint .* rebuilt the state from the whole log/.test(line));
}

Deno.test("a checkpoint whose total was edited by hand is not trusted: the whole log is replayed, one line says so, and the log still replays after", async () => {
  const first = await startPrimary({ args: ["--http", "off"] });
  assert.deepEqual(await exchange(first.port, "LikesServer1 10 edit 1\nLikesServer2 20 edit 2\n", 2), ["0", "0"]);
  assert.equal((await first.stop()).code, 0);
  const db = new DatabaseSync(first.state);
  db.exec("UPDATE checkpoint SET total = total + 5000");
  db.close();

  const second = await startPrimary({ dir: first.dir, args: ["--http", "off"] });
  try {
    assert.equal(second.total, 30);
    assert.deepEqual(await exchange(second.port, "LikesServer3 3 edit 3\nLikesServer2 20 edit 2\n", 2), [
      "0",
      "0 duplicate",
    ]);
  } finally {
    assert.equal((await second.stop()).code, 0);
  }
  const said = distrustLines(Deno.readTextFileSync(first.log));
  assert.equal(said.length, 1, said.join("\n"));
  assert.match(
    said[0],
    /The checkpoint .* fails its checksum \(it was changed outside the primary\); rebuilt the state from the whole log/,
  );
  assert.equal(distrustLines(second.output()).length, 1, second.output());
  const third = await startPrimary({ dir: first.dir, args: ["--http", "off"] });
  assert.equal(third.total, 33);
  assert.equal((await third.stop()).code, 0);
  assert.equal(audit(first.log).last, 33);
});

Deno.test("a checkpoint whose own checksum holds but whose total is not the log's running total at its offset is not trusted", async () => {
  const first = await startPrimary({ args: ["--http", "off"] });
  assert.deepEqual(await exchange(first.port, "LikesServer1 10 forged 1\nLikesServer2 20 forged 2\n", 2), [
    "0",
    "0",
  ]);
  assert.equal((await first.stop()).code, 0);
  // One who knows how the checksum is made rewrites the checkpoint with it.
  const store = Store.open(first.state);
  const loaded = store.load();
  assert.ok("checkpoint" in loaded, JSON.stringify(loaded));
  store.save(loaded.checkpoint.total + 5000, loaded.checkpoint, [], false);
  store.close();
  assert.equal(storedTotal(first.state), 5030, "the forged checkpoint passes the store's own checks");

  const second = await startPrimary({ dir: first.dir, args: ["--http", "off"] });
  try {
    assert.equal(second.total, 30);
    assert.deepEqual(await exchange(second.port, "LikesServer2 20 forged 2\n", 1), ["0 duplicate"]);
  } finally {
    assert.equal((await second.stop()).code, 0);
  }
  const said = distrustLines(Deno.readTextFileSync(first.log));
  assert.equal(said.length, 1, said.join("\n"));
  assert.match(
    said[0],
    /The checkpoint .* holds total 5030, but the running total of .*PrimaryLikesLog at its offset \d+ is 30; rebuilt/,
  );
  assert.equal(storedTotal(first.state), 30);
});

Deno.test("a checkpoint from the version before checksums is not trusted: one line, a whole replay, and a trusted one written", async () => {
  const first = await startPrimary({ args: ["--http", "off"] });
  assert.deepEqual(await exchange(first.port, "LikesServer1 10 old 1\n", 1), ["0"]);
  assert.equal((await first.stop()).code, 0);
  const checkpoint = storedCheckpoint(first.state);
  // The previous schema, as a primary of the version before wrote it.
  Deno.removeSync(first.state);
  const db = new DatabaseSync(first.state);
  db.exec(`CREATE TABLE checkpoint (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL,
    total INTEGER NOT NULL, log_id TEXT NOT NULL, log_offset INTEGER NOT NULL, log_lines INTEGER NOT NULL,
    log_tail BLOB NOT NULL);
  CREATE TABLE checkpoint_producers (id TEXT PRIMARY KEY, last_seq INTEGER NOT NULL, seq_window INTEGER NOT NULL,
    run_start INTEGER NOT NULL, last_seen INTEGER NOT NULL) WITHOUT ROWID;`);
  db.prepare("INSERT INTO checkpoint VALUES (1, 3, ?, ?, ?, ?, ?)")
    .run(checkpoint.total, checkpoint.logId, checkpoint.offset, checkpoint.lines, checkpoint.tail);
  for (const [id, p] of checkpoint.producers) {
    db.prepare("INSERT INTO checkpoint_producers VALUES (?, ?, ?, ?, ?)").run(
      id,
      p.lastSeq,
      p.window,
      p.runStart,
      p.lastSeen,
    );
  }
  db.close();

  const second = await startPrimary({ dir: first.dir, args: ["--http", "off"] });
  assert.equal(second.total, 10);
  assert.deepEqual(await exchange(second.port, "LikesServer1 10 old 1\n", 1), ["0 duplicate"]);
  assert.equal((await second.stop()).code, 0);
  const said = distrustLines(second.output());
  assert.equal(said.length, 1, second.output());
  assert.match(said[0], /is of version 3, not \d+; rebuilt the state from the whole log/);
  const third = await startPrimary({ dir: first.dir, args: ["--http", "off"] });
  assert.equal((await third.stop()).code, 0);
  assert.deepEqual(distrustLines(third.output()), []);
  const lines = Deno.readTextFileSync(first.log).split("\n");
  assert.match(
    lines.findLast((line) => line.includes(" Replayed "))!,
    / Replayed checkpoint at line \d+, then 0 log lines/,
  );
});

Deno.test("a like line damaged in place stops start-up with its line number instead of being skipped", async () => {
  const first = await startPrimary({ args: ["--http", "off"] });
  assert.deepEqual(await exchange(first.port, "LikesServer0 31 flip 1\nLikesServer0 22 flip 2\n", 2), ["0", "0"]);
  assert.equal((await first.stop("SIGKILL")).signal, "SIGKILL");
  const lines = Deno.readTextFileSync(first.log).split("\n");
  const last = lines.findLastIndex((line) => line.includes(" LikesServer0 22 Total 53 "));
  assert.ok(last > 0);
  for (
    const [from, to] of [["LikesServer0", "LikesServeR0"], ["LikesServer0", "LikesSerVer0"], [" Total ", "xTotal "]]
  ) {
    const spoiled = [...lines];
    spoiled[last] = spoiled[last].replace(from, to);
    Deno.writeTextFileSync(first.log, spoiled.join("\n"));
    const before = Deno.readFileSync(first.log);
    const { code, stderr } = await runPrimaryToExit(["--log", first.log, "--state", first.state], 10_000);
    assert.equal(code, 1, `${to}: ${stderr}`);
    assert.match(stderr, new RegExp(`^primary: Cannot replay .*: line ${last + 1} does not replay, .*--reset`));
    assert.deepEqual(Deno.readFileSync(first.log), before, "nothing is cut");
  }
});
