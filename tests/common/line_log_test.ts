import assert from "node:assert/strict";
import { LineLog, LogOpenError } from "../../lib/common/line_log.ts";
import { tempDir } from "../support/temp.ts";

Deno.test("LineLog.open() throws a LogOpenError naming the log, with the reason as its cause", async () => {
  const dir = await tempDir();
  Deno.mkdirSync(`${dir}/taken`);
  const error = (() => {
    try {
      LineLog.open(`${dir}/taken`);
    } catch (e) {
      return e;
    }
  })();
  assert.ok(error instanceof LogOpenError, String(error));
  assert.equal(error.path, `${dir}/taken`);
  assert.equal(error.message, `Cannot open log ${dir}/taken: ${dir}/taken is not a regular file`);
  assert.ok(error.cause instanceof Error);
});

Deno.test("LineLog.line() appends timestamped lines that survive a reopen", async () => {
  const path = `${await tempDir()}/log`;
  const first = LineLog.open(path);
  first.line("one", new Date(0));
  first.close();
  const second = LineLog.open(path);
  second.line("two", new Date(1000));
  second.close();
  assert.equal(Deno.readTextFileSync(path), "1970-01-01T00:00:00.000Z one\n1970-01-01T00:00:01.000Z two\n");
});
