/**
 * The demo: a primary and a parent with the mission's defaults (or the flags
 * given), the live total while they run, and the audit when the parent is done.
 */
import { parentFlags, type ParentOptions } from "../supervisor/options.ts";
import { auditGrants, denoCommand, launchArgs, parentGrants, primaryGrants } from "../launch/permissions.ts";
import { primaryDefaults } from "../primary/options.ts";
import { type LaunchedPrimary, launchPrimary } from "../launch/primary_process.ts";
import { sleep } from "../common/sleep.ts";
import { type RedisServer, redisServerMissing, startRedisServer } from "../launch/redis_server.ts";
import { formatPrimaries } from "../producer/options.ts";
import { demoRedisDir, netAddress } from "../launch/permissions.ts";

export interface DemoOptions extends ParentOptions {
  /** Dashboard address. @default {"127.0.0.1:4243"} */
  http: string;
  /** Several primaries on one local Redis instead of one primary on its embedded store. @default {false} */
  redis: boolean;
  /** With --redis: how many primaries share the Redis. @default {2} */
  primaryCount: number;
}

export async function runDemo(options: DemoOptions, stop: AbortSignal): Promise<number> {
  if (options.redis) return await runRedisDemo(options, stop);
  const deno = denoCommand();
  const primaryOptions = {
    ...primaryDefaults,
    host: options.host,
    port: options.port,
    http: options.http,
    log: `${options.logDir}/PrimaryLikesLog`,
    state: `${options.logDir}/PrimaryLikes.db`,
  };
  let primary: LaunchedPrimary;
  try {
    primary = await launchPrimary({
      args: [
        "--host",
        primaryOptions.host,
        "--port",
        String(primaryOptions.port),
        "--http",
        primaryOptions.http,
        "--log",
        primaryOptions.log,
        "--state",
        primaryOptions.state,
        "--max-likes",
        String(options.maxLikes),
      ],
      grants: primaryGrants(primaryOptions),
      deno,
      deadlineMs: 30_000,
      // The primary's errors reach the terminal as it prints them.
      stderr: "inherit",
    });
  } catch (error) {
    console.error(`demo: The primary did not start: ${(error as Error).message}`);
    return 1;
  }
  console.log(`Primary ready: likes on ${options.host}:${primary.port}, total ${primary.total}`);
  console.log(`Dashboard:  http://${options.http}/`);
  console.log(
    `Logs:       ${primaryOptions.log}, ${options.logDir}/LikesServer0..${
      options.servers - 1
    }, ${options.logDir}/ParentProcessStatus`,
  );
  console.log(`Watch:      tail -f ${primaryOptions.log}`);

  const parent = new Deno.Command(deno, {
    args: launchArgs("parent.ts", parentGrants(options), parentFlags(options)),
    stdin: "null",
    stdout: "null",
  }).spawn();
  const onStop = () => parent.kill("SIGTERM");
  stop.addEventListener("abort", onStop, { once: true });

  // The live total, read from the primary's own stats.
  let running = true;
  const live = (async () => {
    while (running) {
      try {
        const stats = await (await fetch(`http://${options.http}/api/stats`)).json();
        const line = `Total ${stats.total}  (${stats.accepted} messages, ${stats.connectionsOpen} connected)`;
        Deno.stdout.isTerminal() ? Deno.stdout.writeSync(new TextEncoder().encode(`\r${line}   `)) : console.log(line);
      } catch { /* the dashboard is optional for the demo */ }
      await sleep(Deno.stdout.isTerminal() ? 1000 : 5000);
    }
  })();
  const parentStatus = await parent.status;
  stop.removeEventListener("abort", onStop);
  running = false;
  await live;
  console.log(`\nParentProcess exited with status ${parentStatus.code}; stopping the primary`);
  await primary.stop("SIGTERM");
  const final = /stopped by \w+: total (\d+)/.exec(primary.output());
  if (final) console.log(`Final total: ${final[1]}`);

  const audit = await new Deno.Command(deno, {
    args: launchArgs("audit.ts", auditGrants({ logDir: options.logDir, servers: options.servers }), [
      "--log-dir",
      options.logDir,
      "--servers",
      String(options.servers),
    ]),
    stdin: "null",
  }).spawn().status;
  return parentStatus.code === 0 && audit.code === 0 ? 0 : 1;
}

/**
 * The demo of several primaries on one Redis: a local redis-server from PATH
 * (append-only file on), `primaryCount` primaries with `--store redis://…` on
 * ephemeral ports (the first one serves the dashboard), and a parent with
 * `--primaries`. Kill one primary (its pid is printed) to watch failover.
 */
async function runRedisDemo(options: DemoOptions, stop: AbortSignal): Promise<number> {
  const missing = await redisServerMissing();
  if (missing) {
    console.error(`demo: Cannot run the Redis demo: ${missing}`);
    return 1;
  }
  const deno = denoCommand();
  const dir = demoRedisDir(options.logDir);
  let redis: RedisServer;
  try {
    await Deno.mkdir(dir, { recursive: true });
    redis = await startRedisServer({ dir, appendonly: true, appendfsync: "everysec" });
  } catch (error) {
    console.error(`demo: redis-server did not start: ${(error as Error).message}`);
    return 1;
  }
  console.log(`Redis ready: ${redis.url} (append-only file in ${dir})`);
  const primaries: LaunchedPrimary[] = [];
  const logs: string[] = [];
  try {
    for (let i = 0; i < options.primaryCount; i++) {
      const log = `${options.logDir}/PrimaryLikesLog${i}`;
      const http = i === 0 ? options.http : "off";
      const grants = primaryGrants({
        host: options.host,
        port: 0,
        http,
        log,
        state: `${options.logDir}/PrimaryLikes${i}.db`,
      });
      grants.net!.push(netAddress("127.0.0.1", redis.port));
      try {
        primaries.push(
          await launchPrimary({
            args: [
              ...["--host", options.host, "--port", "0", "--http", http, "--log", log],
              ...["--store", redis.url, "--max-likes", String(options.maxLikes)],
            ],
            grants,
            deno,
            deadlineMs: 30_000,
            stderr: "inherit",
          }),
        );
      } catch (error) {
        console.error(`demo: Primary ${i} did not start: ${(error as Error).message}`);
        return 1;
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

    const audit = await new Deno.Command(deno, {
      args: launchArgs(
        "audit.ts",
        auditGrants({
          logDir: options.logDir,
          servers: options.servers,
          primaryLog: logs,
          store: { host: "127.0.0.1", port: redis.port },
        }),
        [
          ...["--log-dir", options.logDir, "--servers", String(options.servers)],
          ...["--primary-log", logs.join(","), "--store", redis.url],
        ],
      ),
      stdin: "null",
    }).spawn().status;
    return parentStatus.code === 0 && audit.code === 0 ? 0 : 1;
  } finally {
    for (const primary of primaries) await primary.stop("SIGTERM");
    await redis.stop("SIGTERM");
  }
}
