import assert from "node:assert/strict";
import { Checkpointer } from "../../../../lib/primary/backend/embedded/checkpointer.ts";
import { Health } from "../../../../lib/primary/health.ts";
import { Ledger } from "../../../../lib/primary/ledger.ts";
import { LikesLog } from "../../../../lib/primary/likes_log.ts";
import { type Checkpoint, Store } from "../../../../lib/primary/backend/embedded/store.ts";
import { formatPrimaryLine } from "../../../../lib/formats/primary_log.ts";
import { tempDir } from "../../../support/temp.ts";

interface Setup {
  store: Store;
  log: LikesLog;
  ledger: Ledger;
  checkpointer: Checkpointer;
}

async function withCheckpointer(fn: (s: Setup) => Promise<void>): Promise<void> {
  const dir = await tempDir();
  const store = Store.open(`${dir}/state.db`);
  const log = LikesLog.open(`${dir}/PrimaryLikesLog`);
  const ledger = new Ledger();
  const checkpointer = new Checkpointer(store, log, ledger, new Health());
  try {
    await fn({ store, log, ledger, checkpointer });
  } finally {
    await checkpointer.settled();
    store.close();
    log.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/** Commits one like of `producer` to the ledger and logs its line, as the committer does for a batch. */
function commitLike({ ledger, log }: Setup, likes: number, producer: string, seq: number): void {
  ledger.begin();
  ledger.apply({ kind: "like", server: 1, likes, producer, seq }, Date.now());
  log.append(formatPrimaryLine(
    { kind: "like", server: 1, likes, duplicate: false, total: ledger.total, producer, seq },
    new Date(),
  ));
  ledger.commit(ledger.changes());
}

function loaded(store: Store): Checkpoint {
  const result = store.load();
  assert.ok("checkpoint" in result, JSON.stringify(result));
  return result.checkpoint;
}

Deno.test("Checkpointer.start() saves the state as it was when started, after the log sync, while the ledger moves on", () =>
  withCheckpointer(async (setup) => {
    const { store, log, checkpointer } = setup;
    commitLike(setup, 5, "p", 1);
    const offset = log.size;
    checkpointer.start(1);
    // The next batch, taken while the sync runs, is not in this checkpoint.
    commitLike(setup, 3, "p", 2);
    await checkpointer.settled();
    const checkpoint = loaded(store);
    assert.equal(checkpoint.total, 5);
    assert.equal(checkpoint.offset, offset);
    assert.equal(checkpoint.lines, 1);
    assert.deepEqual(checkpoint.producers.map(([id, state]) => [id, state.lastSeq]), [["p", 1]]);
  }));

Deno.test("Checkpointer.write() supersedes a started checkpoint and keeps the producers it had taken", () =>
  withCheckpointer(async (setup) => {
    const { store, log, checkpointer } = setup;
    commitLike(setup, 5, "q", 1);
    checkpointer.start(1);
    commitLike(setup, 3, "p", 1);
    assert.equal(checkpointer.write(2), true);
    await checkpointer.settled();
    // The started one, whose sync ended after the write, did not overwrite it with older state.
    const checkpoint = loaded(store);
    assert.equal(checkpoint.total, 8);
    assert.equal(checkpoint.offset, log.size);
    assert.deepEqual(checkpoint.producers.map(([id]) => id).sort(), ["p", "q"]);
  }));

Deno.test("Checkpointer.due() is false while a started checkpoint waits for its sync", () =>
  withCheckpointer(async (setup) => {
    const { checkpointer } = setup;
    commitLike(setup, 1, "p", 1);
    assert.equal(checkpointer.due(Date.now() + 60_000), true);
    checkpointer.start(1);
    assert.equal(checkpointer.due(Date.now() + 60_000), false);
    await checkpointer.settled();
    commitLike(setup, 1, "p", 2);
    assert.equal(checkpointer.due(Date.now() + 60_000), true);
  }));
