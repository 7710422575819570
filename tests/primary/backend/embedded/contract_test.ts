/**
 * The store contract (store_contract.ts) run against the embedded backend,
 * opened through the backend interface (openBackend) as primary.ts opens it,
 * over a temp dir. Reopening replays the log, as a restart does. Outcomes are
 * the commit path's replies; the totals after each like are read back from
 * the lines it logged.
 */
import { openBackend } from "../../../../lib/primary/backend/open.ts";
import { Health } from "../../../../lib/primary/health.ts";
import { WINDOW } from "../../../../lib/primary/ledger.ts";
import { LikesLog } from "../../../../lib/primary/likes_log.ts";
import { primaryDefaults } from "../../../../lib/primary/options.ts";
import { Stats } from "../../../../lib/primary/stats.ts";
import { parsePrimaryLog } from "../../../../lib/formats/primary_log.ts";
import { type ContractOutcome, type ContractStore, storeContract } from "../store_contract.ts";
import { tempDir } from "../../../support/temp.ts";

const decoder = new TextDecoder();
const OUTCOMES: Record<string, ContractOutcome> = {
  "0": "accepted",
  "0 duplicate": "duplicate",
  "1 out of order": "out of order",
};

async function openEmbedded(dir: string): Promise<ContractStore> {
  const options = { ...primaryDefaults, log: `${dir}/PrimaryLikesLog`, state: `${dir}/PrimaryLikes.db` };
  const log = LikesLog.open(options.log);
  const backend = await openBackend(options, { log, stats: new Stats(), health: new Health() });
  return {
    async commit(likes) {
      const before = log.size;
      const replies = decoder.decode(await backend.committer.submit([...likes])).split("\n").slice(0, -1);
      const outcomes = replies.map((reply) => {
        const outcome = OUTCOMES[reply];
        if (outcome === undefined) throw new Error(`Unexpected reply ${JSON.stringify(reply)}`);
        return outcome;
      });
      const logged = parsePrimaryLog(decoder.decode(log.read(before, log.size - before)));
      const totals = logged.flatMap(({ entry }) => entry.kind === "like" ? [entry.total] : []);
      return { outcomes, totals };
    },
    total: () => Promise.resolve(backend.total()),
    async close() {
      await backend.committer.drained();
      await backend.close("SIGTERM");
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
      open: () => openEmbedded(dir),
      dispose: () => Deno.remove(dir, { recursive: true }),
    };
  },
});
