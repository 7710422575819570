/**
 * Crash recovery of the primary alone: kill -9 in the middle of heavy
 * pipelined traffic, then restart on the same log and state and check that
 * both agree with each other and with what clients were told.
 */
import assert from "node:assert/strict";
import { parsePrimaryLog } from "../../lib/formats/primary_log.ts";
import type { PrimaryOptions } from "../../lib/primary/options.ts";
import { startPrimary, storedTotal } from "../support/primary.ts";
import { exchange, pipeline } from "../support/client.ts";

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
async function killAndResend(flags: Partial<PrimaryOptions>, producers: number, perProducer: number): Promise<void> {
  const first = await startPrimary({ flags: { http: "off", ...flags } });
  let killed: Promise<Deno.CommandStatus> | undefined;
  const counts = new Array(producers).fill(0);
  const acked = await Promise.all(
    counts.map((_, p) =>
      pipeline(first.port, messages(p, 1, perProducer), (count) => {
        counts[p] = count;
        // Once every client is under way, so that the kill cuts into all of them.
        if (!killed && Math.min(...counts) >= perProducer / 10) killed = first.stop("SIGKILL");
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
    assert.ok(recovered.lines.some((line) => line.endsWith(` Recovered total ${recovered.last} from ${second.state}`)));
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
  await killAndResend({ durability: "fsync" }, 2, 1500);
});

Deno.test("log lines written but never committed are cut off at start-up, and a line says so", async () => {
  const first = await startPrimary({ flags: { http: "off" } });
  assert.deepEqual(await exchange(first.port, "LikesServer1 10\nLikesServer2 5 cut 1\n", 2), ["0", "0"]);
  assert.equal((await first.stop("SIGKILL")).signal, "SIGKILL");
  // What a crash between the log write and the commit leaves behind: whole lines and a half one.
  const committed = Deno.readTextFileSync(first.log);
  const uncommitted = "2030-01-01T00:00:00.000Z LikesServer1 42 Total 57\n2030-01-01T00:00:00.000Z LikesServer2 7 Tot";
  Deno.writeTextFileSync(first.log, uncommitted, { append: true });

  const second = await startPrimary({ dir: first.dir, flags: { http: "off" } });
  try {
    assert.equal(second.total, 15);
    assert.deepEqual(await exchange(second.port, "LikesServer2 5 cut 1\nLikesServer3 1\n", 2), ["0 duplicate", "0"]);
  } finally {
    assert.equal((await second.stop()).code, 0);
  }
  const text = Deno.readTextFileSync(first.log);
  assert.ok(text.startsWith(committed), "the committed part is kept byte for byte");
  assert.ok(!text.includes("LikesServer1 42"), "the uncommitted lines are gone");
  const rest = parsePrimaryLog(text.slice(committed.length)).map((line) => line.entry);
  assert.deepEqual(rest.slice(0, 2), [
    {
      kind: "event",
      text: `Removed ${
        encoder.encode(uncommitted).length
      } bytes of log lines that were never committed nor acknowledged`,
    },
    { kind: "recovered", total: 15, state: second.state },
  ]);
  const final = audit(first.log);
  assert.equal(final.last, 16);
  assert.equal(final.sum, 16);
  assert.equal(storedTotal(first.state), 16);
});

Deno.test("a log shorter than the state expects is reported at start-up and kept", async () => {
  const first = await startPrimary({ flags: { http: "off" } });
  assert.deepEqual(await exchange(first.port, "LikesServer1 10\n", 1), ["0"]);
  assert.equal((await first.stop()).code, 0);
  const text = Deno.readTextFileSync(first.log);
  const kept = text.slice(0, text.indexOf("\n") + 1);
  Deno.writeTextFileSync(first.log, kept);

  const second = await startPrimary({ dir: first.dir, flags: { http: "off" } });
  assert.equal((await second.stop()).code, 0);
  assert.equal(second.total, 10);
  const after = Deno.readTextFileSync(first.log);
  assert.ok(after.startsWith(kept));
  const missing = encoder.encode(text).length - encoder.encode(kept).length;
  assert.deepEqual(parsePrimaryLog(after.slice(kept.length))[0].entry, {
    kind: "event",
    text: `The log is ${missing} bytes shorter than the state expects; it was truncated or lost data`,
  });
});

Deno.test("a log replaced by another file is never truncated, and a line says so", async () => {
  const first = await startPrimary({ flags: { http: "off" } });
  assert.deepEqual(await exchange(first.port, "LikesServer1 10\n", 1), ["0"]);
  assert.equal((await first.stop("SIGKILL")).signal, "SIGKILL");
  // Moved away and replaced, e.g. by log rotation: the new file is longer than the old mark.
  await Deno.rename(first.log, `${first.log}.1`);
  const replacement = "someone else's long line that must survive a restart\n".repeat(20);
  Deno.writeTextFileSync(first.log, replacement);

  const second = await startPrimary({ dir: first.dir, flags: { http: "off" } });
  assert.equal((await second.stop()).code, 0);
  assert.equal(second.total, 10);
  const text = Deno.readTextFileSync(first.log);
  assert.ok(text.startsWith(replacement));
  assert.deepEqual(parsePrimaryLog(text.slice(replacement.length))[0].entry, {
    kind: "event",
    text: `The state was last used with another log (${first.log}); this log is kept as it is`,
  });
});
