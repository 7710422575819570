/**
 * Scale-out on Redis with real processes (issue 12): a real redis-server with
 * its append-only file on, primaries as subprocesses with their least-privilege
 * grants sharing it, and a full parent run spread over them with --primaries.
 * After each run the real audit program reconciles every log against the
 * total in Redis, and that total must be the sum of the likes the LikesServers
 * logged as acknowledged: nothing lost, nothing counted twice.
 */
import assert from "node:assert/strict";
import { toFlags } from "../../lib/common/cli.ts";
import type { PrimaryLogEntry } from "../../lib/formats/primary_log.ts";
import type { LikesServerLogEntry } from "../../lib/formats/likes_server_log.ts";
import { type LaunchedPrimary, launchPrimary } from "../../lib/launch/primary_process.ts";
import { primaryGrants } from "../../lib/launch/permissions.ts";
import { type PrimaryOptions, primarySpecs } from "../../lib/primary/options.ts";
import { readRedisTotal } from "../../lib/primary/backend/redis/store.ts";
import { likesServerName } from "../../lib/protocol/names.ts";
import type { ParentOptions } from "../../lib/supervisor/options.ts";
import { runAudit } from "../support/audit.ts";
import { likesServerEntries, primaryEntries, statusEntries } from "../support/logs.ts";
import { type ParentRun, spawnParent, untilAcked } from "../support/parent.ts";
import { REDIS, type RedisServer, withRedis } from "../support/redis.ts";
import { tempDir } from "../support/temp.ts";

// The Redis client's reconnect timers outlive a stopped server in ways the sanitizers count.
const redisTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: REDIS.ignore(name), sanitizeOps: false, sanitizeResources: false, fn });

/** A full run shrunk to a few seconds; the retry window covers a dead primary or a 3 s Redis outage. */
const RUN: Partial<ParentOptions> = {
  stagger: 50,
  duration: 3000,
  minInterval: 10,
  maxInterval: 60,
  retryFor: 15_000,
  replyTimeout: 2000,
};

/** Short Redis timings: a dead Redis is noticed in half a second, a dead primary's claim lapses in one. */
const REDIS_FLAGS: Partial<PrimaryOptions> = { redisTimeout: 500, redisLease: 1000 };

interface RedisPrimary extends LaunchedPrimary {
  id: string;
  log: string;
  flags: Partial<PrimaryOptions>;
  address: string;
}

/** Starts a primary on `redis` with its least-privilege grants (its ports, its log, the Redis). */
async function startRedisPrimary(redis: RedisServer, id: string, log: string): Promise<RedisPrimary> {
  const flags = {
    host: "127.0.0.1",
    port: 0,
    http: "127.0.0.1:0",
    log,
    state: `${log}.db`,
    store: redis.url,
    primaryId: id,
    ...REDIS_FLAGS,
  };
  const launched = await launchPrimary({
    args: toFlags(primarySpecs, flags),
    grants: primaryGrants(flags),
    deno: Deno.execPath(),
  });
  return { ...launched, id, log, flags, address: `127.0.0.1:${launched.port}` };
}

async function startRedisPrimaries(redis: RedisServer, count: number): Promise<RedisPrimary[]> {
  const dir = await tempDir();
  const primaries: RedisPrimary[] = [];
  try {
    for (let i = 0; i < count; i++) {
      primaries.push(await startRedisPrimary(redis, `p${i}`, `${dir}/PrimaryLikesLog${i}`));
    }
  } catch (error) {
    for (const primary of primaries) await primary.stop("SIGKILL");
    throw error;
  }
  return primaries;
}

function spawnRun(logDir: string, servers: number, primaries: RedisPrimary[], flags: Partial<ParentOptions> = {}) {
  return spawnParent(logDir, {
    ...RUN,
    ...flags,
    servers,
    primaries: primaries.map((p) => ({ host: "127.0.0.1", port: p.port })),
  });
}

/** The run ended 0, with every LikesServer launched and ended successfully. */
function assertEverySucceeded(run: ParentRun, servers: number): void {
  assert.equal(run.code, 0, run.status + run.stderr);
  const ended = statusEntries(run.status).filter((e) => e.kind === "child ended");
  assert.equal(ended.length, servers, run.status);
  for (const entry of ended) assert.ok(entry.kind === "child ended" && entry.success && entry.code === 0, run.status);
}

async function likesServerLogs(logDir: string, servers: number): Promise<LikesServerLogEntry[][]> {
  const logs: LikesServerLogEntry[][] = [];
  for (let i = 0; i < servers; i++) {
    logs.push(likesServerEntries(await Deno.readTextFile(`${logDir}/${likesServerName(i)}`)));
  }
  return logs;
}

/**
 * The real audit over every primary log and the Redis total is exact, and
 * that total is the sum of the likes the LikesServers logged as acknowledged,
 * with none left unacknowledged. Returns the LikesServer logs.
 */
async function assertExact(
  redis: RedisServer,
  logDir: string,
  servers: number,
  primaries: RedisPrimary[],
): Promise<LikesServerLogEntry[][]> {
  const logs = await likesServerLogs(logDir, servers);
  const entries = logs.flat();
  assert.deepEqual(entries.filter((e) => e.kind === "unacknowledged"), []);
  const acked = entries.reduce((sum, e) => sum + (e.kind === "acked" ? e.likes : 0), 0);
  assert.ok(acked > 0, "the run acknowledged likes");

  const total = await readRedisTotal(redis.url);
  assert.equal(total, acked, "the Redis total is the sum of the acknowledged likes");

  const audited = await runAudit({
    logDir,
    servers,
    primaryLogs: primaries.map((p) => p.log),
    store: redis.url,
    json: true,
  });
  assert.equal(audited.code, 0, audited.out);
  const report = audited.report!;
  assert.ok(report.ok, audited.out);
  assert.equal(report.storeTotal, total);
  assert.equal(report.countedTotal, total);
  for (const s of report.servers) {
    assert.ok(s.lost === 0 && s.doubled === 0 && s.acked === s.sent && s.problems.length === 0, JSON.stringify(s));
  }
  return logs;
}

/** The like lines a primary logged as counted (not duplicates). */
function countedBy(primary: RedisPrimary): PrimaryLogEntry[] {
  return primaryEntries(primary.log).filter((e) => e.kind === "like" && !e.duplicate);
}

/** Stops the primaries with SIGTERM; their exit codes. */
async function stopAll(primaries: RedisPrimary[]): Promise<number[]> {
  return await Promise.all(primaries.map(async (p) => (await p.stop()).code));
}

async function spreadRun(primaryCount: number, servers: number): Promise<void> {
  await withRedis(async (redis) => {
    const primaries = await startRedisPrimaries(redis, primaryCount);
    const logDir = await tempDir();
    let run: ParentRun;
    try {
      run = await spawnRun(logDir, servers, primaries).done;
    } finally {
      assert.deepEqual(await stopAll(primaries), primaries.map(() => 0), primaries.map((p) => p.output()).join("\n"));
    }
    assertEverySucceeded(run, servers);
    await assertExact(redis, logDir, servers, primaries);
    // Spread by id: every primary counted some of the run.
    for (const primary of primaries) assert.ok(countedBy(primary).length > 0, `${primary.id} counted no likes`);
  });
}

redisTest("spread: a run over two primaries on one Redis is exact across both logs and the Redis total", async () => {
  await spreadRun(2, 4);
});

redisTest("spread: a run over three primaries on one Redis is exact across all logs and the Redis total", async () => {
  await spreadRun(3, 6);
});

redisTest(
  "primary killed with SIGKILL mid-run on Redis: every LikesServer fails over and succeeds, nothing lost or doubled",
  async () => {
    await withRedis(async (redis) => {
      const primaries = await startRedisPrimaries(redis, 2);
      const [a, b] = primaries;
      const logDir = await tempDir();
      const servers = 4;
      let run: ParentRun;
      try {
        const { done } = spawnRun(logDir, servers, primaries);
        // Spread by id: even ids start on a, odd ids on b.
        await untilAcked(logDir, 0);
        await untilAcked(logDir, 1);
        assert.equal((await a.stop("SIGKILL")).signal, "SIGKILL");
        run = await done;
      } finally {
        await a.stop("SIGKILL");
        assert.equal((await b.stop()).code, 0, b.output());
      }
      assertEverySucceeded(run, servers);
      // The operator restarts the dead primary with its id and log: it logs the likes of a batch it
      // may have died on between its Redis commit and its log write (from its journal in Redis).
      const restarted = await startRedisPrimary(redis, a.id, a.log);
      assert.equal((await restarted.stop()).code, 0, restarted.output());

      const logs = await assertExact(redis, logDir, servers, primaries);
      // LikesServer0 started on a and ended up sending to b.
      const started = logs[0].find((e) => e.kind === "started");
      assert.ok(started?.kind === "started" && started.primary === a.address, JSON.stringify(started));
      assert.ok(
        countedBy(b).some((e) => e.kind === "like" && e.producer === started.producer),
        "b counted likes of LikesServer0 after a died",
      );
    });
  },
);

async function healthz(port: number): Promise<number> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(1000) });
    await response.body?.cancel();
    return response.status;
  } catch {
    return 0;
  }
}

redisTest(
  "Redis stopped for 3 s mid-run and restarted on its AOF: /healthz is 503 meanwhile, every LikesServer succeeds, nothing lost or doubled",
  async () => {
    await withRedis(async (redis) => {
      const primaries = await startRedisPrimaries(redis, 2);
      const logDir = await tempDir();
      const servers = 4;
      let run: ParentRun;
      const seen = new Set<number>();
      let totalAtRestart = 0;
      try {
        // Long enough that LikesServers are still sending when Redis comes back.
        const { done } = spawnRun(logDir, servers, primaries, { duration: 5000 });
        await untilAcked(logDir, 0);
        await untilAcked(logDir, 1);
        assert.equal((await redis.stop("SIGTERM"))?.code, 0, redis.output());
        const downUntil = Date.now() + 3000;
        while (Date.now() < downUntil) {
          seen.add(await healthz(primaries[0].httpPort));
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        await redis.restart();
        totalAtRestart = await readRedisTotal(redis.url);
        run = await done;
      } finally {
        assert.deepEqual(await stopAll(primaries), [0, 0], primaries.map((p) => p.output()).join("\n"));
      }
      assert.ok(seen.has(503), `/healthz answered ${[...seen]} while Redis was down`);
      assertEverySucceeded(run, servers);
      const logs = await assertExact(redis, logDir, servers, primaries);
      // LikesServers were answered the retryable storage error, and retried until Redis was back.
      assert.ok(
        logs.flat().some((e) => e.kind === "send error" && e.message.includes("1 storage error")),
        "no LikesServer was answered 1 storage error",
      );
      assert.ok(totalAtRestart > 0, "the AOF brought back the likes counted before the stop");
      assert.ok(await readRedisTotal(redis.url) > totalAtRestart, "likes were counted after Redis came back");
    });
  },
);
