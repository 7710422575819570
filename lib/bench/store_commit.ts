/**
 * The Redis commit alone: RedisStore.commit() driven with batches shaped like
 * the primary's (P producers, each sending its next K seqs), against a private
 * redis-server, reporting likes/s and redis-server's CPU per like. It isolates
 * the commit script's cost from the rest of the primary: what limits several
 * primaries on one Redis is Redis's single core (docs/scaling.md).
 *
 *   deno run -A lib/bench/store_commit.ts [--duration 3s] [--committers N] [--shapes 50x32,10x1,1x1]
 *
 * (-A: it starts redis-server and writes under the work dir; it is a
 * developer's measurement, not a task with least-privilege grants.)
 */
import { type FlagSpecs, parse, parseProgramFlags, runProgram } from "../common/cli.ts";
import { parseRedisInfo, redisCommand, startRedis } from "./redis.ts";
import { DEFAULT_WORK_DIR, parseMatrix } from "./run.ts";
import { RedisStore } from "../primary/backend/redis/store.ts";
import type { Like } from "../protocol/message.ts";

/** A batch shape: `producers` producers, each with `perProducer` consecutive seqs. */
export interface BatchShape {
  producers: number;
  perProducer: number;
}

export interface CommitMeasurement {
  shape: BatchShape;
  committers: number;
  likesPerSecond: number;
  batchesPerSecond: number;
  /** redis-server CPU (user + sys, from its INFO) per like, microseconds. */
  redisCpuMicrosPerLike: number;
  /** redis-server CPU seconds per wall second over the window: 1 is one core busy. */
  redisCpuShare: number;
  /**
   * Time inside the script per batch, as Redis's own `INFO commandstats` counts it (EVALSHA,
   * whole run, warm-up included): the script's cost without the I/O and the AOF write, which
   * are the same for any script. Microseconds.
   */
  scriptMicrosPerBatch: number;
}

/**
 * Reads `usec_per_call` of one command from an `INFO commandstats` reply.
 *
 * @throws {Error} When the command has no stats line or the field is missing
 */
export function commandMicrosPerCall(info: string, command: string): number {
  const line = parseRedisInfo(info).get(`cmdstat_${command}`);
  const value = /(?:^|,)usec_per_call=([\d.]+)(?:,|$)/.exec(line ?? "")?.[1];
  if (value === undefined) throw new Error(`Cannot read usec_per_call of ${command} from INFO commandstats`);
  return Number(value);
}

export interface CommitBenchOptions {
  shapes: BatchShape[];
  /** Measured time per shape (ms). @default {3000} */
  durationMs?: number;
  /** Stores committing at once, each its own connection and producers (as primaries would). @default {1} */
  committers?: number;
  /** @default {DEFAULT_WORK_DIR} */
  workDir?: string;
}

/** Runs each shape against a fresh redis-server (AOF on, everysec) and measures it. */
export async function measureRedisCommit(options: CommitBenchOptions): Promise<CommitMeasurement[]> {
  const { shapes, durationMs = 3000, committers = 1, workDir = DEFAULT_WORK_DIR } = options;
  await Deno.mkdir(workDir, { recursive: true });
  const results: CommitMeasurement[] = [];
  for (const shape of shapes) {
    const redis = await startRedis({ workDir, appendfsync: "everysec" });
    const url = `redis://127.0.0.1:${redis.port}`;
    const stores = await Promise.all(
      Array.from({ length: committers }, async (_, c) => {
        const store = await RedisStore.open({ url, primaryId: `p${c}` });
        // Commits are refused without the claim on the id, as a primary holds it.
        await store.claim(crypto.randomUUID(), 3_600_000);
        return store;
      }),
    );
    try {
      let likes = 0;
      let batches = 0;
      let measuring = false;
      let stop = false;
      const loop = async (store: RedisStore, c: number) => {
        const seqs = new Array(shape.producers).fill(0);
        let logged = "";
        while (!stop) {
          const batch: Like[] = [];
          // Interleaved as connections' chunks arrive: each producer's run in order.
          for (let k = 0; k < shape.perProducer; k++) {
            for (let p = 0; p < shape.producers; p++) {
              batch.push({ kind: "like", server: p, likes: 1 + (k % 42), producer: `c${c}-p${p}`, seq: ++seqs[p] });
            }
          }
          const result = await store.commit(batch, Date.now(), logged);
          // The primary confirms what it logged on its next commit: the journal stays short.
          logged = result.journalId;
          if (measuring) {
            likes += batch.length;
            batches++;
          }
        }
      };
      const running = stores.map(loop);
      await new Promise((resolve) => setTimeout(resolve, Math.min(1000, durationMs / 3)));
      const cpuStart = (await redis.use()).cpuSeconds;
      const started = performance.now();
      measuring = true;
      await new Promise((resolve) => setTimeout(resolve, durationMs));
      measuring = false;
      const seconds = (performance.now() - started) / 1000;
      const cpu = (await redis.use()).cpuSeconds - cpuStart;
      stop = true;
      await Promise.all(running);
      const scriptMicros = commandMicrosPerCall(await redisCommand(redis.port, "INFO commandstats"), "evalsha");
      results.push({
        shape,
        committers,
        likesPerSecond: likes / seconds,
        batchesPerSecond: batches / seconds,
        redisCpuMicrosPerLike: likes === 0 ? NaN : cpu * 1e6 / likes,
        redisCpuShare: cpu / seconds,
        scriptMicrosPerBatch: scriptMicros,
      });
    } finally {
      for (const store of stores) store.close();
      await redis.stop();
    }
  }
  return results;
}

/** One line per measurement. */
export function formatCommitMeasurement(m: CommitMeasurement): string {
  return `${m.shape.producers}x${m.shape.perProducer} likes/batch=${m.shape.producers * m.shape.perProducer} ` +
    `committers=${m.committers}: ${Math.round(m.likesPerSecond)} likes/s, ${
      Math.round(m.batchesPerSecond)
    } batches/s, ` +
    `redis CPU ${m.redisCpuMicrosPerLike.toFixed(2)} µs/like, ${(m.redisCpuShare * 100).toFixed(0)}% of a core, ` +
    `script ${m.scriptMicrosPerBatch.toFixed(1)} µs/batch`;
}

interface StoreCommitFlags {
  /** @default {[{ producers: 50, perProducer: 32 }, { producers: 10, perProducer: 1 }, { producers: 1, perProducer: 1 }]} */
  shapes: BatchShape[];
  /** @default {3000} */
  duration: number;
  /** @default {1} */
  committers: number;
  /** @default {DEFAULT_WORK_DIR} */
  workDir: string;
}

const storeCommitSpecs: FlagSpecs<StoreCommitFlags> = {
  shapes: {
    help: "Batch shapes, PxK separated by commas: P producers with K consecutive seqs each",
    arg: "SHAPES",
    parse: (text) => parseMatrix(text).map((c) => ({ producers: c.connections, perProducer: c.pipeline })),
    format: (shapes) => shapes.map((s) => `${s.producers}x${s.perProducer}`).join(","),
  },
  duration: { help: "Measured time per shape", arg: "DURATION", parse: parse.duration },
  committers: { help: "Stores committing at once, as primaries would", arg: "N", parse: parse.integer(1, 64) },
  workDir: { help: "redis-server's temp dir goes in here", arg: "DIR", parse: parse.path },
};

if (import.meta.main) {
  runProgram("store_commit", async () => {
    const flags = parseProgramFlags(
      Deno.args,
      {
        usage: "deno run -A lib/bench/store_commit.ts [flags]",
        description:
          "Measures RedisStore.commit() alone against a private redis-server: likes/s and Redis CPU per like.",
      },
      storeCommitSpecs,
      {
        shapes: [{ producers: 50, perProducer: 32 }, { producers: 10, perProducer: 1 }, {
          producers: 1,
          perProducer: 1,
        }],
        duration: 3000,
        committers: 1,
        workDir: DEFAULT_WORK_DIR,
      },
    );
    if (!flags) return 0;
    const results = await measureRedisCommit({
      shapes: flags.shapes,
      durationMs: flags.duration,
      committers: flags.committers,
      workDir: flags.workDir,
    });
    for (const result of results) console.log(formatCommitMeasurement(result));
    return 0;
  });
}
