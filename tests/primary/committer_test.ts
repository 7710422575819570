import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Committer, type Entry } from "../../lib/primary/committer.ts";
import { Ledger } from "../../lib/primary/ledger.ts";
import { LikesLog } from "../../lib/primary/likes_log.ts";
import { primaryEntries } from "../support/logs.ts";
import type { Like } from "../../lib/protocol/message.ts";
import { Stats } from "../../lib/primary/stats.ts";
import { type Durability, Store } from "../../lib/primary/store.ts";
import { tempDir } from "../support/temp.ts";

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
}

function open(dir: string, durability: Durability = "normal"): Setup {
  const statePath = `${dir}/state.db`;
  const logPath = `${dir}/PrimaryLikesLog`;
  const store = Store.open(statePath, { durability });
  const log = LikesLog.open(logPath);
  log.recover(store.logMark);
  const ledger = new Ledger(store.total, store.takeProducers());
  const stats = new Stats();
  const committer = new Committer(ledger, store, log, stats, { durability });
  return { dir, statePath, logPath, store, log, ledger, stats, committer };
}

async function withCommitter(
  fn: (s: Setup) => Promise<void>,
  prepare?: (statePath: string) => void,
  durability?: Durability,
): Promise<void> {
  const dir = await tempDir();
  if (prepare) {
    Store.open(`${dir}/state.db`).close();
    prepare(`${dir}/state.db`);
  }
  const setup = open(dir, durability);
  try {
    await fn(setup);
  } finally {
    setup.store.close();
    setup.log.close();
    await Deno.remove(dir, { recursive: true });
  }
}

function like(server: number, likes: number, producer?: string, seq?: number): Like {
  return producer === undefined ? { kind: "like", server, likes } : { kind: "like", server, likes, producer, seq };
}

Deno.test("Committer answers each submission's messages in order and logs each like with the new total", () =>
  withCommitter(async ({ committer, logPath, store }) => {
    assert.equal(await submitText(committer, [like(3, 23), like(1, 5), like(3, 2)]), "0\n0\n0\n");
    assert.deepEqual(primaryEntries(logPath), [
      { kind: "like", server: 3, likes: 23, duplicate: false, total: 23 },
      { kind: "like", server: 1, likes: 5, duplicate: false, total: 28 },
      { kind: "like", server: 3, likes: 2, duplicate: false, total: 30 },
    ]);
    assert.equal(store.total, 30);
    assert.equal(store.logMark.offset, Deno.statSync(logPath).size);
  }));

Deno.test("Committer groups the submissions of one event-loop turn into one commit", () =>
  withCommitter(async ({ committer, stats, store, logPath }) => {
    const replies = await Promise.all([
      submitText(committer, [like(1, 1), like(1, 2)]),
      submitText(committer, [like(2, 3)]),
      submitText(committer, [like(3, 4), like(3, 5)]),
    ]);
    assert.deepEqual(replies, ["0\n0\n", "0\n", "0\n0\n"]);
    assert.equal(stats.commitCount, 1);
    assert.equal(store.total, 15);
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
  withCommitter(async ({ committer, logPath, store, stats }) => {
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
    assert.equal(store.total, 10);
    assert.equal(stats.invalid, 2);
  }));

Deno.test("Committer counts a (producer, seq) once, answers repeats `0 duplicate` and logs them as Duplicate", () =>
  withCommitter(async ({ committer, logPath, store, stats }) => {
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
    assert.equal(store.total, 12);
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
      assert.equal(second.store.total, 8);
    } finally {
      second.store.close();
      second.log.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Committer rolls a batch back when the store refuses its commit: nothing counted, nothing logged", () =>
  withCommitter(async ({ committer, logPath, store, ledger, stats }) => {
    assert.equal(await submitText(committer, [like(1, 40, "p", 1)]), "0\n");
    const logBefore = Deno.readTextFileSync(logPath);
    const [a, b] = await Promise.all([
      submitText(committer, [like(1, 30, "p", 2), { kind: "invalid", reason: "empty line", data: '""', from: "x" }]),
      submitText(committer, [like(2, 40, "q", 1), { kind: "reply", text: "0 authenticated" }, like(2, 1)]),
    ]);
    assert.equal(a, "1 storage error\n1 empty line\n");
    assert.equal(b, "1 storage error\n0 authenticated\n1 storage error\n");
    assert.equal(ledger.total, 40);
    assert.equal(store.total, 40);
    assert.equal(store.healthy, false);
    assert.equal(ledger.producer("p")?.lastSeq, 1);
    assert.equal(ledger.producer("q"), undefined);
    assert.equal(stats.failed, 5);
    // The failed batch's lines were written before the commit and must be gone.
    assert.equal(Deno.readTextFileSync(logPath), logBefore);
    assert.equal(store.logMark.offset, Deno.statSync(logPath).size);
    // A retry of the refused messages counts them, once.
    assert.equal(await submitText(committer, [like(1, 30, "p", 2)]), "0\n");
    assert.equal(store.healthy, true);
    assert.equal(await submitText(committer, [like(1, 30, "p", 2)]), "0 duplicate\n");
    assert.equal(store.total, 70);
    assert.deepEqual(primaryEntries(logPath).slice(logBefore.split("\n").length - 1), [
      { kind: "like", server: 1, likes: 30, duplicate: false, total: 70, producer: "p", seq: 2 },
      { kind: "like", server: 1, likes: 30, duplicate: true, total: 70, producer: "p", seq: 2 },
    ]);
  }, (path) => {
    // A real SQLite failure inside the commit transaction, as a full disk or an I/O error would cause.
    const db = new DatabaseSync(path);
    db.exec(
      "CREATE TRIGGER fail BEFORE UPDATE ON state WHEN NEW.total > 60 AND NEW.total <> 70 BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END",
    );
    db.close();
  }));

Deno.test("Committer answers `1 storage error` when the database has gone away", () =>
  withCommitter(async ({ committer, logPath, store, ledger }) => {
    await submitText(committer, [like(1, 1)]);
    const size = Deno.statSync(logPath).size;
    store.close();
    assert.equal(await submitText(committer, [like(1, 2)]), "1 storage error\n");
    assert.equal(ledger.total, 1);
    assert.equal(Deno.statSync(logPath).size, size);
  }));

Deno.test("Committer.event() logs a line and commits the log's new length so that recovery keeps it", () =>
  withCommitter(async ({ committer, logPath, store }) => {
    await submitText(committer, [like(1, 3)]);
    committer.event("Recovered total 3 from somewhere");
    assert.deepEqual(primaryEntries(logPath)[1], { kind: "recovered", total: 3, state: "somewhere" });
    assert.equal(store.logMark.offset, Deno.statSync(logPath).size);
    assert.equal(store.total, 3);
  }));

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

Deno.test("Committer in fsync durability commits and logs like normal mode", () =>
  withCommitter(
    async ({ committer, logPath, store }) => {
      assert.equal(await submitText(committer, [like(1, 3), like(2, 4, "p", 1)]), "0\n0\n");
      assert.equal(store.total, 7);
      assert.equal(store.logMark.offset, Deno.statSync(logPath).size);
    },
    undefined,
    "fsync",
  ));
