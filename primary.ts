/**
 * PrimaryLikesServer: takes like counts from LikesServers over TCP, keeps the
 * running total durable, logs every like with the new total, and answers each
 * message (0 accepted, 1 rejected). Runs until SIGINT or SIGTERM.
 */
import { parseProgramFlags, ProgramError, runProgram, UsageError } from "./lib/common/cli.ts";
import { LogOpenError } from "./lib/common/line_log.ts";
import { Committer } from "./lib/primary/committer.ts";
import { Checkpointer } from "./lib/primary/checkpointer.ts";
import { type HttpServer, startHttp } from "./lib/dashboard/http_server.ts";
import { Health } from "./lib/primary/health.ts";
import { Ledger } from "./lib/primary/ledger.ts";
import { LikesLog } from "./lib/primary/likes_log.ts";
import { formatPrimaryEntry } from "./lib/formats/primary_log.ts";
import {
  isLoopback,
  isLoopbackAddress,
  primaryDefaults,
  primarySpecs,
  probeListenAddress,
  splitAddress,
} from "./lib/primary/options.ts";
import { PrimaryServer } from "./lib/primary/server.ts";
import { readEnvToken } from "./lib/protocol/token.ts";
import { Stats } from "./lib/primary/stats.ts";
import { expireProducers, scheduleExpiry } from "./lib/primary/producer_expiry.ts";
import { recover, type Recovered } from "./lib/primary/replay.ts";
import { Store } from "./lib/primary/store.ts";
import { watchLogFile } from "./lib/primary/log_watch.ts";
import { untilSignal } from "./lib/common/signals.ts";
import { checkGrants } from "./lib/launch/grant_check.ts";
import { checkGrantablePath, primaryGrants } from "./lib/launch/permissions.ts";

const HELP = {
  usage: "deno task primary [flags]",
  description: "PrimaryLikesServer: aggregates like counts from LikesServers into a durable total.",
};

runProgram("primary", async () => {
  const options = parseProgramFlags(Deno.args, HELP, primarySpecs, primaryDefaults);
  if (!options) return 0;
  checkGrantablePath("log", options.log);
  checkGrantablePath("state", options.state);
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

  // Replay first: a log that does not replay stops us before we listen.
  let log: LikesLog;
  try {
    log = LikesLog.open(options.log);
  } catch (error) {
    if (error instanceof LogOpenError) throw new ProgramError(error.message, { cause: error });
    throw error;
  }
  const notes: string[] = [];
  let store: Store, recovered: Recovered;
  const replayStarted = performance.now();
  try {
    store = openCheckpoint(options.state, notes);
    recovered = recover(log, store, options.reset);
  } catch (error) {
    throw new ProgramError((error as Error).message, { cause: error });
  }
  const replayMs = performance.now() - replayStarted;
  const ledger = new Ledger(recovered.total, recovered.producers, { maxProducers: options.maxProducers });
  const stats = new Stats();
  const health = new Health();
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
    throw new ProgramError(`Cannot write to the log ${options.log}: ${(error as Error).message}`, { cause: error });
  }
  // A checkpoint from scratch, so that the next start replays only what follows.
  committer.checkpoint(true);

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
        total: () => ledger.total,
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
    throw new ProgramError(`Cannot listen on ${address}: ${(error as Error).message}`, { cause: error });
  }
  if (tokenRequired && !isLoopbackAddress(addr.hostname)) {
    await server.stop();
    await http?.shutdown();
    store.close();
    log.close();
    throw refuse(addr.hostname);
  }
  // Expired producers are forgotten hourly; the state stays bounded in a long run.
  const stopExpiry = scheduleExpiry(committer, ledger, options.producerTtl);
  const stopWatch = watchLogFile(log, committer, health, options.logCheckEvery);
  // Checkpoints also when no batch comes to trigger one.
  const checkpointTimer = setInterval(
    () => committer.betweenBatches(() => checkpointer.due() && checkpointer.start(committer.lines)),
    options.checkpointEvery,
  );

  console.log(
    `PrimaryLikesServer ready: likes on ${addr.hostname}:${addr.port}` +
      (http ? `, dashboard http://${http.addr.hostname}:${http.addr.port}/` : "") +
      `, total ${ledger.total}, log ${options.log}`,
  );

  const signal = await stopRequested;
  // Stop taking new work, answer what was received, then close the log last.
  await server.stop();
  await http?.shutdown();
  stopExpiry();
  stopWatch();
  clearInterval(checkpointTimer);
  let failure: string | undefined;
  try {
    committer.event(formatPrimaryEntry({ kind: "stopped", signal, total: ledger.total }));
  } catch (error) {
    failure = `could not log the stop: ${(error as Error).message}`;
  }
  if (!committer.checkpoint()) {
    failure ??= `could not write the checkpoint, so the next start replays more log (${health.problem})`;
  }
  store.close();
  log.close();
  if (failure !== undefined) {
    // Every acknowledged like is in the log; only the stop's own bookkeeping failed.
    console.error(
      `PrimaryLikesServer stopped by ${signal}: total ${ledger.total}, every acknowledged like kept, but ${failure}`,
    );
    return 1;
  }
  console.log(`PrimaryLikesServer stopped by ${signal}: total ${ledger.total}`);
  return 0;
});

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
