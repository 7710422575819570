/**
 * Opens the Redis backend: Redis is the commit point, shared with other
 * primaries; the log is this primary's record of what it acknowledged. At
 * start-up the batches Redis committed for it that the log lacks (it died
 * between the two) are written from its journal. No running-total check: the
 * totals jump where other primaries counted (the audit checks across all logs).
 */
import { type OpenBackend, StoreError } from "../backend.ts";
import { primaryIdOf } from "../open.ts";
import { claimPrimaryId, keepClaim } from "./claim.ts";
import { crashAfterCommitRequested, readLogTail, RedisCommitter } from "./committer.ts";
import { LogRotation } from "../../log_rotation.ts";
import { endOf } from "../../log_start.ts";
import { RedisStore } from "./store.ts";

export const openRedis: OpenBackend = async (options, { log, stats, health }) => {
  const started = performance.now();
  const primaryId = primaryIdOf(options);
  // Before Redis: whether this log has counted on a Redis store before, and the last total it was given.
  const tail = readLogTail(log);
  const redis = await RedisStore.open({
    url: options.store,
    primaryId,
    producerTtlMs: options.producerTtl,
    durability: options.durability,
    allowVolatile: options.allowVolatileStore,
    commandTimeoutMs: options.redisTimeout,
    connectTimeoutMs: options.redisTimeout,
    // An empty Redis is a new store only to a log that never counted on one; to any other, a lost one.
    createIdentity: tail.journalId === "",
  });
  const claim = crypto.randomUUID();
  let committer: RedisCommitter;
  try {
    await claimPrimaryId(redis, claim, options.redisLease);
    committer = new RedisCommitter(redis, log, stats, {
      loggedTotal: endOf(log).total,
      durability: options.durability,
      health,
      tail,
      crashAfterCommit: crashAfterCommitRequested(),
      inFlight: options.redisInFlight,
    });
    for (const note of tail.notes) {
      console.error(`primary: ${note}`);
      committer.event(note);
    }
    const floor = tail.total ?? 0;
    if (options.adoptRedisStore) {
      const adopted = await redis.adopt(floor);
      const note = `Adopted the Redis store ${options.store} on the operator's word (--adopt-redis-store): ` +
        `identity ${adopted.identity}${adopted.created ? " (new)" : ""}, total ${adopted.before}` +
        (adopted.after !== adopted.before ? ` raised to ${adopted.after}, the last this log recorded` : "");
      console.error(`primary: ${note}`);
      committer.event(note);
    }
    if (redis.identity === undefined) {
      throw new StoreError(
        `The Redis store ${options.store} lost its identity (${redis.identityKey} is gone, though this log counted ` +
          `on it up to total ${floor}: Redis was emptied or lost its data, or it is another store): check it, ` +
          `then run the primary once with --adopt-redis-store`,
      );
    }
    const total = await redis.total();
    if (total < floor) {
      throw new StoreError(
        `The Redis store ${options.store} went backwards: its total ${total} is below ${floor}, the last this log ` +
          `recorded (restored from an older copy, or another store): check it, then run the primary once with ` +
          `--adopt-redis-store`,
      );
    }
    const c = committer;
    log.carryOver = () => c.carryOver();
    log.onContinue = () => c.continued();
    log.syncEachWrite = options.durability === "fsync";
    committer.rotation = new LogRotation(log, {
      total: () => c.loggedTotal(),
      checkpoint: () => log.id(),
      saved: () => log.id(),
    }, {
      maxBytes: options.logMaxBytes,
      keep: options.logKeep,
    });
    const written = await committer.recover();
    committer.event(
      `Started on the Redis store ${options.store} as primary ${primaryId}: shared total ${committer.total}, ` +
        `${written} journal batches written to this log, in ${(performance.now() - started).toFixed(0)} ms`,
    );
  } catch (error) {
    await redis.releaseClaim(claim).catch(() => {});
    redis.close();
    throw error;
  }
  return {
    committer,
    total: () => committer.total,
    share: () => committer.share,
    serve() {
      const stopClaim = keepClaim(redis, claim, options.redisLease, (lost) => committer.fence(lost));
      // The shared total moves with the other primaries' likes; /healthz sees Redis come back.
      const pollTimer = setInterval(() => committer.poll(), Math.max(1, Math.floor(options.redisLease / 3)));
      return () => {
        stopClaim();
        clearInterval(pollTimer);
      };
    },
    async close() {
      await committer.drained();
      // Confirms the last batches, and frees the id at once for a restart. Neither is needed
      // for correctness (the next start skips what the log holds; the claim lapses), so a
      // Redis that is away makes a note, not a failed stop.
      try {
        if (committer.loggedUpTo !== "") await redis.trimJournal(committer.loggedUpTo);
        await redis.releaseClaim(claim);
      } catch (error) {
        console.error(
          `primary: Redis did not hear the stop (its claim on ${primaryId} lapses): ${(error as Error).message}`,
        );
      }
      redis.close();
      await committer.rotation?.settled();
      return undefined;
    },
  };
};
