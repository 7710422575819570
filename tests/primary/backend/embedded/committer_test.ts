import assert from "node:assert/strict";
import { Committer, type CommitterOptions } from "../../../../lib/primary/backend/embedded/committer.ts";
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

function open(
  dir: string,
  durability: Durability = "normal",
  commitDelay?: number,
  extra: Pick<CommitterOptions, "syncOn"> = {},
  checkpoints: { bytes?: number } = {},
): Setup {
  const statePath = `${dir}/state.db`;
  const logPath = `${dir}/PrimaryLikesLog`;
  const store = Store.open(statePath);
  const log = LikesLog.open(logPath);
  const recovered = recover(log, store, false);
  const ledger = new Ledger(recovered.total, recovered.producers);
  const stats = new Stats();
  const health = new Health();
  const checkpointer = new Checkpointer(store, log, ledger, health, { durability, ...checkpoints });
  const committer = new Committer(ledger, log, stats, {
    durability,
    commitDelay,
    checkpointer,
    health,
    lines: recovered.position.lines,
    ...extra,
  });
  return { dir, statePath, logPath, store, log, ledger, stats, committer, health };
}

async function withCommitter(
  fn: (s: Setup) => Promise<void>,
  durability?: Durability,
  commitDelay?: number,
  extra?: Pick<CommitterOptions, "syncOn">,
): Promise<void> {
  const dir = await tempDir();
  const setup = open(dir, durability, commitDelay, extra);
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

for (const syncOn of ["thread", "loop"] as const) {
  Deno.test(`Committer in fsync mode, syncing on the ${syncOn}, answers each batch after its sync, and batches gathered meanwhile share the next`, () =>
    withCommitter(
      async ({ committer, ledger, stats }) => {
        const first = submitText(committer, [like(1, 3), like(2, 4, "p", 1)]);
        // Submitted while the first batch's sync runs: they gather into one next batch.
        await new Promise((resolve) => setTimeout(resolve, 0));
        const rest = await Promise.all([1, 2, 3].map((seq) => submitText(committer, [like(3, 1, "q", seq)])));
        assert.equal(await first, "0\n0\n");
        assert.deepEqual(rest, ["0\n", "0\n", "0\n"]);
        assert.equal(ledger.total, 10);
        assert.ok(stats.commitCount <= 3, `${stats.commitCount} commits`);
      },
      "fsync",
      undefined,
      { syncOn },
    ));
}

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

// ---- fsync mode, pipelined: batches written behind a sync that runs on a blocking thread ----

const PIPELINED = { syncOn: "thread" } as const;
const turn = () => new Promise((resolve) => setTimeout(resolve, 5));

/** A sync the test returns or fails by hand, with the log's size when it was asked for. */
interface HeldSync {
  size: number;
  release(): void;
  fail(error: Error): void;
}

/**
 * Holds every sync of `log` (off the event loop, syncAsync()) until the test
 * releases it (then really syncs) or fails it: as a slow disk would, and as
 * one that returns EIO.
 */
function holdSyncs(log: LikesLog): HeldSync[] {
  const held: HeldSync[] = [];
  const real = log.syncAsync.bind(log);
  log.syncAsync = () =>
    new Promise<void>((resolve, reject) => {
      held.push({ size: log.size, release: () => real().then(resolve, reject), fail: reject });
    });
  return held;
}

/** Submits `entries` and notes in `order` when the reply came, under `name`. */
function tracked(committer: Committer, entries: Entry[], order: string[], name: string): Promise<string> {
  return submitText(committer, entries).then((reply) => {
    order.push(name);
    return reply;
  });
}

const EIO = () => new Error("Input/output error (os error 5)");

Deno.test("Committer pipelined in fsync mode writes batches behind the running sync and answers each once a sync covers it", () =>
  withCommitter(
    async ({ committer, log, logPath, ledger }) => {
      const held = holdSyncs(log);
      const order: string[] = [];
      const a = tracked(committer, [like(1, 3, "p", 1)], order, "a");
      await turn();
      assert.equal(held.length, 1, "batch a's sync is running");
      const b = tracked(committer, [like(2, 4, "q", 1)], order, "b");
      await turn();
      const c = tracked(committer, [like(1, 5, "p", 2), like(3, 1)], order, "c");
      await turn();
      // b and c are in the log behind a's sync, which is still the only one running; nothing is answered.
      assert.equal(held.length, 1, "at most one sync in flight");
      assert.ok(log.size > held[0].size, "later batches written while the sync runs");
      assert.equal(primaryEntries(logPath).length, 4);
      assert.deepEqual(order, []);
      held[0].release();
      assert.equal(await a, "0\n");
      await turn();
      // a's sync did not cover b and c: they wait for the next, which covers everything written since.
      assert.deepEqual(order, ["a"]);
      assert.equal(held.length, 2);
      assert.equal(held[1].size, log.size);
      held[1].release();
      assert.deepEqual(await Promise.all([b, c]), ["0\n", "0\n0\n"]);
      assert.deepEqual(order, ["a", "b", "c"]);
      assert.equal(ledger.total, 13);
      await committer.drained();
    },
    "fsync",
    0,
    PIPELINED,
  ));

Deno.test("Committer pipelined in fsync mode: a failed sync fails every batch it or a later write covers, in order, and the ledger forgets exactly those", () =>
  withCommitter(
    async ({ committer, log, logPath, ledger, stats, health, dir, store }) => {
      const held = holdSyncs(log);
      const first = submitText(committer, [like(1, 10, "p", 1)]);
      await turn();
      held[0].release();
      assert.equal(await first, "0\n");
      const synced = log.size;
      const order: string[] = [];
      // a: the sync that fails covers it; b and c are written behind that sync.
      const a = tracked(committer, [like(1, 2, "p", 2), like(2, 3, "q", 1)], order, "a");
      await turn();
      const b = tracked(committer, [like(1, 4, "p", 3), { kind: "reply", text: "0 authenticated" }], order, "b");
      await turn();
      const c = tracked(committer, [like(3, 5, "r", 1), like(3, 1)], order, "c");
      await turn();
      assert.equal(held.length, 2);
      assert.ok(log.size > held[1].size, "b and c written behind the sync");
      held[1].fail(EIO());
      assert.deepEqual(await Promise.all([a, b, c]), [
        "1 storage error\n1 storage error\n",
        "1 storage error\n0 authenticated\n",
        "1 storage error\n1 storage error\n",
      ]);
      assert.deepEqual(order, ["a", "b", "c"]);
      // Cut back to the last synced byte; the ledger is as it was after the first batch.
      assert.equal(log.size, synced);
      assert.equal(Deno.statSync(logPath).size, synced);
      assert.equal(ledger.total, 10);
      assert.equal(ledger.producer("p")?.lastSeq, 1);
      assert.equal(ledger.producer("q"), undefined);
      assert.equal(ledger.producer("r"), undefined);
      assert.equal(stats.failed, 6);
      assert.match(health.problem ?? "", /Input\/output error/);
      // Retried in order, every failed like counts, once.
      const retried = Promise.all([
        submitText(committer, [like(1, 2, "p", 2), like(2, 3, "q", 1)]),
        submitText(committer, [like(1, 4, "p", 3)]),
        submitText(committer, [like(3, 5, "r", 1), like(3, 1)]),
      ]);
      await turn();
      while (held.length > 2 && held.some((sync) => sync.size > synced)) {
        held.splice(2).forEach((sync) => sync.release());
        await turn();
      }
      assert.deepEqual(await retried, ["0\n0\n", "0\n", "0\n0\n"]);
      assert.equal(ledger.total, 25);
      assert.equal(health.problem, undefined);
      await committer.drained();
      // The log replays to the same total and dedupe state: a retry now is a duplicate.
      store.close();
      log.close();
      const again = open(dir, "fsync", 0, PIPELINED);
      try {
        assert.equal(again.ledger.total, 25);
        assert.equal(again.ledger.producer("p")?.lastSeq, 3);
        assert.equal(await submitText(again.committer, [like(1, 4, "p", 3)]), "0 duplicate\n");
      } finally {
        again.store.close();
        again.log.close();
      }
    },
    "fsync",
    0,
    PIPELINED,
  ));

Deno.test("Committer pipelined in fsync mode, under load with every fifth sync failing: each like answered 0 is counted once, nothing else is", () =>
  withCommitter(
    async ({ committer, log, ledger, dir, store }) => {
      let syncs = 0;
      let syncing = false;
      let writesBehind = 0;
      const syncAsync = log.syncAsync.bind(log);
      log.syncAsync = async () => {
        syncing = true;
        try {
          await syncAsync();
          // Slow enough for batches to pile up behind it.
          await new Promise((resolve) => setTimeout(resolve, 1));
          if (++syncs % 5 === 0) throw EIO();
        } finally {
          syncing = false;
        }
      };
      const append = log.append.bind(log);
      log.append = (text) => {
        if (syncing) writesBehind++;
        append(text);
      };
      // 20 clients, each with its own producer, one chunk of 1-3 likes in flight,
      // retrying a chunk answered `1 storage error` as a LikesServer does.
      let acknowledged = 0;
      const client = async (n: number) => {
        let seq = 0;
        for (let chunk = 0; chunk < 40; chunk++) {
          const likes = Array.from({ length: 1 + (chunk + n) % 3 }, () => like(n, 1 + (seq + n) % 7, `c${n}`, ++seq));
          for (;;) {
            const replies = (await submitText(committer, likes)).split("\n").slice(0, -1);
            if (replies.every((reply) => reply === "0")) break;
            assert.ok(replies.every((reply) => reply === "1 storage error"), replies.join(","));
          }
          for (const { likes: count } of likes) acknowledged += count;
          // Out of step, as real connections are: some chunks arrive while a sync runs.
          await new Promise((resolve) => setTimeout(resolve, (n + chunk) % 3));
        }
      };
      let refused = 0;
      const submit = committer.submit.bind(committer);
      committer.submit = async (entries, source) => {
        const replies = await submit(entries, source);
        if (decoder.decode(replies).includes("1 storage error")) refused++;
        return replies;
      };
      await Promise.all(Array.from({ length: 20 }, (_, n) => client(n)));
      assert.ok(refused > 0, "some chunks were refused and retried");
      await committer.drained();
      assert.ok(syncs >= 10, `${syncs} syncs, every fifth failed`);
      assert.ok(writesBehind > 0, "batches were written while a sync ran");
      assert.equal(ledger.total, acknowledged);
      store.close();
      log.close();
      const again = open(dir, "fsync", 0, PIPELINED);
      try {
        assert.equal(again.ledger.total, acknowledged);
      } finally {
        again.store.close();
        again.log.close();
      }
    },
    "fsync",
    0,
    PIPELINED,
  ));

Deno.test("Committer pipelined in fsync mode holds new batches while a due checkpoint waits for the running sync, and checkpoints only synced bytes", async () => {
  const dir = await tempDir();
  // Due once a's and b's lines are in the log (one like line is about 65 bytes), not before.
  const setup = open(dir, "fsync", 0, PIPELINED, { bytes: 100 });
  const { committer, log, store } = setup;
  try {
    const held = holdSyncs(log);
    let synced = log.size;
    const saved: number[] = [];
    const save = store.save.bind(store);
    store.save = (total, position, producers, all) => {
      assert.ok(position.offset <= synced, `checkpoint at ${position.offset}, synced to ${synced}`);
      saved.push(position.offset);
      save(total, position, producers, all);
    };
    const release = (sync: HeldSync) => {
      synced = sync.size;
      sync.release();
    };
    const a = submitText(committer, [like(1, 1, "p", 1)]);
    await turn();
    const b = submitText(committer, [like(2, 1, "q", 1)]);
    await turn();
    const afterB = log.size;
    assert.ok(held[0].size < 100 && afterB >= 100, `a ends at ${held[0].size}, b at ${afterB}`);
    // A checkpoint is due: c waits, unwritten, until a's and b's syncs are back.
    const c = submitText(committer, [like(3, 1, "r", 1)]);
    await turn();
    assert.equal(log.size, afterB);
    release(held[0]);
    assert.equal(await a, "0\n");
    await turn();
    assert.equal(log.size, afterB, "still held: b is unsynced");
    release(held[1]);
    assert.equal(await b, "0\n");
    await turn();
    assert.deepEqual(saved, [afterB]);
    assert.ok(log.size > afterB, "c written once the checkpoint is saved");
    release(held[2]);
    assert.equal(await c, "0\n");
    await committer.drained();
  } finally {
    store.close();
    log.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Committer pipelined in fsync mode runs work between batches once the running sync returns, and drained() waits for it", () =>
  withCommitter(
    async ({ committer, log, ledger }) => {
      const held = holdSyncs(log);
      const a = submitText(committer, [like(1, 1, "p", 1)]);
      await turn();
      let ran = -1;
      // As expiry or the log file's check would: they must see no open batch.
      committer.betweenBatches(() => ran = ledger.openBatches);
      assert.equal(ran, -1, "waits for the sync");
      let drained = false;
      const done = committer.drained().then(() => drained = true);
      await turn();
      assert.equal(drained, false);
      held[0].release();
      assert.equal(await a, "0\n");
      await done;
      assert.equal(ran, 0);
    },
    "fsync",
    0,
    PIPELINED,
  ));
