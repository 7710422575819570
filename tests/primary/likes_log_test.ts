import assert from "node:assert/strict";
import { LikesLog } from "../../lib/primary/likes_log.ts";
import { withDir } from "../support/temp.ts";

Deno.test("LikesLog.open() creates the log owner-only and appends whole lines", () =>
  withDir((dir) => {
    const path = `${dir}/PrimaryLikesLog`;
    const log = LikesLog.open(path);
    try {
      assert.equal(log.size, 0);
      log.append("first\n");
      log.append("");
      log.append("second é\n");
      assert.equal(log.size, Deno.statSync(path).size);
    } finally {
      log.close();
    }
    assert.equal(Deno.readTextFileSync(path), "first\nsecond é\n");
    assert.equal(Deno.statSync(path).mode! & 0o777, 0o600);
  }));

Deno.test("LikesLog appends to an existing log instead of overwriting it", () =>
  withDir((dir) => {
    const path = `${dir}/PrimaryLikesLog`;
    Deno.writeTextFileSync(path, "before\n");
    const log = LikesLog.open(path);
    try {
      assert.equal(log.size, 7);
      log.append("after\n");
    } finally {
      log.close();
    }
    assert.equal(Deno.readTextFileSync(path), "before\nafter\n");
  }));

Deno.test("LikesLog.open() refuses a symlink and a directory", () =>
  withDir((dir) => {
    Deno.writeTextFileSync(`${dir}/target`, "precious");
    Deno.symlinkSync(`${dir}/target`, `${dir}/link`);
    assert.throws(() => LikesLog.open(`${dir}/link`), /refusing to follow a symlink/);
    assert.equal(Deno.readTextFileSync(`${dir}/target`), "precious");
    Deno.mkdirSync(`${dir}/sub`);
    assert.throws(() => LikesLog.open(`${dir}/sub`), /is not a regular file/);
  }));

Deno.test("LikesLog.wholeEnd() finds the end of the last whole line, past any torn one", () =>
  withDir((dir) => {
    const path = `${dir}/PrimaryLikesLog`;
    const log = LikesLog.open(path);
    try {
      assert.equal(log.wholeEnd(), 0);
      log.append("torn");
      assert.equal(log.wholeEnd(), 0);
      log.truncate(0);
      log.append("one\n" + "x".repeat(100_000) + "\ntor");
      assert.equal(log.wholeEnd(), 100_005);
      assert.equal(log.size, 100_008);
    } finally {
      log.close();
    }
  }));

Deno.test("LikesLog.id() is the hash of the first line, and empty until there is one", () =>
  withDir((dir) => {
    const log = LikesLog.open(`${dir}/a`);
    const other = LikesLog.open(`${dir}/b`);
    try {
      assert.equal(log.id(), "");
      log.append("2026-01-01T00:00:00.000Z Started\n");
      other.append("2026-01-01T00:00:00.001Z Started\n");
      assert.match(log.id(), /^[0-9a-f]{64}$/);
      const id = log.id();
      log.append("more\n");
      assert.equal(log.id(), id);
      assert.notEqual(other.id(), id);
    } finally {
      log.close();
      other.close();
    }
  }));

Deno.test("LikesLog.check() notices the file deleted or replaced, and recreate() brings it back whole", () =>
  withDir((dir) => {
    const path = `${dir}/PrimaryLikesLog`;
    const log = LikesLog.open(path);
    try {
      log.append("history\n");
      assert.equal(log.check(), undefined);
      Deno.removeSync(path);
      assert.equal(log.check(), "was deleted");
      log.recreate();
      assert.equal(log.check(), undefined);
      log.append("after\n");
      assert.equal(Deno.readTextFileSync(path), "history\nafter\n");
      Deno.renameSync(path, `${path}.old`);
      Deno.writeTextFileSync(path, "someone else's\n");
      assert.equal(log.check(), "was replaced by another file");
      assert.throws(() => log.recreate(), /exists again and is not empty|in use/);
      assert.equal(Deno.readTextFileSync(path), "someone else's\n");
    } finally {
      log.close();
    }
  }));

Deno.test("LikesLog.truncate() cuts back to an offset and never grows the file", () =>
  withDir((dir) => {
    const path = `${dir}/PrimaryLikesLog`;
    const log = LikesLog.open(path);
    try {
      log.append("keep\n");
      const before = log.size;
      log.append("drop\n");
      log.truncate(before);
      assert.equal(log.size, before);
      log.truncate(100);
      assert.equal(log.size, before);
      log.append("more\n");
      log.sync();
    } finally {
      log.close();
    }
    assert.equal(Deno.readTextFileSync(path), "keep\nmore\n");
  }));
