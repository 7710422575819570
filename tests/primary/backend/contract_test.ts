/**
 * The store contract (store_contract.ts) run against every backend through
 * the backend interface, opened by openBackend() as primary.ts opens it: the
 * embedded backend over a temp dir, the Redis backend on a real redis-server
 * (each open a primary of its own, with its own log and id). Reopening
 * recovers, as a restart does. Outcomes are the commit path's replies; the
 * totals after each like are read back from the lines it logged.
 */
import { openBackend } from "../../../lib/primary/backend/open.ts";
import { Health } from "../../../lib/primary/health.ts";
import { WINDOW } from "../../../lib/primary/ledger.ts";
import { LikesLog } from "../../../lib/primary/likes_log.ts";
import { primaryDefaults, type PrimaryOptions } from "../../../lib/primary/options.ts";
import { Stats } from "../../../lib/primary/stats.ts";
import { parsePrimaryLog } from "../../../lib/formats/primary_log.ts";
import { sleep } from "../../../lib/common/sleep.ts";
import { REASONS } from "../../../lib/protocol/replies.ts";
import { type ContractOutcome, type ContractStore, storeContract } from "./store_contract.ts";
import { REDIS, startRedis } from "../../support/redis.ts";
import { tempDir } from "../../support/temp.ts";

const decoder = new TextDecoder();
const OUTCOMES: Record<string, ContractOutcome> = {
  "0": "accepted",
  "0 duplicate": "duplicate",
  "1 out of order": "out of order",
  [`1 ${REASONS.seqReused.text}`]: "seq reused",
};

/** A shared backend hears of the others' likes by polling, every third of the lease. */
const REDIS_LEASE_MS = 150;

async function openThroughInterface(options: PrimaryOptions): Promise<ContractStore> {
  const log = LikesLog.open(options.log);
  const backend = await openBackend(options, { log, stats: new Stats(), health: new Health() });
  const stopTimers = backend.serve();
  return {
    async commit(likes) {
      const before = log.size;
      // The total a refused first like leaves as it was (on a shared store, as last heard).
      let total = backend.total();
      const replies = decoder.decode(await backend.committer.submit([...likes])).split("\n").slice(0, -1);
      const outcomes = replies.map((reply) => {
        const outcome = OUTCOMES[reply];
        if (outcome === undefined) throw new Error(`Unexpected reply ${JSON.stringify(reply)}`);
        return outcome;
      });
      const logged = parsePrimaryLog(decoder.decode(log.read(before, log.size - before)));
      // A refused like is logged as an Invalid data line with its reason, and leaves the total as it was.
      const totals = logged.flatMap(({ entry }) => {
        if (entry.kind === "like") return [total = entry.total];
        return entry.kind === "invalid" && entry.reason === REASONS.seqReused.text ? [total] : [];
      });
      if (totals.length !== outcomes.length) {
        throw new Error(`Logged ${totals.length} lines for ${outcomes.length} likes: ${JSON.stringify(logged)}`);
      }
      return { outcomes, totals };
    },
    async total() {
      // A shared total is "as last heard": let two polls pass.
      if (backend.share) await sleep(REDIS_LEASE_MS);
      return backend.total();
    },
    async close() {
      await backend.committer.drained();
      stopTimers();
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
    const options = { ...primaryDefaults, log: `${dir}/PrimaryLikesLog`, state: `${dir}/PrimaryLikes.db` };
    return {
      open: () => openThroughInterface(options),
      dispose: () => Deno.remove(dir, { recursive: true }),
    };
  },
});

storeContract({
  name: "Redis",
  window: WINDOW,
  shared: true,
  requirement: REDIS,
  async fresh() {
    const server = await startRedis();
    const dir = await tempDir();
    let opened = 0;
    return {
      // Each open is another primary: a reopen after a close is a restart of one that already ran.
      open: () => {
        const id = opened++ % 2;
        return openThroughInterface({
          ...primaryDefaults,
          store: server.url,
          primaryId: `primary-${id}`,
          log: `${dir}/PrimaryLikesLog-${id}`,
          allowVolatileStore: true,
          redisLease: REDIS_LEASE_MS,
        });
      },
      async dispose() {
        await server.stop("SIGKILL");
        await Deno.remove(dir, { recursive: true });
      },
    };
  },
});
