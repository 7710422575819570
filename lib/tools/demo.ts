/**
 * The demo: a primary and a parent with the mission's defaults (or the flags
 * given), the live total while they run, and the audit when the parent is done.
 */
import { parentFlags, type ParentOptions } from "../supervisor/options.ts";
import { auditGrants, denoCommand, launchArgs, parentGrants, primaryGrants } from "../launch/permissions.ts";
import { primaryDefaults, primarySpecs } from "../primary/options.ts";
import { ProgramError, toFlags } from "../common/cli.ts";
import { auditSpecs } from "./audit_options.ts";
import { parseRedisUrl } from "../primary/backend/redis/store.ts";
import { type LaunchedPrimary, launchPrimary } from "../launch/primary_process.ts";
import { sleep } from "../common/sleep.ts";
import { type RedisServer, redisServerMissing, startRedisServer } from "../launch/redis_server.ts";
import { formatPrimaries } from "../producer/options.ts";
import { demoRedisDir } from "../launch/permissions.ts";
import { formatDuration } from "../common/duration.ts";
import { textLines } from "../common/text_lines.ts";
import { likesServerLogPath, primaryLogPath, primaryStatePath, statusLogPath } from "../formats/file_names.ts";

export interface DemoOptions extends ParentOptions {
  /** Dashboard address. @default {"127.0.0.1:4243"} */
  http: string;
  /** Several primaries on one local Redis instead of one primary on its embedded store. @default {false} */
  redis: boolean;
  /** With --redis: how many primaries share the Redis. @default {2} */
  primaryCount: number;
  /** How often the status line updates in place on a terminal (ms). @default {1000} */
  refreshEvery: number;
  /** How often a status line is printed when stdout is not a terminal (ms). @default {5000} */
  statusEvery: number;
}

/** What the demo's status line shows. */
export interface DemoStatus {
  /** The primary's total; undefined while its dashboard does not answer. */
  total: number | undefined;
  /** Likes counted per second since the previous sample; undefined without two samples. */
  likesPerSecond: number | undefined;
  /** LikesServers started and not yet ended. */
  running: number;
  servers: number;
  /** Until the last LikesServer is due to end (ms). */
  msLeft: number;
}

/** One status line: `Total 1234  56 likes/s  3/10 LikesServers running  4m12s left`. */
export function formatStatus(status: DemoStatus): string {
  const total = status.total ?? "?";
  const rate = status.likesPerSecond === undefined ? "?" : Math.round(status.likesPerSecond);
  // Whole seconds: a status line that ticks in milliseconds is noise.
  const left = status.msLeft <= 0 ? "0s" : formatDuration(Math.ceil(status.msLeft / 1000) * 1000);
  return `Total ${total}  ${rate} likes/s  ${status.running}/${status.servers} LikesServers running  ${left} left`;
}

/**
 * How a ParentProcessStatus line (the parent echoes each on stdout) changes
 * the set of running LikesServers: +id when one started, -id when it ended.
 */
export function runningChange(line: string): { id: number; started: boolean } | undefined {
  const match = /^\S+ LikesServer(\d+) (started pid=|ended |could not be started)/.exec(line);
  return match ? { id: Number(match[1]), started: match[2] === "started pid=" } : undefined;
}

/** Samples the primary's total; the rate is taken between consecutive samples. */
class StatusSampler {
  #last: { total: number; at: number } | undefined;

  constructor(readonly url: string) {}

  async sample(): Promise<Pick<DemoStatus, "total" | "likesPerSecond">> {
    try {
      const stats = await (await fetch(this.url)).json();
      const total = Number(stats.total), at = Number(stats.now);
      const last = this.#last;
      this.#last = { total, at };
      const likesPerSecond = last && at > last.at ? (total - last.total) * 1000 / (at - last.at) : undefined;
      return { total, likesPerSecond };
    } catch {
      // The dashboard is optional for the demo (--http off).
      return { total: undefined, likesPerSecond: undefined };
    }
  }
}

export async function runDemo(options: DemoOptions, stop: AbortSignal): Promise<number> {
  if (options.redis) return await runRedisDemo(options, stop);
  const deno = denoCommand();
  // The primary's settings the demo chooses; the rest are the primary's defaults.
  const chosen = {
    maxLikes: options.maxLikes,
    host: options.host,
    port: options.port,
    http: options.http,
    log: primaryLogPath(options.logDir),
    state: primaryStatePath(options.logDir),
  };
  const primaryOptions = { ...primaryDefaults, ...chosen };
  let primary: LaunchedPrimary;
  try {
    primary = await launchPrimary({
      args: toFlags(primarySpecs, chosen),
      grants: primaryGrants(primaryOptions),
      deno,
      deadlineMs: 30_000,
      // The primary's errors reach the terminal as it prints them.
      stderr: "inherit",
    });
  } catch (error) {
    throw new ProgramError(`The primary did not start: ${(error as Error).message}`, { cause: error });
  }
  console.log(`Primary ready: likes on ${options.host}:${primary.port}, total ${primary.total}`);
  console.log(`Dashboard:  http://${options.http}/`);
  console.log(
    `Logs:       ${primaryOptions.log}, ${likesServerLogPath(options.logDir, 0)}..${options.servers - 1}, ${
      statusLogPath(options.logDir)
    }`,
  );
  console.log(`Watch:      tail -f ${primaryOptions.log}`);

  const parentStarted = Date.now();
  const parent = new Deno.Command(deno, {
    args: launchArgs("parent.ts", parentGrants(options), parentFlags(options)),
    stdin: "null",
    stdout: "piped",
  }).spawn();
  const onStop = () => parent.kill("SIGTERM");
  stop.addEventListener("abort", onStop, { once: true });

  // Which LikesServers run, from the status lines the parent echoes.
  const running = new Set<number>();
  const following = (async () => {
    for await (const line of textLines(parent.stdout)) {
      const change = runningChange(line);
      if (change) change.started ? running.add(change.id) : running.delete(change.id);
    }
  })();

  // The status line: in place on a terminal, a plain line every few seconds on a pipe.
  const terminal = Deno.stdout.isTerminal();
  const lastEnds = parentStarted + (options.servers - 1) * options.stagger + options.duration;
  const sampler = new StatusSampler(`http://${options.http}/api/stats`);
  const parentDone = new AbortController();
  const live = (async () => {
    do {
      const line = formatStatus({
        ...await sampler.sample(),
        running: running.size,
        servers: options.servers,
        msLeft: lastEnds - Date.now(),
      });
      // \x1b[2K clears what a longer previous line left.
      if (terminal) Deno.stdout.writeSync(new TextEncoder().encode(`\r\x1b[2K${line}`));
      else console.log(line);
    } while (await sleep(terminal ? options.refreshEvery : options.statusEvery, parentDone.signal));
  })();
  const parentStatus = await parent.status;
  stop.removeEventListener("abort", onStop);
  parentDone.abort();
  await Promise.all([live, following]);
  console.log(`${terminal ? "\n" : ""}ParentProcess exited with status ${parentStatus.code}; stopping the primary`);
  await primary.stop("SIGTERM");
  const final = /stopped by \w+: total (\d+)/.exec(primary.output());
  if (final) console.log(`Final total: ${final[1]}`);

  const audit = await new Deno.Command(deno, {
    args: launchArgs("audit.ts", auditGrants(options), toFlags(auditSpecs, options)),
    stdin: "null",
  }).spawn().status;
  return parentStatus.code === 0 && audit.code === 0 ? 0 : 1;
}

/**
 * Refuses the Redis demo where redis-server is not installed. Checked before
 * the grant check: without redis-server on PATH, a grant for it cannot help,
 * and installing it is the step to name.
 *
 * @throws {ProgramError} When redis-server is not on PATH or does not run
 */
export async function checkRedisServer(): Promise<void> {
  let missing: string | undefined;
  try {
    missing = await redisServerMissing();
  } catch (error) {
    // Installed but not granted: the grant check names the grant.
    if (error instanceof Deno.errors.NotCapable) return;
    throw error;
  }
  if (missing) throw new ProgramError(`Cannot run the Redis demo: ${missing}`);
}

/**
 * The demo of several primaries on one Redis: a local redis-server from PATH
 * (append-only file on), `primaryCount` primaries with `--store redis://…` on
 * ephemeral ports (the first one serves the dashboard), and a parent with
 * `--primaries`. Kill one primary (its pid is printed) to watch failover.
 */
async function runRedisDemo(options: DemoOptions, stop: AbortSignal): Promise<number> {
  const deno = denoCommand();
  const dir = demoRedisDir(options.logDir);
  let redis: RedisServer;
  try {
    await Deno.mkdir(dir, { recursive: true });
    redis = await startRedisServer({ dir, appendonly: true, appendfsync: "everysec" });
  } catch (error) {
    throw new ProgramError(`redis-server did not start: ${(error as Error).message}`, { cause: error });
  }
  console.log(`Redis ready: ${redis.url} (append-only file in ${dir})`);
  const primaries: LaunchedPrimary[] = [];
  const logs: string[] = [];
  try {
    for (let i = 0; i < options.primaryCount; i++) {
      const log = primaryLogPath(options.logDir, i);
      const http = i === 0 ? options.http : "off";
      // Port 0 changes every start: the id names the primary's journal across restarts.
      const flags = {
        host: options.host,
        port: 0,
        http,
        log,
        state: primaryStatePath(options.logDir, i),
        maxLikes: options.maxLikes,
        store: redis.url,
        primaryId: `demo-primary-${i}`,
      };
      try {
        primaries.push(
          await launchPrimary({
            args: toFlags(primarySpecs, flags),
            grants: primaryGrants(flags),
            deno,
            deadlineMs: 30_000,
            stderr: "inherit",
          }),
        );
      } catch (error) {
        throw new ProgramError(`Primary ${i} did not start: ${(error as Error).message}`, { cause: error });
      }
      logs.push(log);
      const primary = primaries[i];
      console.log(
        `Primary ${i} ready: likes on ${options.host}:${primary.port}, pid ${primary.process.pid}, log ${log}`,
      );
    }
    const addresses = primaries.map((p) => ({ host: options.host, port: p.port }));
    const parentOptions = { ...options, primaries: addresses };
    console.log(`Dashboard:  http://${options.http}/ (primary 0: the shared total and its share)`);
    console.log(
      `Failover:   kill -9 ${primaries[primaries.length - 1].process.pid} and watch its LikesServers move on`,
    );
    console.log(`Parent:     --primaries ${formatPrimaries(addresses)}`);

    const parent = new Deno.Command(deno, {
      args: launchArgs("parent.ts", parentGrants(options), parentFlags(parentOptions)),
      stdin: "null",
      stdout: "null",
    }).spawn();
    const onStop = () => parent.kill("SIGTERM");
    stop.addEventListener("abort", onStop, { once: true });
    const parentStatus = await parent.status;
    stop.removeEventListener("abort", onStop);
    console.log(`ParentProcess exited with status ${parentStatus.code}; stopping the primaries`);
    for (const primary of primaries.splice(0)) await primary.stop("SIGTERM");

    const auditOptions = {
      logDir: options.logDir,
      servers: options.servers,
      primaryLog: logs,
      store: { ...parseRedisUrl(redis.url), url: redis.url },
    };
    const audit = await new Deno.Command(deno, {
      args: launchArgs("audit.ts", auditGrants(auditOptions), toFlags(auditSpecs, auditOptions)),
      stdin: "null",
    }).spawn().status;
    return parentStatus.code === 0 && audit.code === 0 ? 0 : 1;
  } finally {
    for (const primary of primaries) await primary.stop("SIGTERM");
    await redis.stop("SIGTERM");
  }
}
