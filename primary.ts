/**
 * PrimaryLikesServer: takes like counts from LikesServers over TCP, keeps the
 * running total durable, logs every like with the new total, and answers each
 * message (0 accepted, 1 rejected). Runs until SIGINT or SIGTERM.
 */
import { parseProgramFlags, ProgramError, runProgram, UsageError } from "./lib/common/cli.ts";
import { LogOpenError } from "./lib/common/line_log.ts";
import { Committer } from "./lib/primary/committer.ts";
import { type HttpServer, startHttp } from "./lib/dashboard/http_server.ts";
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
import { Store, StoreError } from "./lib/primary/store.ts";
import { refuseSilentReset } from "./lib/primary/state_guard.ts";
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

  // Open the state first: a state we cannot trust stops us before we listen.
  let store: Store, log: LikesLog;
  try {
    refuseSilentReset(options.state, options.log, options.reset);
    store = Store.open(options.state, { durability: options.durability, reset: options.reset });
    log = LikesLog.open(options.log);
  } catch (error) {
    if (error instanceof StoreError || error instanceof LogOpenError) {
      throw new ProgramError(error.message, { cause: error });
    }
    throw error;
  }
  const repair = log.recover(store.logMark);
  const ledger = new Ledger(store.total, store.takeProducers(), { maxProducers: options.maxProducers });
  const stats = new Stats();
  const committer = new Committer(ledger, store, log, stats, { durability: options.durability });
  if (repair) committer.event(repair);
  // Forgotten in the store too: otherwise every start-up would load and expire them again.
  expireProducers(ledger, store, options.producerTtl);
  committer.event(formatPrimaryEntry(
    options.reset
      ? { kind: "reset", state: options.state }
      : { kind: "recovered", total: ledger.total, state: options.state },
  ));

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
        storeHealthy: () => store.healthy,
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
  const stopExpiry = scheduleExpiry(ledger, store, options.producerTtl);

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
  committer.event(formatPrimaryEntry({ kind: "stopped", signal, total: ledger.total }));
  store.close();
  log.close();
  console.log(`PrimaryLikesServer stopped by ${signal}: total ${ledger.total}`);
  return 0;
});
