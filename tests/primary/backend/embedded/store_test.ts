import assert from "node:assert/strict";
import { type Checkpoint, type LogPosition, Store } from "../../../../lib/primary/backend/embedded/store.ts";
import { StoreError } from "../../../../lib/primary/backend/backend.ts";
import { withDir } from "../../../support/temp.ts";
import { DatabaseSync } from "node:sqlite";

const POSITION: LogPosition = { logId: "abc", offset: 567, lines: 9, tail: new TextEncoder().encode("Total 5\n") };

function storeError(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof StoreError, `expected a StoreError, got ${error}`);
    assert.match(error.message, message);
    return true;
  });
}

function checkpointOf(store: Store): Checkpoint {
  const loaded = store.load();
  if ("untrusted" in loaded) throw new Error(`No checkpoint: ${loaded.untrusted}`);
  return loaded.checkpoint;
}

Deno.test("Store.open() creates an owner-only WAL database that holds no checkpoint yet", () =>
  withDir((dir) => {
    const store = Store.open(`${dir}/state.db`);
    try {
      assert.deepEqual(store.load(), { untrusted: "holds no checkpoint (it is new, empty, or from an older version)" });
    } finally {
      store.close();
    }
    assert.equal(Deno.statSync(`${dir}/state.db`).mode! & 0o777, 0o600);
    // Bytes 18 and 19 of the SQLite header are 2 for a WAL database.
    const header = Deno.readFileSync(`${dir}/state.db`).subarray(18, 20);
    assert.deepEqual([...header], [2, 2]);
  }));

Deno.test("Store keeps the checkpoint's total, log position and producers across a reopen", () =>
  withDir((dir) => {
    const path = `${dir}/state.db`;
    const store = Store.open(path);
    store.save(5, POSITION, [["a", { lastSeq: 3, window: 0b101, runStart: 1, lastSeen: 10 }], ["b", {
      lastSeq: 1,
      window: 1,
      runStart: 1,
      lastSeen: 11,
    }]]);
    store.save(7, { ...POSITION, offset: 600 }, [["b", undefined], ["c", {
      lastSeq: 9,
      window: 1,
      runStart: 1,
      lastSeen: 12,
    }]]);
    store.close();
    const again = Store.open(path);
    try {
      const checkpoint = checkpointOf(again);
      assert.equal(checkpoint.total, 7);
      assert.equal(checkpoint.offset, 600);
      assert.equal(checkpoint.lines, 9);
      assert.equal(checkpoint.logId, "abc");
      assert.deepEqual([...checkpoint.tail], [...POSITION.tail]);
      assert.deepEqual(checkpoint.producers.sort(), [
        ["a", { lastSeq: 3, window: 0b101, runStart: 1, lastSeen: 10 }],
        ["c", { lastSeq: 9, window: 1, runStart: 1, lastSeen: 12 }],
      ]);
      // A checkpoint from scratch drops producers it does not list.
      again.save(8, POSITION, [["d", { lastSeq: 1, window: 1, runStart: 1, lastSeen: 1 }]], true);
      assert.deepEqual(checkpointOf(again).producers.map(([id]) => id), ["d"]);
    } finally {
      again.close();
    }
  }));

Deno.test("Store.open() refuses a state that another store holds open", () =>
  withDir((dir) => {
    const path = `${dir}/state.db`;
    const first = Store.open(path);
    try {
      storeError(
        () => Store.open(path),
        /^Cannot open state file .*: database is locked \(is another primary running on it\?\)$/,
      );
    } finally {
      first.close();
    }
  }));

Deno.test("Store.open() fails on a file that is not a database, which Store.isDamaged() recognises", () =>
  withDir((dir) => {
    const path = `${dir}/state.db`;
    Deno.writeTextFileSync(path, "this is not a database\n".repeat(200));
    let error: unknown;
    try {
      Store.open(path);
    } catch (caught) {
      error = caught;
    }
    assert.match((error as Error).message, /^Cannot open state file .*state\.db: file is not a database$/);
    assert.equal(Store.isDamaged(error), true);
    assert.equal(Store.isDamaged(new StoreError("Cannot open state file x: database is locked")), false);
  }));

Deno.test("Store.load() reports a checkpoint whose pages are damaged as untrusted", () =>
  withDir((dir) => {
    const path = `${dir}/state.db`;
    const store = Store.open(path);
    const producers: [string, { lastSeq: number; window: number; runStart: number; lastSeen: number }][] = [];
    for (let i = 0; i < 2000; i++) {
      producers.push([`producer-${i}`, { lastSeq: i + 1, window: 1, runStart: 1, lastSeen: i }]);
    }
    store.save(5, POSITION, producers);
    store.close();
    const bytes = Deno.readFileSync(path);
    assert.ok(bytes.length > 5 * 4096);
    bytes.fill(0x41, 3 * 4096, 5 * 4096);
    Deno.writeFileSync(path, bytes);
    let loaded;
    try {
      const again = Store.open(path);
      loaded = again.load();
      again.close();
    } catch (error) {
      // Damage in the schema pages fails the open instead; either way it is not trusted.
      assert.equal(Store.isDamaged(error), true, String(error));
      return;
    }
    assert.ok("untrusted" in loaded, JSON.stringify(loaded));
  }));

Deno.test("Store.open() refuses a directory at the state path, a file as its parent, and a symlink", () =>
  withDir((dir) => {
    Deno.mkdirSync(`${dir}/state.db`);
    storeError(() => Store.open(`${dir}/state.db`), /is not a regular file$/);
    Deno.writeTextFileSync(`${dir}/file`, "x");
    storeError(() => Store.open(`${dir}/file/state.db`), /^Cannot open state file .*file\/state\.db: Not a directory/);
    Deno.writeTextFileSync(`${dir}/target`, "precious");
    Deno.symlinkSync(`${dir}/target`, `${dir}/link.db`);
    storeError(() => Store.open(`${dir}/link.db`), /refusing to follow a symlink/);
    assert.equal(Deno.readTextFileSync(`${dir}/target`), "precious");
  }));

Deno.test("Store.save() after close() fails with a StoreError", () =>
  withDir((dir) => {
    const store = Store.open(`${dir}/state.db`);
    store.close();
    store.close();
    storeError(() => store.save(1, POSITION, []), /^Cannot write checkpoint to /);
  }));

Deno.test("Store keeps the largest sequence number a message may carry exactly", () =>
  withDir((dir) => {
    const path = `${dir}/state.db`;
    const store = Store.open(path);
    const state = { lastSeq: Number.MAX_SAFE_INTEGER, window: 0xffffffff, runStart: 1, lastSeen: 1_900_000_000_000 };
    store.save(Number.MAX_SAFE_INTEGER - 1, POSITION, [["p", state]]);
    store.close();
    const again = Store.open(path);
    try {
      const checkpoint = checkpointOf(again);
      assert.deepEqual(checkpoint.producers, [["p", state]]);
      assert.equal(checkpoint.total, Number.MAX_SAFE_INTEGER - 1);
    } finally {
      again.close();
    }
  }));

Deno.test("Store.load() distrusts a checkpoint whose total, position or producers were edited by hand: its checksum fails", () =>
  withDir((dir) => {
    const edits = [
      "UPDATE checkpoint SET total = total + 5000",
      "UPDATE checkpoint SET log_lines = log_lines + 1",
      "UPDATE checkpoint SET log_offset = log_offset - 1",
      "UPDATE checkpoint SET log_id = 'abd'",
      "UPDATE checkpoint SET log_tail = X'00'",
      "UPDATE checkpoint_producers SET last_seq = last_seq + 1 WHERE id = 'a'",
      "UPDATE checkpoint_producers SET seq_window = 0 WHERE id = 'b'",
      "UPDATE checkpoint_producers SET last_seen = 0 WHERE id = 'a'",
      "DELETE FROM checkpoint_producers WHERE id = 'b'",
      "INSERT INTO checkpoint_producers VALUES ('c', 1, 1, 1, 1)",
    ];
    for (const [i, edit] of edits.entries()) {
      const path = `${dir}/state${i}.db`;
      const store = Store.open(path);
      store.save(5, POSITION, [["a", { lastSeq: 3, window: 0b101, runStart: 1, lastSeen: 10 }], ["b", {
        lastSeq: 1,
        window: 1,
        runStart: 1,
        lastSeen: 11,
      }]]);
      // An update of one producer keeps the checksum whole.
      store.save(6, { ...POSITION, offset: 600 }, [["a", { lastSeq: 4, window: 0b1011, runStart: 1, lastSeen: 12 }]]);
      assert.equal(checkpointOf(store).total, 6, "untouched, it is trusted");
      store.close();
      const db = new DatabaseSync(path);
      db.exec(edit);
      db.close();
      const again = Store.open(path);
      try {
        assert.deepEqual(again.load(), { untrusted: "fails its checksum (it was changed outside the primary)" }, edit);
      } finally {
        again.close();
      }
    }
  }));

Deno.test("Store.save() from scratch after an untrusted load writes a checkpoint that is trusted again", () =>
  withDir((dir) => {
    const path = `${dir}/state.db`;
    const store = Store.open(path);
    store.save(5, POSITION, [["a", { lastSeq: 3, window: 1, runStart: 1, lastSeen: 10 }]]);
    store.close();
    const db = new DatabaseSync(path);
    db.exec("UPDATE checkpoint_producers SET last_seq = 99");
    db.close();
    const again = Store.open(path);
    try {
      assert.ok("untrusted" in again.load());
      again.save(7, POSITION, [["b", { lastSeq: 1, window: 1, runStart: 1, lastSeen: 11 }]], true);
      const checkpoint = checkpointOf(again);
      assert.equal(checkpoint.total, 7);
      assert.deepEqual(checkpoint.producers.map(([id]) => id), ["b"]);
    } finally {
      again.close();
    }
  }));
