/**
 * PrimaryLikesServer: takes like counts from LikesServers over TCP, keeps the
 * running total durable, logs every like with the new total, and answers each
 * message (0 accepted, 1 rejected). Runs until SIGINT or SIGTERM.
 */
import { parseProgramFlags, ProgramError, runProgram, UsageError } from "./lib/common/cli.ts";
import { LogOpenError } from "./lib/common/line_log.ts";
import type { Backend } from "./lib/primary/backend/backend.ts";
import { checkBackendOptions, openBackend, usesStateFile } from "./lib/primary/backend/open.ts";
import { type HttpServer, startHttp } from "./lib/dashboard/http_server.ts";
import { Health } from "./lib/primary/health.ts";
import { LikesLog } from "./lib/primary/likes_log.ts";
import { dirname } from "node:path";
import { formatPrimaryEntry } from "./lib/formats/primary_log.ts";
import {
  isLoopback,
  isLoopbackAddress,
  primaryDefaults,
  type PrimaryOptions,
  primarySpecs,
  probeListenAddress,
  splitAddress,
} from "./lib/primary/options.ts";
import { PrimaryServer } from "./lib/primary/server.ts";
import { readEnvToken } from "./lib/protocol/token.ts";
import { Stats } from "./lib/primary/stats.ts";
import { watchLogFile } from "./lib/primary/log_watch.ts";
import { continueEmptyLog } from "./lib/primary/log_start.ts";
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
  try {
    checkBackendOptions(options);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  checkGrantablePath("log", options.log);
  if (usesStateFile(options)) checkGrantablePath("state", options.state);
  // Before anything else (even reading LIKES_TOKEN): a missing grant is the operator's to fix.
  if (!checkGrants("primary", "primary.ts", primaryGrants(options), Deno.args)) return 2;
  const token = options.token ?? readEnvToken();
  // Off loopback a token is required. The name is judged by the address it
  // resolves to: before anything is opened (by a probe), and again by the
  // address actually bound, since a name may resolve differently the next time.
  const tokenRequired = token === undefined && !options.insecure;
  const refuse = (host: string, address: string | undefined, what = "listen") =>
    new UsageError(
      `Refusing to ${what} on ${host}${
        address && address !== host ? ` (${address})` : ""
      } without a token: set --token or LIKES_TOKEN, or pass --insecure`,
    );
  // The dashboard is judged the same way: off loopback it asks for the token too.
  const dashboard = options.http === "off" ? undefined : splitAddress(options.http);
  const dashboardOffLoopback = dashboard !== undefined && offLoopback(dashboard.hostname, dashboard.port);
  if (tokenRequired) {
    if (offLoopback(options.host, options.port)) throw refuse(options.host, probedAddress(options.host, options.port));
    if (dashboardOffLoopback) {
      throw refuse(dashboard.hostname, probedAddress(dashboard.hostname, dashboard.port), "serve the dashboard");
    }
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
  try {
    const note = continueEmptyLog(log);
    if (note !== undefined) console.error(`primary: ${note}`);
  } catch (error) {
    log.close();
    throw new ProgramError(`Cannot continue the rotated log: ${(error as Error).message}`, { cause: error });
  }
  const stats = new Stats();
  const health = new Health();
  let store: Backend;
  try {
    store = await openBackend(options, { log, stats, health });
  } catch (error) {
    log.close();
    throw error instanceof ProgramError ? error : new ProgramError((error as Error).message, { cause: error });
  }
  const { committer } = store;
  if (options.durability === "fsync" && !log.canSyncDirectory()) {
    // Said once at start: past this point the power-loss promise leans on the filesystem.
    const directory = dirname(options.log);
    console.error(
      `primary: fsync mode: the log's directory ${directory} is not granted for reading, so it is not synced after ` +
        `a rotation; the renames and the new file's name rely on the filesystem's journal (ext4, xfs) to survive a ` +
        `power loss (grant --allow-read=${directory} to sync it)`,
    );
  }
  if (options.adoptRedisStore) {
    // The recovery step is all this run does: the operator starts the primaries as usual afterwards.
    const failure = await store.close("adopted");
    log.close();
    if (failure !== undefined) throw new ProgramError(`Adopted the Redis store, but ${failure}`);
    console.log(`PrimaryLikesServer adopted the Redis store ${options.store}: total ${store.total()}`);
    return 0;
  }

  const server = new PrimaryServer(committer, stats, { ...options, token });
  let addr: Deno.NetAddr, http: HttpServer | undefined;
  let address = `${options.host}:${options.port}`;
  try {
    addr = server.listen();
    address = options.http;
    if (options.http !== "off") {
      http = await startDashboard(options, store, server, stats, health, dashboardOffLoopback ? token : undefined);
    }
  } catch (error) {
    // A port in use is an operator's mistake, not a bug: one line, not a stack trace.
    await store.close("not started");
    log.close();
    throw new ProgramError(`Cannot listen on ${address}: ${(error as Error).message}`, { cause: error });
  }
  // Again by the addresses bound, since a name may resolve differently the second time.
  const bound = tokenRequired && !isLoopbackAddress(addr.hostname)
    ? refuse(options.host, addr.hostname)
    : http && !isLoopbackAddress(http.addr.hostname) && !dashboardOffLoopback && !options.insecure
    ? refuse(options.http, http.addr.hostname, "serve the dashboard")
    : undefined;
  if (bound) {
    await server.stop();
    await http?.shutdown();
    await store.close("not started");
    log.close();
    throw bound;
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
  return await finish(signal, store, log);
});

/** The dashboard on --http, reading the primary's counters and the backend's total. */
/** Whether `host` is, or resolves to, an address off loopback (probed by binding `port`). */
function offLoopback(host: string, port: number): boolean {
  if (!isLoopback(host)) return true;
  const probed = probeListenAddress(host, port);
  return probed !== undefined && !isLoopbackAddress(probed);
}

function probedAddress(host: string, port: number): string | undefined {
  return isLoopback(host) ? probeListenAddress(host, port) : undefined;
}

function startDashboard(
  options: PrimaryOptions,
  store: Backend,
  server: PrimaryServer,
  stats: Stats,
  health: Health,
  token: string | undefined,
): Promise<HttpServer> {
  const { hostname, port } = splitAddress(options.http);
  return startHttp(hostname, port, {
    stats,
    total: store.total,
    share: store.share,
    accepting: () => server.accepting,
    problem: () => health.problem,
  }, {
    maxConnections: options.httpMaxConnections,
    headerTimeout: options.httpHeaderTimeout,
    idleTimeout: options.httpIdleTimeout,
    token,
  });
}

/** Once nothing is taken or pending: the stop line, the backend's close, the log's; the exit code. */
async function finish(signal: string, store: Backend, log: LikesLog): Promise<number> {
  let failure: string | undefined;
  try {
    store.committer.event(formatPrimaryEntry({ kind: "stopped", signal, total: store.total() }));
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
}
