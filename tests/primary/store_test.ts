import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { Store, StoreError } from "../../lib/primary/store.ts";
import { withDir } from "../support/temp.ts";

const MARK = { path: "/tmp/some/PrimaryLikesLog", inode: 1234, offset: 567 };

function storeError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof StoreError, `expected a StoreError, got ${error}`);
    assert.match(error.message, message);
    return true;
  });
}

/** Adds a trigger that makes every commit of a total above `limit` fail, as a full disk would. */
function failCommitsAbove(path: string, limit: number): void {
  const db = new DatabaseSync(path);
  db.exec(
    `CREATE TRIGGER fail BEFORE UPDATE ON state WHEN NEW.total > ${limit} BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END`,
  );
  db.close();
}

Deno.test("Store.open() creates an owner-only WAL database starting from zero", () =>
  withDir((dir) => {
    const store = Store.open(`${dir}/state.db`);
    try {
      assert.equal(store.total, 0);
      assert.equal(store.logMark.path, "");
      assert.deepEqual(store.takeProducers(), []);
      assert.equal(store.healthy, true);
    } finally {
      store.close();
    }
    assert.equal(Deno.statSync(`${dir}/state.db`).mode! & 0o777, 0o600);
    // Bytes 18 and 19 of the SQLite header are 2 for a WAL database.
    const header = Deno.readFileSync(`${dir}/state.db`).subarray(18, 20);
    assert.deepEqual([...header], [2, 2]);
  }));

Deno.test("Store keeps the total, the log mark and the producers across a reopen", () =>
  withDir((dir) => {
    const path = `${dir}/state.db`;
    const store = Store.open(path);
    store.save({
      total: 10,
      touched: [["a", { lastSeq: 1, lastSeen: 100 }], ["b", { lastSeq: 7, lastSeen: 200 }]],
      evicted: [],
    }, MARK);
    store.save({ total: 15, touched: [["a", { lastSeq: 2, lastSeen: 300 }]], evicted: ["b"] }, {
      ...MARK,
      offset: 900,
    });
    assert.equal(store.total, 15);
    assert.deepEqual(store.logMark, { ...MARK, offset: 900 });
    store.close();
    const again = Store.open(path);
    try {
      assert.equal(again.total, 15);
      assert.deepEqual(again.logMark, { ...MARK, offset: 900 });
      assert.deepEqual(again.takeProducers(), [["a", { lastSeq: 2, lastSeen: 300 }]]);
      // The ledger owns them afterwards.
      assert.deepEqual(again.takeProducers(), []);
    } finally {
      again.close();
    }
  }));

Deno.test("Store.logMark returns a copy that callers cannot change", () =>
  withDir((dir) => {
    const store = Store.open(`${dir}/state.db`);
    try {
      store.save({ total: 1, touched: [], evicted: [] }, MARK);
      const mark = store.logMark;
      mark.offset = 0;
      assert.equal(store.logMark.offset, MARK.offset);
    } finally {
      store.close();
    }
  }));

Deno.test("Store.open() with reset starts from zero and forgets producers, keeping the log mark", () =>
  withDir((dir) => {
    const path = `${dir}/state.db`;
    const store = Store.open(path);
    store.save({ total: 42, touched: [["p", { lastSeq: 3, lastSeen: 1 }]], evicted: [] }, MARK);
    store.close();
    const reset = Store.open(path, { reset: true });
    try {
      assert.equal(reset.total, 0);
      assert.deepEqual(reset.takeProducers(), []);
      // The log did not change, so recovery must still know where its committed part ends.
      assert.deepEqual(reset.logMark, MARK);
    } finally {
      reset.close();
    }
    const after = Store.open(path);
    assert.equal(after.total, 0);
    after.close();
  }));

Deno.test("Store.forget() deletes expired producers", () =>
  withDir((dir) => {
    const path = `${dir}/state.db`;
    const store = Store.open(path);
    store.save({
      total: 0,
      touched: [["a", { lastSeq: 1, lastSeen: 1 }], ["b", { lastSeq: 1, lastSeen: 2 }]],
      evicted: [],
    }, MARK);
    store.forget(["a"]);
    store.forget([]);
    store.close();
    const again = Store.open(path);
    assert.deepEqual(again.takeProducers().map(([id]) => id), ["b"]);
    again.close();
  }));

Deno.test("Store.forget() that fails deletes nothing, leaves no transaction open, and commits go on", () =>
  withDir((dir) => {
    const path = `${dir}/state.db`;
    const store = Store.open(path);
    store.save({ total: 1, touched: [["a", { lastSeq: 1, lastSeen: 1 }]], evicted: [] }, MARK);
    store.close();
    const db = new DatabaseSync(path);
    db.exec("CREATE TRIGGER keep BEFORE DELETE ON producers BEGIN SELECT RAISE(ABORT, 'simulated disk failure'); END");
    db.close();
    const again = Store.open(path);
    storeError(() => again.forget(["a"]), /^Cannot forget expired producers in .*: simulated disk failure$/);
    again.save({ total: 2, touched: [], evicted: [] }, MARK);
    assert.equal(again.healthy, true);
    again.close();
    const third = Store.open(path);
    assert.equal(third.total, 2);
    assert.deepEqual(third.takeProducers().map(([id]) => id), ["a"]);
    third.close();
  }));

Deno.test("Store.open() refuses a state that another store holds open", () =>
  withDir((dir) => {
    const path = `${dir}/state.db`;
    const first = Store.open(path);
    try {
      first.save({ total: 5, touched: [], evicted: [] }, MARK);
      storeError(
        () => Store.open(path),
        /^Cannot open state file .*: database is locked \(is another primary running on it\?\)$/,
      );
      storeError(() => Store.open(path, { reset: true }), /locked/);
      // The refused open, even with reset, changed nothing.
      first.save({ total: 6, touched: [], evicted: [] }, MARK);
    } finally {
      first.close();
    }
    const again = Store.open(path);
    assert.equal(again.total, 6);
    again.close();
  }));

Deno.test("Store.open() refuses a file that is not a database and leaves it untouched", () =>
  withDir((dir) => {
    const path = `${dir}/state.db`;
    const garbage = new TextEncoder().encode("this is not a database\n".repeat(200));
    Deno.writeFileSync(path, garbage);
    storeError(() => Store.open(path), /^Cannot open state file .*state\.db: file is not a database$/);
    storeError(() => Store.open(path, { reset: true }), /file is not a database/);
    assert.deepEqual(Deno.readFileSync(path), garbage);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["state.db"]);
  }));

Deno.test("Store.open() refuses a database whose pages are damaged", () =>
  withDir((dir) => {
    const path = `${dir}/state.db`;
    const store = Store.open(path);
    const touched: [string, { lastSeq: number; lastSeen: number }][] = [];
    for (let i = 0; i < 2000; i++) touched.push([`producer-${i}`, { lastSeq: i + 1, lastSeen: i }]);
    store.save({ total: 5, touched, evicted: [] }, MARK);
    store.close();
    const bytes = Deno.readFileSync(path);
    assert.ok(bytes.length > 5 * 4096);
    bytes.fill(0x41, 3 * 4096, 5 * 4096);
    Deno.writeFileSync(path, bytes);
    storeError(
      () => Store.open(path),
      /^Cannot open state file .*: (integrity check failed|database disk image is malformed)[^\n]*$/,
    );
    assert.deepEqual(Deno.readFileSync(path), bytes);
  }));

Deno.test("Store.open() refuses a directory at the state path", () =>
  withDir((dir) => {
    Deno.mkdirSync(`${dir}/state.db`);
    storeError(() => Store.open(`${dir}/state.db`), /is not a regular file$/);
  }));

Deno.test("Store.open() refuses a state path whose parent is a file", () =>
  withDir((dir) => {
    Deno.writeTextFileSync(`${dir}/file`, "x");
    storeError(() => Store.open(`${dir}/file/state.db`), /^Cannot open state file .*file\/state\.db: Not a directory/);
  }));

Deno.test("Store.open() refuses to follow a symlink and leaves its target alone", () =>
  withDir((dir) => {
    Deno.writeTextFileSync(`${dir}/target`, "precious");
    Deno.symlinkSync(`${dir}/target`, `${dir}/state.db`);
    storeError(() => Store.open(`${dir}/state.db`), /refusing to follow a symlink/);
    assert.equal(Deno.readTextFileSync(`${dir}/target`), "precious");
  }));

Deno.test("Store.save() that fails stores nothing of the batch, turns unhealthy, and recovers on the next commit", () =>
  withDir((dir) => {
    const path = `${dir}/state.db`;
    Store.open(path).close();
    failCommitsAbove(path, 100);
    const store = Store.open(path);
    try {
      store.save({ total: 50, touched: [["a", { lastSeq: 1, lastSeen: 1 }]], evicted: [] }, MARK);
      storeError(
        () =>
          store.save({ total: 101, touched: [["b", { lastSeq: 1, lastSeen: 2 }]], evicted: ["a"] }, {
            ...MARK,
            offset: 999,
          }),
        /^Cannot commit to .*: simulated disk failure$/,
      );
      assert.equal(store.healthy, false);
      assert.equal(store.total, 50);
      assert.deepEqual(store.logMark, MARK);
      store.save({ total: 60, touched: [], evicted: [] }, { ...MARK, offset: 700 });
      assert.equal(store.healthy, true);
    } finally {
      store.close();
    }
    const again = Store.open(path);
    try {
      assert.equal(again.total, 60);
      assert.equal(again.logMark.offset, 700);
      assert.deepEqual(again.takeProducers(), [["a", { lastSeq: 1, lastSeen: 1 }]]);
    } finally {
      again.close();
    }
  }));

Deno.test("Store.save() after close() fails with a StoreError", () =>
  withDir((dir) => {
    const store = Store.open(`${dir}/state.db`);
    store.close();
    store.close();
    storeError(() => store.save({ total: 1, touched: [], evicted: [] }, MARK), /^Cannot commit to /);
    assert.equal(store.healthy, false);
  }));

Deno.test("Store opens in fsync durability and keeps what it committed", () =>
  withDir((dir) => {
    const path = `${dir}/state.db`;
    const store = Store.open(path, { durability: "fsync" });
    store.save({ total: 3, touched: [], evicted: [] }, MARK);
    store.close();
    const again = Store.open(path, { durability: "fsync" });
    assert.equal(again.total, 3);
    again.close();
  }));

Deno.test("Store keeps the largest sequence number a message may carry exactly", () =>
  withDir((dir) => {
    const path = `${dir}/state.db`;
    const store = Store.open(path);
    const state = { lastSeq: Number.MAX_SAFE_INTEGER, lastSeen: 1_900_000_000_000 };
    store.save({ total: Number.MAX_SAFE_INTEGER - 1, touched: [["p", state]], evicted: [] }, MARK);
    store.close();
    const again = Store.open(path);
    try {
      assert.deepEqual(again.takeProducers(), [["p", state]]);
      assert.equal(again.total, Number.MAX_SAFE_INTEGER - 1);
    } finally {
      again.close();
    }
  }));
