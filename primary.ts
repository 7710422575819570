/**
 * PrimaryLikesServer: takes like counts from LikesServers over TCP, keeps the
 * running total durable, logs every like with the new total, and answers each
 * message (0 accepted, 1 rejected). Runs until SIGINT or SIGTERM.
 */
import { parseProgramFlags, ProgramError, runProgram, UsageError } from "./lib/common/cli.ts";
import { LogOpenError } from "./lib/common/line_log.ts";
import { Committer } from "./lib/primary/backend/embedded/committer.ts";
import type { CommitPath } from "./lib/primary/backend/backend.ts";
import { Checkpointer } from "./lib/primary/backend/embedded/checkpointer.ts";
import { type HttpServer, startHttp } from "./lib/dashboard/http_server.ts";
import { Health } from "./lib/primary/health.ts";
import { Ledger } from "./lib/primary/ledger.ts";
import { LikesLog } from "./lib/primary/likes_log.ts";
import { formatPrimaryEntry } from "./lib/formats/primary_log.ts";
import {
  EMBEDDED_STORE,
  isLoopback,
  isLoopbackAddress,
  primaryDefaults,
  primaryIdOf,
  type PrimaryOptions,
  primarySpecs,
  probeListenAddress,
  splitAddress,
} from "./lib/primary/options.ts";
import { PrimaryServer } from "./lib/primary/server.ts";
import { readEnvToken } from "./lib/protocol/token.ts";
import { Stats } from "./lib/primary/stats.ts";
import { expireProducers, scheduleExpiry } from "./lib/primary/backend/embedded/producer_expiry.ts";
import { recover, type Recovered } from "./lib/primary/backend/embedded/replay.ts";
import { Store } from "./lib/primary/backend/embedded/store.ts";
import { watchLogFile } from "./lib/primary/log_watch.ts";
import { untilSignal } from "./lib/common/signals.ts";
import { checkGrants } from "./lib/launch/grant_check.ts";
import { checkGrantablePath, primaryGrants } from "./lib/launch/permissions.ts";
import type { RedisCommitter } from "./lib/primary/backend/redis/committer.ts";

const HELP = {
  usage: "deno task primary [flags]",
  description: "PrimaryLikesServer: aggregates like counts from LikesServers into a durable total.",
};

runProgram("primary", async () => {
  const options = parseProgramFlags(Deno.args, HELP, primarySpecs, primaryDefaults);
  if (!options) return 0;
  const onRedis = options.store !== EMBEDDED_STORE;
  let primaryId = "";
  if (onRedis) {
    try {
      primaryId = primaryIdOf(options);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (options.reset) {
      throw new UsageError("--reset cannot be used with --store redis://…: the total is shared with other primaries");
    }
  }
  checkGrantablePath("log", options.log);
  if (!onRedis) checkGrantablePath("state", options.state);
  // Before anything else (even reading LIKES_TOKEN): a missing grant is the operator's to fix.
  if (!checkGrants("primary", "primary.ts", primaryGrants(options), Deno.args)) return 2;
  const token = options.token ?? readEnvToken();
  // Off loopback a token is required. The name is judged by the address it
  // resolves to: before anything is opened (by a probe), and again by the
  // address actually bound, since a name may resolve differently the next time.
  const tokenRequired = token === undefined && !options.insecure;
  const refuse = (address: string | undefined) =>
    new UsageError(
      `Refusing to listen on ${options.host}${
        address && address !== options.host ? ` (${address})` : ""
      } without a token: set --token or LIKES_TOKEN, or pass --insecure`,
    );
  if (tokenRequired) {
    if (!isLoopback(options.host)) throw refuse(undefined);
    const probed = probeListenAddress(options.host, options.port);
    if (probed !== undefined && !isLoopbackAddress(probed)) throw refuse(probed);
  }

  // Caught from here on: a SIGTERM that arrives while we start (or just after the
  // ready line) is a clean stop once started, never the default kill (exit 143).
  const stopRequested = untilSignal();

  // A log that cannot be opened, a state that does not replay or a store
  // that cannot be used stops us before we listen.
  let log: LikesLog;
  try {
    log = LikesLog.open(options.log);
  } catch (error) {
    if (error instanceof LogOpenError) throw new ProgramError(error.message, { cause: error });
    throw error;
  }
  const stats = new Stats();
  const health = new Health();
  let store: OpenStore;
  try {
    store = onRedis
      ? await openRedisStore(options, primaryId, log, stats, health)
      : openEmbeddedStore(options, log, stats, health);
  } catch (error) {
    log.close();
    throw error instanceof ProgramError ? error : new ProgramError((error as Error).message, { cause: error });
  }
  const { committer } = store;

  const server = new PrimaryServer(committer, stats, { ...options, token });
  let addr: Deno.NetAddr, http: HttpServer | undefined;
  let address = `${options.host}:${options.port}`;
  try {
    addr = server.listen();
    address = options.http;
    if (options.http !== "off") {
      const { hostname, port } = splitAddress(options.http);
      http = await startHttp(hostname, port, {
        stats,
        total: store.total,
        share: store.share,
        accepting: () => server.accepting,
        problem: () => health.problem,
      }, {
        maxConnections: options.httpMaxConnections,
        headerTimeout: options.httpHeaderTimeout,
        idleTimeout: options.httpIdleTimeout,
      });
    }
  } catch (error) {
    // A port in use is an operator's mistake, not a bug: one line, not a stack trace.
    await store.close("not started");
    log.close();
    throw new ProgramError(`Cannot listen on ${address}: ${(error as Error).message}`, { cause: error });
  }
  if (tokenRequired && !isLoopbackAddress(addr.hostname)) {
    await server.stop();
    await http?.shutdown();
    await store.close("not started");
    log.close();
    throw refuse(addr.hostname);
  }
  // Timers: the store's own (checkpoints and expiry, or the Redis claim and
  // total) and the check that the log file is still where it was.
  const stopStoreWork = store.serve();
  const stopWatch = watchLogFile(log, committer, health, options.logCheckEvery);

  console.log(
    `PrimaryLikesServer ready: likes on ${addr.hostname}:${addr.port}` +
      (http ? `, dashboard http://${http.addr.hostname}:${http.addr.port}/` : "") +
      `, total ${store.total()}, log ${options.log}`,
  );

  const signal = await stopRequested;
  // Stop taking new work, answer what was received, then close the log last.
  await server.stop();
  await http?.shutdown();
  stopStoreWork();
  stopWatch();
  let failure: string | undefined;
  try {
    committer.event(formatPrimaryEntry({ kind: "stopped", signal, total: store.total() }));
  } catch (error) {
    failure = `could not log the stop: ${(error as Error).message}`;
  }
  failure = await store.close(signal) ?? failure;
  log.close();
  if (failure !== undefined) {
    // Every acknowledged like is in the log; only the stop's own bookkeeping failed.
    console.error(
      `PrimaryLikesServer stopped by ${signal}: total ${store.total()}, every acknowledged like kept, but ${failure}`,
    );
    return 1;
  }
  console.log(`PrimaryLikesServer stopped by ${signal}: total ${store.total()}`);
  return 0;
});

/** Where the total and the dedupe state live, as the rest of the program uses it. */
interface OpenStore {
  committer: CommitPath;
  /** The total: this primary's own, or the shared total as last heard from Redis. */
  total: () => number;
  /** Likes this primary accepted, when it shares the total with others. */
  share?: () => number;
  /** Starts the store's timers; returns their stop. */
  serve(): () => void;
  /** After the stop line: the store's own bookkeeping; says what failed, if anything. */
  close(signal: string): Promise<string | undefined>;
}

/**
 * The embedded store: the log is the commit record, replayed at start-up
 * (from the SQLite checkpoint on), with the running totals checked line by line.
 */
function openEmbeddedStore(options: PrimaryOptions, log: LikesLog, stats: Stats, health: Health): OpenStore {
  const notes: string[] = [];
  const replayStarted = performance.now();
  const store = openCheckpoint(options.state, notes);
  const recovered: Recovered = recover(log, store, options.reset);
  const replayMs = performance.now() - replayStarted;
  const ledger = new Ledger(recovered.total, recovered.producers, { maxProducers: options.maxProducers });
  const checkpointer = new Checkpointer(store, log, ledger, health, {
    every: options.checkpointEvery,
    bytes: options.checkpointBytes,
    durability: options.durability,
  });
  const committer = new Committer(ledger, log, stats, {
    durability: options.durability,
    commitDelay: options.commitDelay,
    checkpointer,
    health,
    lines: recovered.position.lines,
  });
  try {
    for (const note of [...notes, ...recovered.notes]) {
      console.error(`primary: ${note}`);
      committer.event(note);
    }
    expireProducers(ledger, options.producerTtl);
    const how = recovered.fromCheckpoint
      ? `checkpoint at line ${recovered.position.lines - recovered.replayed}, then ${recovered.replayed} log lines`
      : `${recovered.replayed} log lines`;
    committer.event(`Replayed ${how} in ${replayMs.toFixed(0)} ms`);
    committer.event(formatPrimaryEntry(
      options.reset
        ? { kind: "reset", state: options.state }
        : { kind: "recovered", total: ledger.total, state: options.state },
    ));
  } catch (error) {
    store.close();
    throw new ProgramError(`Cannot write to the log ${options.log}: ${(error as Error).message}`, { cause: error });
  }
  // A checkpoint from scratch, so that the next start replays only what follows.
  committer.checkpoint(true);
  return {
    committer,
    total: () => ledger.total,
    serve() {
      // Expired producers are forgotten hourly; the state stays bounded in a long run.
      const stopExpiry = scheduleExpiry(committer, ledger, options.producerTtl);
      // Checkpoints also when no batch comes to trigger one.
      const checkpointTimer = setInterval(
        () => committer.betweenBatches(() => checkpointer.due() && checkpointer.start(committer.lines)),
        options.checkpointEvery,
      );
      return () => {
        stopExpiry();
        clearInterval(checkpointTimer);
      };
    },
    close() {
      const failure = committer.checkpoint()
        ? undefined
        : `could not write the checkpoint, so the next start replays more log (${health.problem})`;
      store.close();
      return Promise.resolve(failure);
    },
  };
}

/**
 * The Redis store: Redis is the commit point, shared with other primaries;
 * the log is this primary's record of what it acknowledged. At start-up the
 * batches Redis committed for it that the log lacks (it died between the two)
 * are written from its journal. No running-total check: the totals jump where
 * other primaries counted (the audit checks across all logs).
 */
async function openRedisStore(
  options: PrimaryOptions,
  primaryId: string,
  log: LikesLog,
  stats: Stats,
  health: Health,
): Promise<OpenStore> {
  const started = performance.now();
  // Loaded only on Redis: the client costs an embedded primary's start-up about a quarter second.
  const { RedisStore } = await import("./lib/primary/backend/redis/store.ts");
  const { crashAfterCommitRequested, readLogTail, RedisCommitter } = await import(
    "./lib/primary/backend/redis/committer.ts"
  );
  const { claimPrimaryId, keepClaim } = await import("./lib/primary/backend/redis/claim.ts");
  const redis = await RedisStore.open({
    url: options.store,
    primaryId,
    producerTtlMs: options.producerTtl,
    durability: options.durability,
    allowVolatile: options.allowVolatileStore,
    commandTimeoutMs: options.redisTimeout,
    connectTimeoutMs: options.redisTimeout,
  });
  const claim = crypto.randomUUID();
  let committer: RedisCommitter;
  try {
    await claimPrimaryId(redis, claim, options.redisLease);
    const tail = readLogTail(log);
    committer = new RedisCommitter(redis, log, stats, {
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
      return undefined;
    },
  };
}

/**
 * Opens the checkpoint; one that is not a database at all is started afresh
 * (the log holds everything), and a note says so.
 */
function openCheckpoint(path: string, notes: string[]): Store {
  try {
    return Store.open(path);
  } catch (error) {
    if (!Store.isDamaged(error)) throw error;
    Deno.truncateSync(path);
    notes.push(`The checkpoint ${path} was not a readable database and was emptied: ${(error as Error).message}`);
    return Store.open(path);
  }
}
