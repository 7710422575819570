import assert from "node:assert/strict";
import { Committer } from "../../../../lib/primary/backend/embedded/committer.ts";
import type { Entry } from "../../../../lib/primary/backend/backend.ts";
import { Ledger } from "../../../../lib/primary/ledger.ts";
import { LikesLog } from "../../../../lib/primary/likes_log.ts";
import { primaryEntries } from "../../../support/logs.ts";
import type { Like } from "../../../../lib/protocol/message.ts";
import { Stats } from "../../../../lib/primary/stats.ts";
import type { Durability } from "../../../../lib/primary/backend/backend.ts";
import { Store } from "../../../../lib/primary/backend/embedded/store.ts";
import { Checkpointer } from "../../../../lib/primary/backend/embedded/checkpointer.ts";
import { Health } from "../../../../lib/primary/health.ts";
import { recover } from "../../../../lib/primary/backend/embedded/replay.ts";
import { tempDir } from "../../../support/temp.ts";

const decoder = new TextDecoder();

/** The replies to `entries`, as text. */
async function submitText(committer: Committer, entries: Entry[]): Promise<string> {
  return decoder.decode(await committer.submit(entries));
}

interface Setup {
  dir: string;
  statePath: string;
  logPath: string;
  store: Store;
  log: LikesLog;
  ledger: Ledger;
  stats: Stats;
  committer: Committer;
  health: Health;
}

function open(dir: string, durability: Durability = "normal", commitDelay?: number): Setup {
  const statePath = `${dir}/state.db`;
  const logPath = `${dir}/PrimaryLikesLog`;
  const store = Store.open(statePath);
  const log = LikesLog.open(logPath);
  const recovered = recover(log, store, false);
  const ledger = new Ledger(recovered.total, recovered.producers);
  const stats = new Stats();
  const health = new Health();
  const checkpointer = new Checkpointer(store, log, ledger, health, { durability });
  const committer = new Committer(ledger, log, stats, {
    durability,
    commitDelay,
    checkpointer,
    health,
    lines: recovered.position.lines,
  });
  return { dir, statePath, logPath, store, log, ledger, stats, committer, health };
}

async function withCommitter(
  fn: (s: Setup) => Promise<void>,
  durability?: Durability,
  commitDelay?: number,
): Promise<void> {
  const dir = await tempDir();
  const setup = open(dir, durability, commitDelay);
  try {
    await fn(setup);
  } finally {
    setup.store.close();
    try {
      setup.log.close();
    } catch { /* closed by the test */ }
    await Deno.remove(dir, { recursive: true });
  }
}

function like(server: number, likes: number, producer?: string, seq?: number): Like {
  return producer === undefined ? { kind: "like", server, likes } : { kind: "like", server, likes, producer, seq };
}

Deno.test("Committer answers each submission's messages in order and logs each like with the new total", () =>
  withCommitter(async ({ committer, logPath, ledger }) => {
    assert.equal(await submitText(committer, [like(3, 23), like(1, 5), like(3, 2)]), "0\n0\n0\n");
    assert.deepEqual(primaryEntries(logPath), [
      { kind: "like", server: 3, likes: 23, duplicate: false, total: 23 },
      { kind: "like", server: 1, likes: 5, duplicate: false, total: 28 },
      { kind: "like", server: 3, likes: 2, duplicate: false, total: 30 },
    ]);
    assert.equal(ledger.total, 30);
  }));

Deno.test("Committer groups the submissions of one event-loop turn into one commit", () =>
  withCommitter(async ({ committer, stats, ledger, logPath }) => {
    const replies = await Promise.all([
      submitText(committer, [like(1, 1), like(1, 2)]),
      submitText(committer, [like(2, 3)]),
      submitText(committer, [like(3, 4), like(3, 5)]),
    ]);
    assert.deepEqual(replies, ["0\n0\n", "0\n", "0\n0\n"]);
    assert.equal(stats.commitCount, 1);
    assert.equal(ledger.total, 15);
    assert.deepEqual(primaryEntries(logPath), [
      { kind: "like", server: 1, likes: 1, duplicate: false, total: 1 },
      { kind: "like", server: 1, likes: 2, duplicate: false, total: 3 },
      { kind: "like", server: 2, likes: 3, duplicate: false, total: 6 },
      { kind: "like", server: 3, likes: 4, duplicate: false, total: 10 },
      { kind: "like", server: 3, likes: 5, duplicate: false, total: 15 },
    ]);
    await submitText(committer, [like(1, 1)]);
    assert.equal(stats.commitCount, 2);
    assert.equal(stats.accepted, 6);
  }));

Deno.test("Committer logs invalid data as given, answers its reason and counts nothing for it", () =>
  withCommitter(async ({ committer, logPath, ledger, stats }) => {
    const entries: Entry[] = [
      like(1, 4),
      { kind: "invalid", reason: "unknown message", data: '"hello\\u001b[31m"', from: "127.0.0.1:5000" },
      { kind: "invalid", reason: "bad token", data: undefined, from: "127.0.0.1:5001" },
      { kind: "reply", text: "0 authenticated" },
      like(1, 6),
    ];
    assert.equal(await submitText(committer, entries), "0\n1 unknown message\n1 bad token\n0 authenticated\n0\n");
    assert.deepEqual(primaryEntries(logPath), [
      { kind: "like", server: 1, likes: 4, duplicate: false, total: 4 },
      {
        kind: "invalid",
        data: new TextEncoder().encode("hello\x1b[31m"),
        reason: "unknown message",
        from: "127.0.0.1:5000",
      },
      { kind: "invalid", reason: "bad token", from: "127.0.0.1:5001" },
      { kind: "like", server: 1, likes: 6, duplicate: false, total: 10 },
    ]);
    assert.equal(ledger.total, 10);
    assert.equal(stats.invalid, 2);
  }));

Deno.test("Committer counts a (producer, seq) once, answers repeats `0 duplicate` and logs them as Duplicate", () =>
  withCommitter(async ({ committer, logPath, ledger, stats }) => {
    assert.equal(
      await submitText(committer, [like(1, 5, "p", 1), like(1, 5, "p", 1), like(1, 7, "p", 2)]),
      "0\n0 duplicate\n0\n",
    );
    assert.equal(await submitText(committer, [like(1, 7, "p", 2)]), "0 duplicate\n");
    assert.deepEqual(primaryEntries(logPath), [
      { kind: "like", server: 1, likes: 5, duplicate: false, total: 5, producer: "p", seq: 1 },
      { kind: "like", server: 1, likes: 5, duplicate: true, total: 5, producer: "p", seq: 1 },
      { kind: "like", server: 1, likes: 7, duplicate: false, total: 12, producer: "p", seq: 2 },
      { kind: "like", server: 1, likes: 7, duplicate: true, total: 12, producer: "p", seq: 2 },
    ]);
    assert.equal(ledger.total, 12);
    assert.equal(stats.duplicates, 2);
    assert.equal(stats.accepted, 2);
  }));

Deno.test("Committer's dedupe state survives a reopen of store and log", async () => {
  const dir = await tempDir();
  try {
    const first = open(dir);
    await submitText(first.committer, [like(1, 5, "p", 1), like(1, 2)]);
    first.store.close();
    first.log.close();
    const second = open(dir);
    try {
      assert.equal(second.ledger.total, 7);
      assert.equal(await submitText(second.committer, [like(1, 5, "p", 1), like(1, 1, "p", 2)]), "0 duplicate\n0\n");
      assert.equal(second.ledger.total, 8);
    } finally {
      second.store.close();
      second.log.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Committer rolls a batch back when the log write fails: nothing counted, nothing logged, unhealthy until a write succeeds", () =>
  withCommitter(async ({ committer, logPath, log, ledger, stats, health }) => {
    assert.equal(await submitText(committer, [like(1, 40, "p", 1)]), "0\n");
    const logBefore = Deno.readTextFileSync(logPath);
    // One write fails as on a full disk (tests/system/disk_full_test.ts fills a real one).
    const append = log.append.bind(log);
    log.append = () => {
      log.append = append;
      throw new Deno.errors.WriteZero("No space left on device (os error 28)");
    };
    const [a, b] = await Promise.all([
      submitText(committer, [like(1, 30, "p", 2), { kind: "invalid", reason: "empty line", data: '""', from: "x" }]),
      submitText(committer, [like(2, 40, "q", 1), { kind: "reply", text: "0 authenticated" }, like(2, 1)]),
    ]);
    assert.equal(a, "1 storage error\n1 empty line\n");
    assert.equal(b, "1 storage error\n0 authenticated\n1 storage error\n");
    assert.equal(ledger.total, 40);
    assert.match(health.problem ?? "", /No space left on device/);
    assert.equal(ledger.producer("p")?.lastSeq, 1);
    assert.equal(ledger.producer("q"), undefined);
    assert.equal(stats.failed, 5);
    assert.equal(Deno.readTextFileSync(logPath), logBefore);
    // A retry of the refused messages counts them, once.
    assert.equal(await submitText(committer, [like(1, 30, "p", 2)]), "0\n");
    assert.equal(health.problem, undefined);
    assert.equal(await submitText(committer, [like(1, 30, "p", 2)]), "0 duplicate\n");
    assert.equal(ledger.total, 70);
  }));

Deno.test("Committer answers `1 storage error` when the log file has gone away", () =>
  withCommitter(async ({ committer, logPath, log, ledger }) => {
    await submitText(committer, [like(1, 1)]);
    const size = Deno.statSync(logPath).size;
    log.close();
    assert.equal(await submitText(committer, [like(1, 2)]), "1 storage error\n");
    assert.equal(ledger.total, 1);
    assert.equal(Deno.statSync(logPath).size, size);
  }));

Deno.test("Committer answers a seq below the producer's highest that was never counted `1 out of order`", () =>
  withCommitter(async ({ committer, logPath, ledger }) => {
    assert.equal(
      await submitText(committer, [like(1, 5, "p", 1), like(1, 6, "p", 3), like(1, 7, "p", 2), like(1, 6, "p", 3)]),
      "0\n0\n1 out of order\n0 duplicate\n",
    );
    assert.equal(ledger.total, 11);
    assert.deepEqual(primaryEntries(logPath)[2], {
      kind: "like",
      server: 1,
      likes: 7,
      duplicate: false,
      outOfOrder: true,
      total: 11,
      producer: "p",
      seq: 2,
    });
  }));

Deno.test("Committer.event() logs a line that replay keeps", () =>
  withCommitter(async ({ committer, logPath }) => {
    await submitText(committer, [like(1, 3)]);
    committer.event("Recovered total 3 from somewhere");
    assert.deepEqual(primaryEntries(logPath)[1], { kind: "recovered", total: 3, state: "somewhere" });
    assert.equal(committer.lines, 2);
  }));

Deno.test("Committer writes a checkpoint between batches that a restart resumes from", async () => {
  const dir = await tempDir();
  const first = open(dir);
  await submitText(first.committer, [like(1, 5, "p", 1), like(1, 2)]);
  assert.equal(first.committer.checkpoint(), true);
  await submitText(first.committer, [like(1, 4, "p", 2)]);
  first.store.close();
  first.log.close();
  const second = open(dir);
  try {
    assert.equal(second.ledger.total, 11);
    assert.equal(second.committer.lines, 3);
    assert.equal(
      await submitText(second.committer, [like(1, 5, "p", 1), like(1, 4, "p", 2)]),
      "0 duplicate\n0 duplicate\n",
    );
  } finally {
    second.store.close();
    second.log.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Committer in fsync mode answers each batch after its sync, and batches gathered meanwhile share the next", () =>
  withCommitter(async ({ committer, ledger, stats }) => {
    const first = submitText(committer, [like(1, 3), like(2, 4, "p", 1)]);
    // Submitted while the first batch's sync runs: they gather into one next batch.
    await new Promise((resolve) => setTimeout(resolve, 0));
    const rest = await Promise.all([1, 2, 3].map((seq) => submitText(committer, [like(3, 1, "q", seq)])));
    assert.equal(await first, "0\n0\n");
    assert.deepEqual(rest, ["0\n", "0\n", "0\n"]);
    assert.equal(ledger.total, 10);
    assert.ok(stats.commitCount <= 3, `${stats.commitCount} commits`);
  }, "fsync"));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Submits one like per entry of `afterMs`, each that many ms from now; resolves with all replies. */
function staggered(committer: Committer, afterMs: number[], producer: string): Promise<string[]> {
  return Promise.all(
    afterMs.map((ms, i) => sleep(ms).then(() => submitText(committer, [like(1, 1, producer, i + 1)]))),
  );
}

Deno.test("Committer in fsync mode waits up to the commit delay for as many chunks as its fullest batch, to share one sync", () =>
  withCommitter(
    async ({ committer, stats, ledger }) => {
      // Three chunks in one turn: one batch, and the committer now expects three.
      await Promise.all([1, 2, 3].map((n) => submitText(committer, [like(n, 1, `p${n}`, 1)])));
      assert.equal(stats.commitCount, 1);
      // Three chunks 20 ms apart, well inside the 500 ms delay: still one batch.
      assert.deepEqual(await staggered(committer, [0, 20, 40], "q"), ["0\n", "0\n", "0\n"]);
      assert.equal(stats.commitCount, 2);
      // A lone chunk waits the whole delay for the two that do not come...
      let started = performance.now();
      await submitText(committer, [like(1, 1, "r", 1)]);
      assert.ok(performance.now() - started >= 490, `answered after ${performance.now() - started} ms`);
      // ...and then the committer expects one, so the next lone chunk waits for nothing.
      started = performance.now();
      await submitText(committer, [like(1, 1, "r", 2)]);
      assert.ok(performance.now() - started < 490, `answered after ${performance.now() - started} ms`);
      assert.equal(stats.commitCount, 4);
      assert.equal(ledger.total, 8);
    },
    "fsync",
    500,
  ));

Deno.test("Committer in fsync mode with no commit delay syncs each chunk that comes alone", () =>
  withCommitter(
    async ({ committer, stats }) => {
      await Promise.all([1, 2, 3].map((n) => submitText(committer, [like(n, 1, `p${n}`, 1)])));
      await staggered(committer, [0, 20, 40], "q");
      assert.equal(stats.commitCount, 4);
    },
    "fsync",
    0,
  ));

Deno.test("Committer.drained() resolves once every submission has been answered", () =>
  withCommitter(async ({ committer }) => {
    await committer.drained();
    let answered = 0;
    const pending = [submitText(committer, [like(1, 1)]), submitText(committer, [like(1, 1)])].map((p) =>
      p.then(() => answered++)
    );
    await committer.drained();
    await Promise.all(pending);
    assert.equal(answered, 2);
  }));
