/**
 * A producer that retries, in order, every like answered `1 storage error`
 * gets each counted exactly once, pipelined or not: a real server on a real
 * socket, committing to a real log, refusing through the committer's own
 * refuse() (the path a deleted log takes).
 */
import assert from "node:assert/strict";
import { Committer } from "../../lib/primary/backend/embedded/committer.ts";
import { Ledger } from "../../lib/primary/ledger.ts";
import { LikesLog } from "../../lib/primary/likes_log.ts";
import { PrimaryServer } from "../../lib/primary/server.ts";
import { Stats } from "../../lib/primary/stats.ts";
import { closeQuietly, writeAll } from "../../lib/common/io.ts";
import { readReplies } from "../support/client.ts";
import { eventually } from "../support/eventually.ts";
import { tempDir } from "../support/temp.ts";

const encoder = new TextEncoder();

function likes(from: number, to: number): string {
  let text = "";
  for (let seq = from; seq <= to; seq++) text += `LikesServer1 ${seq % 5 + 1} piped ${seq}\n`;
  return text;
}

function sumOf(from: number, to: number): number {
  let sum = 0;
  for (let seq = from; seq <= to; seq++) sum += seq % 5 + 1;
  return sum;
}

for (const retryOn of ["the same connection", "a new connection"]) {
  Deno.test(`after a storage error mid-pipeline, the likes in flight behind it get 1 storage error too, and a retry of all in order on ${retryOn} counts each once`, async () => {
    const dir = await tempDir();
    const log = LikesLog.open(`${dir}/PrimaryLikesLog`);
    const ledger = new Ledger();
    const stats = new Stats();
    const committer = new Committer(ledger, log, stats);
    const server = new PrimaryServer(committer, stats, { port: 0, quietEnd: 0 });
    const { port } = server.listen();
    let conn = await Deno.connect({ hostname: "127.0.0.1", port });
    try {
      committer.refuse("the log is gone");
      await writeAll(conn, encoder.encode(likes(1, 48)));
      await eventually("the first 48 to fail", () => Promise.resolve(stats.failed >= 48));
      committer.refuse(undefined);
      // Sent before the client has read a single reply, as a pipeline does.
      await writeAll(conn, encoder.encode(likes(49, 60)));
      const replies = await readReplies(conn, 60);
      assert.deepEqual(new Set(replies), new Set(["1 storage error"]), replies.join());
      assert.equal(replies.length, 60);
      assert.equal(ledger.total, 0);
      if (retryOn === "a new connection") {
        closeQuietly(conn);
        conn = await Deno.connect({ hostname: "127.0.0.1", port });
      }
      await writeAll(conn, encoder.encode(likes(1, 60)));
      assert.deepEqual(await readReplies(conn, 60), new Array(60).fill("0"));
      assert.equal(ledger.total, sumOf(1, 60));
      // And again: every one is now a duplicate.
      await writeAll(conn, encoder.encode(likes(1, 60)));
      assert.deepEqual(new Set(await readReplies(conn, 60)), new Set(["0 duplicate"]));
      assert.equal(ledger.total, sumOf(1, 60));
    } finally {
      closeQuietly(conn);
      await server.stop();
      log.close();
      await Deno.remove(dir, { recursive: true });
    }
  });
}
