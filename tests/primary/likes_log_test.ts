import assert from "node:assert/strict";
import { LikesLog } from "../../lib/primary/likes_log.ts";
import { withDir } from "../support/temp.ts";

Deno.test("LikesLog.open() creates the log owner-only and appends whole lines", () =>
  withDir((dir) => {
    const path = `${dir}/PrimaryLikesLog`;
    const log = LikesLog.open(path);
    try {
      assert.equal(log.mark.offset, 0);
      log.append("first\n");
      log.append("");
      log.append("second é\n");
      assert.equal(log.mark.offset, Deno.statSync(path).size);
      assert.equal(log.mark.path, path);
      assert.equal(log.mark.inode, Deno.statSync(path).ino);
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
      assert.equal(log.mark.offset, 7);
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

Deno.test("LikesLog.recover() cuts off lines past the committed mark and says how many bytes", () =>
  withDir((dir) => {
    const path = `${dir}/PrimaryLikesLog`;
    const log = LikesLog.open(path);
    log.append("committed\n");
    const mark = log.mark;
    log.append("never committed\n");
    log.close();
    const again = LikesLog.open(path);
    try {
      assert.equal(again.recover(mark), "Removed 16 bytes of log lines that were never committed nor acknowledged");
      assert.equal(again.mark.offset, mark.offset);
      // Appends continue right after the committed part.
      again.append("next\n");
    } finally {
      again.close();
    }
    assert.equal(Deno.readTextFileSync(path), "committed\nnext\n");
  }));

Deno.test("LikesLog.recover() does nothing for a fresh state or a log that matches its mark", () =>
  withDir((dir) => {
    const path = `${dir}/PrimaryLikesLog`;
    const log = LikesLog.open(path);
    try {
      log.append("line\n");
      assert.equal(log.recover({ path: "", inode: 0, offset: 0 }), undefined);
      assert.equal(log.recover(log.mark), undefined);
      assert.equal(Deno.readTextFileSync(path), "line\n");
    } finally {
      log.close();
    }
  }));

Deno.test("LikesLog.recover() reports a log shorter than the state expects and keeps it", () =>
  withDir((dir) => {
    const path = `${dir}/PrimaryLikesLog`;
    const log = LikesLog.open(path);
    try {
      log.append("line\n");
      assert.equal(
        log.recover({ ...log.mark, offset: 25 }),
        "The log is 20 bytes shorter than the state expects; it was truncated or lost data",
      );
      assert.equal(Deno.readTextFileSync(path), "line\n");
    } finally {
      log.close();
    }
  }));

Deno.test("LikesLog.recover() never truncates a log that is not the one the state was committed with", () =>
  withDir((dir) => {
    const path = `${dir}/PrimaryLikesLog`;
    const log = LikesLog.open(path);
    try {
      log.append("a long line that must survive\n");
      const other = { ...log.mark, offset: 3 };
      assert.match(log.recover({ ...other, inode: other.inode + 1 }) ?? "", /another log .*kept as it is/);
      assert.match(log.recover({ ...other, path: `${dir}/elsewhere` }) ?? "", /another log \(.*elsewhere\)/);
      assert.equal(Deno.readTextFileSync(path), "a long line that must survive\n");
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
      const before = log.mark.offset;
      log.append("drop\n");
      log.truncate(before);
      assert.equal(log.mark.offset, before);
      log.truncate(100);
      assert.equal(log.mark.offset, before);
      log.append("more\n");
      log.sync();
    } finally {
      log.close();
    }
    assert.equal(Deno.readTextFileSync(path), "keep\nmore\n");
  }));
