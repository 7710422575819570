/**
 * The store contract (store_contract.ts) run against the embedded store: the
 * primary's own Ledger, LikesLog and Committer over a temp dir, as primary.ts
 * wires them, with the SQLite checkpoint. Reopening replays the log, as a
 * restart does. Outcomes are the committer's replies; the totals after each
 * like are read back from the lines it logged.
 */
import { Committer } from "../../../../lib/primary/backend/embedded/committer.ts";
import { Ledger, WINDOW } from "../../../../lib/primary/ledger.ts";
import { LikesLog } from "../../../../lib/primary/likes_log.ts";
import { recover } from "../../../../lib/primary/backend/embedded/replay.ts";
import { Stats } from "../../../../lib/primary/stats.ts";
import { Store } from "../../../../lib/primary/backend/embedded/store.ts";
import { parsePrimaryLog } from "../../../../lib/formats/primary_log.ts";
import { type ContractOutcome, type ContractStore, storeContract } from "../store_contract.ts";
import { tempDir } from "../../../support/temp.ts";

const decoder = new TextDecoder();
const OUTCOMES: Record<string, ContractOutcome> = {
  "0": "accepted",
  "0 duplicate": "duplicate",
  "1 out of order": "out of order",
};

function openEmbedded(dir: string): ContractStore {
  const log = LikesLog.open(`${dir}/PrimaryLikesLog`);
  const store = Store.open(`${dir}/PrimaryLikes.db`);
  const recovered = recover(log, store, false);
  const ledger = new Ledger(recovered.total, recovered.producers);
  const committer = new Committer(ledger, log, new Stats(), { lines: recovered.position.lines });
  return {
    async commit(likes) {
      const before = log.size;
      const replies = decoder.decode(await committer.submit([...likes])).split("\n").slice(0, -1);
      const outcomes = replies.map((reply) => {
        const outcome = OUTCOMES[reply];
        if (outcome === undefined) throw new Error(`Unexpected reply ${JSON.stringify(reply)}`);
        return outcome;
      });
      const logged = parsePrimaryLog(decoder.decode(log.read(before, log.size - before)));
      const totals = logged.flatMap(({ entry }) => entry.kind === "like" ? [entry.total] : []);
      return { outcomes, totals };
    },
    total: () => Promise.resolve(ledger.total),
    async close() {
      await committer.drained();
      store.close();
      log.close();
    },
  };
}

storeContract({
  name: "Embedded",
  window: WINDOW,
  shared: false,
  async fresh() {
    const dir = await tempDir();
    return {
      open: () => Promise.resolve(openEmbedded(dir)),
      dispose: () => Deno.remove(dir, { recursive: true }),
    };
  },
});
